"""Sliding-window rate limits for learning, per user and per tenant (a poisoning defence)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds. Thread-safe, bounded memory."""

    def __init__(
        self,
        limit: int,
        window: float = 3600.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            q = self._events.get(key)
            if q is None:
                if len(self._events) >= self._max_keys:
                    self._evict(now)
                q = self._events[key] = deque()
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def _evict(self, now: float) -> None:
        for key in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window]:
            del self._events[key]
        if len(self._events) >= self._max_keys:  # still full: forget the oldest half
            for key in list(self._events)[: self._max_keys // 2]:
                del self._events[key]
