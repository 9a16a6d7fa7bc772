"""The key layout: which models produced the two parts of a context key, and their sizes."""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KEY_LAYOUT_VERSION", "KeyLayout"]

KEY_LAYOUT_VERSION = 1


class KeyLayout(BaseModel):
    """Describes a context key: ``text part (text_dim) ⊕ image part (image_dim)``, unit norm.

    A store remembers the layout it was built with and refuses keys of any other layout, because
    cosine similarities between keys of different models are meaningless.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text_model: Annotated[str, Field(min_length=1)]
    text_dim: Annotated[int, Field(gt=0)]
    image_model: Annotated[str, Field(min_length=1)]
    image_dim: Annotated[int, Field(ge=0)]
    version: int = KEY_LAYOUT_VERSION

    @property
    def dim(self) -> int:
        return self.text_dim + self.image_dim

    @property
    def id(self) -> str:
        """A short stable id, safe in file names, Redis key prefixes and index names."""
        raw = (
            f"v{self.version}|{self.text_model}|{self.text_dim}|{self.image_model}|{self.image_dim}"
        )
        return f"kl{self.version}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        return (
            f"{self.id}: text {self.text_model} ({self.text_dim}-d) ⊕ "
            f"image {self.image_model} ({self.image_dim}-d)"
        )
