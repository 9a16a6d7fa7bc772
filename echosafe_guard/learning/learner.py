"""The learning loop, off the request path: a bounded queue and one background worker.

``submit`` never blocks: a full queue or a rate limit drops the exchange and counts it. The
worker reflects (within the policy's reflection deadline, whatever the provider; retrying model
errors and timeouts with exponential backoff), applies hygiene and writes to the store.
``close`` stops intake and drains what was accepted, or reports what it left.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from echosafe_guard.background import lower_thread_priority
from echosafe_guard.exceptions import (
    EchoSafeError,
    ReflectionInvalidError,
    ReflectionUnavailableError,
)
from echosafe_guard.learning.events import LearningEvent
from echosafe_guard.learning.events import LearningEventKind as Ev
from echosafe_guard.learning.exchange import Exchange
from echosafe_guard.learning.hygiene import Admission, Hygiene, VerdictCheck
from echosafe_guard.learning.rate_limit import RateLimiter
from echosafe_guard.learning.reflector import Reflector
from echosafe_guard.llm_client import call_with_retries
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.policy.models import Policy

__all__ = ["Learner"]

log = logging.getLogger("echosafe_guard.learning")
_STOP = object()
_PRUNE_EVERY = 50
"""Capacity and TTL are checked after this many learnt writes to a tenant."""


class Learner:
    """Thread-safe. ``counters`` tells what happened to every exchange."""

    def __init__(
        self,
        policy: Policy,
        store: InsightStore,
        reflector: Reflector,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        verdict_check: VerdictCheck | None = None,
        write_lock: threading.Lock | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.reflector = reflector
        self.hygiene = Hygiene(policy, store, verdict_check)
        self.write_lock = write_lock or threading.Lock()
        """Held across each admission (read, merge, write), shared with the hit recorder."""
        lp = policy.learning
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=lp.queue_size)
        self._users = RateLimiter(lp.user_rate_per_hour, clock=clock)
        self._tenants = RateLimiter(lp.tenant_rate_per_hour, clock=clock)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self.counters: Counter[str] = Counter()
        self.latencies_ms: deque[float] = deque(maxlen=2000)
        self._writes: dict[str, int] = {}
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self.on_event: Callable[[LearningEvent], object] | None = None
        """Called with every :class:`LearningEvent` (observability); keep it cheap."""
        self.hygiene.on_removed = self._removed

    def _emit(self, kind: Ev, tenant: str, **kw: Any) -> None:
        hook = self.on_event
        if hook is not None:
            try:
                hook(LearningEvent(kind, tenant, **kw))
            except Exception:
                log.exception("learning on_event hook failed (learning goes on)")

    def _drop(self, counter: str, ex: Exchange) -> bool:
        self.counters[counter] += 1
        self._emit(Ev.DROPPED, ex.tenant, request_hash=ex.request_hash, reason=counter[8:])
        return False

    def _removed(self, tenant: str, expired: list[str], evicted: list[str]) -> None:
        for kind, ids in ((Ev.EXPIRED, expired), (Ev.EVICTED, evicted)):
            for insight_id in ids:
                self._emit(kind, tenant, insight_id=insight_id)

    def _admitted(self, got: Admission, ex: Exchange, ms: float) -> None:
        """Events of one admission (created or merged, quarantined, conflicted)."""
        ins, rh = got.insight, ex.request_hash
        if ins is None:
            self._emit(Ev.DROPPED, ex.tenant, request_hash=rh, reason="copy")
            return
        attrs: dict[str, Any] = {"verdict": ins.verdict.value, "category": ins.category}
        attrs |= {"status": ins.status.value}
        attrs |= {"support": ins.support, "actor": ex.actor}
        kind = Ev.CREATED if got.outcome == "new" else Ev.MERGED
        self._emit(kind, ex.tenant, insight_id=ins.id, request_hash=rh, duration_ms=ms, attrs=attrs)
        if ins.status.value == "quarantined":
            self._emit(Ev.QUARANTINED, ex.tenant, insight_id=ins.id, request_hash=rh)
        conflicted = [*got.conflicted, *([ins.id] if ins.status.value == "conflicted" else [])]
        for insight_id in conflicted:
            self._emit(Ev.CONFLICTED, ex.tenant, insight_id=insight_id, request_hash=rh)

    # -- intake --------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="echosafe-learner", daemon=True
                    )
                    self._thread.start()

    def submit(self, exchange: Exchange) -> bool:
        """Queue an exchange for learning; never blocks. False when it was dropped."""
        if self._closing.is_set():
            return self._drop("dropped_closed", exchange)
        if not self._users.allow(f"{exchange.tenant}\0{exchange.rate_key}"):
            return self._drop("dropped_rate_user", exchange)
        if not self._tenants.allow(exchange.tenant):
            return self._drop("dropped_rate_tenant", exchange)
        self._start()
        with self._lock:
            try:
                self._queue.put_nowait((exchange, self._clock()))
            except queue.Full:
                log.warning("learning queue full: exchange dropped")
                return self._drop("dropped_queue_full", exchange)
            self._busy += 1
        self.counters["queued"] += 1
        self._emit(Ev.QUEUED, exchange.tenant, request_hash=exchange.request_hash)
        return True

    @property
    def pending(self) -> int:
        return self._busy

    # -- worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        lower_thread_priority()  # learning yields the cores to requests
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            exchange, queued_at = item
            try:
                self._process(exchange)
            except Exception:  # the worker must survive anything one exchange does
                self.counters["failed"] += 1
                log.exception("learning failed on one exchange")
                self._emit(
                    Ev.DROPPED, exchange.tenant, request_hash=exchange.request_hash, reason="error"
                )
            finally:
                self.latencies_ms.append((self._clock() - queued_at) * 1000)
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _reflect(self, exchange: Exchange) -> Any:
        """The reflector's draft within the policy's deadline (two calls: the answer and one
        repair), whatever the provider does with its own ``timeout``. A call past it is left to
        finish on its worker thread and counts as a model failure (retried)."""
        deadline = 2 * self.policy.reflection.timeout_s + 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2, "echosafe-reflect")
        fut = self._pool.submit(self.reflector.reflect, exchange)
        try:
            return fut.result(timeout=deadline)
        except FutureTimeout as exc:
            fut.cancel()
            raise ReflectionUnavailableError(f"reflection took over {deadline:g}s") from exc

    def _process(self, exchange: Exchange) -> None:
        r = self.policy.reflection
        t0 = time.perf_counter()
        try:
            draft = call_with_retries(
                lambda: self._reflect(exchange),
                attempts=r.max_attempts,
                backoff_s=r.backoff_s,
                retry_on=(ReflectionUnavailableError,),
                on_error=lambda _exc: self.counters.update(("retries",)),
                sleep=self._sleep,
            )
        except ReflectionUnavailableError as exc:
            self.counters["failed_model"] += 1
            log.warning("reflection gave up after %d attempts: %s", r.max_attempts, exc)
            self._emit(
                Ev.DROPPED,
                exchange.tenant,
                request_hash=exchange.request_hash,
                reason="model",
                duration_ms=(time.perf_counter() - t0) * 1000,
            )
            return
        except ReflectionInvalidError as exc:
            log.info("reflection invalid, dropped: %s", exc)
            self._drop("dropped_invalid", exchange)
            return
        t1 = time.perf_counter()
        self._emit(
            Ev.REFLECTED,
            exchange.tenant,
            request_hash=exchange.request_hash,
            duration_ms=(t1 - t0) * 1000,
            attrs={"verdict": draft.verdict.value},
        )
        try:
            with self.write_lock:
                got = self.hygiene.admit(draft, exchange)
        except EchoSafeError as exc:
            self.counters["failed_store"] += 1
            log.warning("could not store a learnt insight: %s", exc)
            self._emit(
                Ev.DROPPED, exchange.tenant, request_hash=exchange.request_hash, reason="store"
            )
            return
        self._admitted(got, exchange, (time.perf_counter() - t1) * 1000)
        self.counters[got.outcome] += 1
        self.counters["conflicts"] += got.conflicts
        if got.insight is None:
            return
        if got.insight.status.value == "quarantined":
            self.counters["quarantined"] += 1
        writes = self._writes[exchange.tenant] = self._writes.get(exchange.tenant, 0) + 1
        if writes % _PRUNE_EVERY == 0:
            self.counters["evicted"] += self.hygiene.prune(exchange.tenant)["evicted"]

    # -- shutdown ------------------------------------------------------------------------------

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every accepted exchange is processed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop intake, process what was accepted (``None``: all of it; each reflection has its
        own deadline, so this ends), stop the worker. With a ``timeout`` that passes, what is
        left is taken off the queue, counted in ``counters["unprocessed_at_close"]`` and logged;
        returns False then."""
        self._closing.set()
        drained = self.drain(timeout)
        left = 0
        if not drained:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    left += 1
                    with self._idle:
                        self._busy -= 1
            left += self._busy  # in flight: it may still finish
            self.counters["unprocessed_at_close"] += left
            log.error("learning closed with %d accepted exchanges unprocessed", left)
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=drained, cancel_futures=True)
        return drained
