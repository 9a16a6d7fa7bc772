"""The tail that embedders loading their model through a :class:`LazyModel` share: ``dim``,
``load`` and ``status``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from echosafe_guard.key.base import EmbedderState, EmbedderStatus
from echosafe_guard.key.lazy_model import LazyModel

__all__ = ["LazyEmbedder"]

M = TypeVar("M")


class LazyEmbedder(ABC, Generic[M]):
    """An embedder whose model ``load`` creates on first need.

    ``dim`` is the output dimension when it is known ahead (``None`` until ``load`` sets
    ``self._dim``). A subclass names its ``model_id``, embeds, and may say more in its status
    through :meth:`_detail`.
    """

    def __init__(self, load: Callable[[], M], what: str, dim: int | None) -> None:
        self._lazy = LazyModel(load, what)
        self._dim = dim

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._lazy.get()
        assert self._dim is not None
        return self._dim

    def load(self) -> None:
        self._lazy.get()

    def status(self) -> EmbedderStatus:
        state = self._lazy.state
        return EmbedderStatus(self.model_id, state, self._lazy.error or self._detail(state))

    def _detail(self, state: EmbedderState) -> str:
        """What :meth:`status` says when no load failed."""
        return "" if state is EmbedderState.LIVE else "loads on first use"
