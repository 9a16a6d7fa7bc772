"""The base of every policy model: frozen once loaded, and unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """A policy section: immutable, and a misspelt key is an error rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
