"""Coalesce concurrent embedding calls into one batched forward, on one worker thread.

A batched forward of ``n`` short texts costs far less than ``n`` single forwards, so when many
requests embed at once (a proxy under load, ``aprepare`` from many tasks) they are queued and
embedded together:

* the worker drains everything queued, up to ``max_batch`` texts, and runs one forward;
* it waits up to ``max_wait_ms`` for more texts only while under load (the previous batch held
  more than one call), so a lone request is never delayed;
* a call of ``max_batch`` texts or more (seeding, benchmarks) goes straight to the embedder;
* sync callers block on a future; async callers await it (:meth:`aembed`) and the event loop is
  never blocked. An error of the embedder reaches every caller of that batch, never the worker.

The wrapper is an :class:`~echosafe_guard.key.base.Embedder` with the wrapped one's
``model_id`` and ``dim``: the key layout does not change.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from echosafe_guard.exceptions import ConfigError
from echosafe_guard.key.base import Embedder
from echosafe_guard.key.delegating_embedder import DelegatingEmbedder

__all__ = ["MicroBatcher"]

_Rows = npt.NDArray[np.float32]


@dataclass
class _Call:
    texts: Sequence[str]
    future: Future[_Rows] = field(default_factory=Future)


class MicroBatcher(DelegatingEmbedder[str]):
    """Wraps a text embedder; thread-safe. Statistics: ``batches``, ``calls``, ``largest``."""

    def __init__(self, inner: Embedder[str], *, max_batch: int = 16, max_wait_ms: float = 2.0):
        if not 1 <= max_batch <= 4096:
            raise ConfigError(f"max_batch must be 1..4096, got {max_batch!r}")
        if not 0.0 <= max_wait_ms <= 1000.0:
            raise ConfigError(f"max_wait_ms must be 0..1000, got {max_wait_ms!r}")
        super().__init__(inner)
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._worker: threading.Thread | None = None
        self._under_load = False
        self._carry: _Call | None = None  # did not fit the last batch: first in the next one
        self.batches = 0
        self.calls = 0
        self.largest = 0

    def submit(self, items: Sequence[str]) -> Future[_Rows]:
        """Queue ``items``; the future holds their rows (or the embedder's error)."""
        call = _Call(list(items))
        if not call.texts:
            call.future.set_result(np.zeros((0, self.dim), dtype=np.float32))
            return call.future
        if len(call.texts) >= self.max_batch:  # already a batch: no queueing
            try:
                call.future.set_result(self.inner.embed(call.texts))
            except Exception as exc:
                call.future.set_exception(exc)
            return call.future
        self._ensure_worker()
        self._queue.put(call)
        return call.future

    def embed(self, items: Sequence[str]) -> _Rows:
        return self.submit(items).result()

    async def aembed(self, items: Sequence[str]) -> _Rows:
        """As :meth:`embed`, awaited: the event loop never blocks (a large call runs in a
        thread)."""
        if len(items) >= self.max_batch:
            return await asyncio.to_thread(self.inner.embed, items)
        return await asyncio.wrap_future(self.submit(items))

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        with self._start:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
                self._worker.start()

    def _gather(self, first: _Call) -> list[_Call]:
        batch, size = [first], len(first.texts)
        deadline = time.perf_counter() + self.max_wait_ms / 1000 if self._under_load else 0.0
        while size < self.max_batch:
            try:
                left = deadline - time.perf_counter()
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if size + len(nxt.texts) > self.max_batch:
                self._carry = nxt
                break
            batch.append(nxt)
            size += len(nxt.texts)
        return batch

    def _run(self) -> None:
        while True:
            first, self._carry = self._carry or self._queue.get(), None
            batch = self._gather(first)
            self._under_load = len(batch) > 1
            self.batches += 1
            self.calls += len(batch)
            texts = [t for c in batch for t in c.texts]
            self.largest = max(self.largest, len(texts))
            try:
                rows = self.inner.embed(texts)
            except BaseException as exc:  # every caller of the batch gets it; the worker lives
                for c in batch:
                    c.future.set_exception(exc)
                continue
            at = 0
            for c in batch:
                c.future.set_result(rows[at : at + len(c.texts)])
                at += len(c.texts)
