"""Load a model once, lazily and thread-safely; remember a failure instead of retrying it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from echosafe_guard.exceptions import EmbedderUnavailableError
from echosafe_guard.key.base import EmbedderState

__all__ = ["LazyModel"]

M = TypeVar("M")


class LazyModel(Generic[M]):
    """Holds a model that ``load`` creates on first need.

    ``get()`` blocks until the model is loaded; ``start()`` loads it on a background thread so a
    request path can use :meth:`peek` and go on without it meanwhile. A failed load is kept and
    re-raised as :class:`EmbedderUnavailableError` at once.
    """

    def __init__(self, load: Callable[[], M], what: str) -> None:
        self._load = load
        self._what = what
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._model: M | None = None
        self._error: str | None = None
        self._state = EmbedderState.NOT_LOADED

    @property
    def state(self) -> EmbedderState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    def _run(self) -> None:
        try:
            model = self._load()
        except EmbedderUnavailableError as exc:
            self._error = str(exc)
        except Exception as exc:  # a broken model must not crash the host: remember it
            self._error = f"{self._what}: could not be loaded: {type(exc).__name__}: {exc}"
        else:
            self._model = model
        self._state = EmbedderState.LIVE if self._model is not None else EmbedderState.UNAVAILABLE
        self._done.set()

    def _claim(self) -> bool:
        with self._lock:
            if self._state is not EmbedderState.NOT_LOADED:
                return False
            self._state = EmbedderState.LOADING
            return True

    def start(self) -> None:
        """Begin loading on a daemon thread (no-op once started)."""
        if self._claim():
            threading.Thread(target=self._run, name=f"load:{self._what}", daemon=True).start()

    def get(self, timeout: float | None = None) -> M:
        """The model; raises if it cannot be had.

        Without ``timeout`` a load nobody has started runs on this thread; with one, it runs on
        a background thread and this call waits at most ``timeout`` seconds for it.
        """
        if timeout is None:
            if self._claim():
                self._run()
        else:
            self.start()
        if not self._done.wait(timeout):
            raise EmbedderUnavailableError(f"{self._what}: still loading after {timeout} s")
        if self._model is None:
            raise EmbedderUnavailableError(self._error or f"{self._what}: unavailable")
        return self._model

    def peek(self) -> M | None:
        """The model if it is loaded; never blocks."""
        return self._model
