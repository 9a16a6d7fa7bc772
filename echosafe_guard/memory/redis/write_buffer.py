"""A bounded buffer of insight writes that failed because the store was unreachable."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from echosafe_guard.memory.insight import Insight

__all__ = ["WriteBuffer"]

log = logging.getLogger("echosafe_guard.store")


class WriteBuffer:
    """Keeps up to ``max_items`` unwritten insights, oldest dropped first (counted and logged).

    :meth:`drain` retries them through a write function at most every ``retry_interval``
    seconds (or at once with ``force``). Thread-safe.
    """

    def __init__(self, max_items: int = 10_000, retry_interval: float = 1.0) -> None:
        self.max_items = max_items
        self.retry_interval = retry_interval
        self._items: deque[Insight] = deque()
        self._lock = threading.Lock()
        self._next_retry = 0.0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, insights: Sequence[Insight], reason: object) -> None:
        with self._lock:
            dropped = 0
            for ins in insights:
                if len(self._items) >= self.max_items:
                    self._items.popleft()
                    dropped += 1
                self._items.append(ins)
            self.dropped += dropped
            self._next_retry = time.monotonic() + self.retry_interval
            pending = len(self._items)
        log.warning(
            "store unreachable (%s): %d insight writes buffered, %d pending, %d dropped so far",
            reason,
            len(insights),
            pending,
            self.dropped,
        )
        if dropped:
            log.error("write buffer full: dropped %d oldest unwritten insights", dropped)

    def drain(self, write: Callable[[list[Insight]], None], *, force: bool = False) -> None:
        """Write everything buffered; on failure keep it (and re-raise only with ``force``)."""
        with self._lock:
            if not self._items or (not force and time.monotonic() < self._next_retry):
                return
            batch = list(self._items)
        try:
            write(batch)
        except Exception:
            with self._lock:
                self._next_retry = time.monotonic() + self.retry_interval
            if force:
                raise
            return
        with self._lock:
            for _ in batch:
                self._items.popleft()
        log.info("wrote %d buffered insights", len(batch))

    def discard(self) -> int:
        """Give up on what is buffered (counted as dropped); returns how many."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
            self.dropped += n
        if n:
            log.error("discarding %d unwritten insights", n)
        return n
