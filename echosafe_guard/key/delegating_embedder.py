"""A wrapper around another embedder that changes only how ``embed`` is done.

It keeps the wrapped embedder's ``model_id`` and ``dim`` (so the key layout does not change),
and its loading and status.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from echosafe_guard.key.base import Embedder, EmbedderStatus

__all__ = ["DelegatingEmbedder"]

T = TypeVar("T")


class DelegatingEmbedder(ABC, Generic[T]):
    """``model_id``, ``dim``, ``load`` and ``status`` are ``inner``'s; a subclass embeds."""

    def __init__(self, inner: Embedder[T]) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def load(self) -> None:
        self.inner.load()

    def status(self) -> EmbedderStatus:
        return self.inner.status()

    @abstractmethod
    def embed(self, items: Sequence[T]) -> npt.NDArray[np.float32]: ...
