"""The ``Embedder`` Protocol: one model that turns items (texts or images) into unit vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "EmbedderState", "EmbedderStatus", "l2_normalize"]

T_contra = TypeVar("T_contra", contravariant=True)


class EmbedderState(StrEnum):
    NOT_LOADED = "not_loaded"
    LOADING = "loading"
    LIVE = "live"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class EmbedderStatus:
    """What ``doctor`` and decisions report about a model."""

    model_id: str
    state: EmbedderState
    detail: str = ""

    @property
    def live(self) -> bool:
        return self.state == EmbedderState.LIVE


@runtime_checkable
class Embedder(Protocol[T_contra]):
    """Embeds items into L2-normalised float32 rows.

    Implementations load their model lazily and thread-safely, on first use or on
    :meth:`load`; a load that failed is remembered and raised again at once, never retried per
    request.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int:
        """Output dimension; known without loading the weights where the model allows."""
        ...

    def load(self) -> None:
        """Load the model now (blocking). Raises ``EmbedderUnavailableError`` if it cannot."""
        ...

    def status(self) -> EmbedderStatus: ...

    def embed(self, items: Sequence[T_contra]) -> npt.NDArray[np.float32]:
        """One unit-norm row per item, shape ``(len(items), dim)``."""
        ...


def l2_normalize(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Row-wise L2 normalisation; all-zero rows stay zero."""
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    return out
