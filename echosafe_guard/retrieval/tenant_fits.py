"""``TenantFits``: per-tenant state fitted off the request path, shared by the fitted
retrieval parts (:class:`~echosafe_guard.retrieval.intent_rerank.IntentRerank`,
:class:`~echosafe_guard.retrieval.probe_verdict_model.ProbeVerdictModel`).

It keeps, per tenant, the last state a ``fit`` function produced (a frozen dataclass with
``count``, ``fitted`` and ``checked`` stamps), at most ``MAX_TENANTS`` of them (least recently
used ones are dropped and refitted on demand). :meth:`TenantFits.current` never fits on the
request path when ``background`` (the default): a tenant with no state yet, or whose state was
last checked ``refresh_s`` ago or more, is queued for one daemon worker thread (started on
demand, gone after ``IDLE_S`` without work) and answered meanwhile with what is there. The worker
refits only when the tenant's insight count changed (or the state is older than ``max_age``); a
fit that fails is logged and retried after ``refresh_s``, the previous state staying in use.
``background=False`` fits on the calling thread instead (tests and offline benchmarks only).
"""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from echosafe_guard.background import lower_thread_priority
from echosafe_guard.memory.insight import InsightStatus

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
else:

    class DataclassInstance(Protocol):  # typeshed's, for the type checker only
        pass


__all__ = ["FitState", "TenantFits", "TenantFitted", "sample_rank"]

LIVE = frozenset({InsightStatus.ACTIVE, InsightStatus.CONFLICTED})
"""Statuses of the insights a fit reads."""
MAX_TENANTS = 4096
"""Tenants whose state is kept (least recently used ones are dropped and refitted on demand)."""
IDLE_S = 30.0
"""Seconds the worker thread waits for work before it ends."""


class FitState(DataclassInstance, Protocol):
    """What :class:`TenantFits` needs of a state: a frozen dataclass with these stamps."""

    @property
    def count(self) -> int: ...  # the tenant's insight count when fitted (-1: never fitted)

    @property
    def fitted(self) -> float: ...  # clock time of the fit

    @property
    def checked(self) -> float: ...  # clock time of the last check of the count


S = TypeVar("S", bound=FitState)


def sample_rank(iid: str) -> str:
    """A stable pseudo-random order of insight ids (the sample is the same from fit to fit)."""
    return hashlib.blake2b(iid.encode(), digest_size=8).hexdigest()


class TenantFits(Generic[S]):
    """Thread-safe. ``fit(tenant, count, now)`` reads the store and builds a new state;
    ``count(tenant)`` is the tenant's insight count; ``empty(now)`` the state kept for a tenant
    whose first fit failed; ``name`` names the worker thread, ``what`` the fitted thing in logs."""

    def __init__(
        self,
        *,
        fit: Callable[[str, int, float], S],
        count: Callable[[str], int],
        empty: Callable[[float], S],
        refresh_s: float,
        background: bool,
        clock: Callable[[], float],
        name: str,
        what: str,
        log: logging.Logger,
        max_age: float = math.inf,
    ) -> None:
        self._fit = fit
        self._count = count
        self._empty = empty
        self.refresh_s = refresh_s
        self.max_age = max_age
        self.background = background
        self._now = clock
        self._name = name
        self._what = what
        self._log = log
        self._lock = threading.Lock()
        self._states: OrderedDict[str, S] = OrderedDict()
        self._pending: set[str] = set()
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self.fits = 0
        self.errors = 0

    def get(self, tenant: str) -> S | None:
        """The tenant's state as it is (no fit, no queueing)."""
        with self._lock:
            return self._states.get(tenant)

    def current(self, tenant: str) -> S | None:
        """The request path: the tenant's state, queueing a background check when it is due."""
        now = self._now()
        with self._lock:
            st = self._states.get(tenant)
            if st is not None:
                self._states.move_to_end(tenant)
        if st is not None and now - st.checked < self.refresh_s:
            return st
        if not self.background:
            return self.refresh_logged(tenant)
        with self._lock:  # first use or time to check: queue the fit, serve what is there
            if tenant not in self._pending:
                self._pending.add(tenant)
                self._queue.put(tenant)
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                    self._worker.start()
        return st

    def refresh(self, tenant: str, *, force: bool = True) -> S:
        """Fit now on this thread (``force=False``: only when the tenant's insight count changed
        or the state is older than ``max_age``). Store errors propagate; the previous state
        stays in place."""
        now = self._now()
        count = self._count(tenant)
        st = self.get(tenant)
        if not force and st is not None and st.count == count and now - st.fitted < self.max_age:
            kept = replace(st, checked=now)
            self._put(tenant, kept)
            return kept
        new = self._fit(tenant, count, now)
        self.fits += 1
        self._put(tenant, new)
        return new

    def refresh_logged(self, tenant: str) -> S:
        """``refresh(force=False)``; a failure is logged and retried after ``refresh_s`` (the
        previous state, if any, stays in use meanwhile)."""
        try:
            return self.refresh(tenant, force=False)
        except Exception as exc:
            self.errors += 1
            self._log.warning("%s of tenant %r not fitted: %s", self._what, tenant, exc)
            now = self._now()
            st = self.get(tenant)
            kept = self._empty(now) if st is None else replace(st, checked=now)
            self._put(tenant, kept)
            return kept

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no background fit is pending (tests, benchmarks). False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.005)
        return False

    def _put(self, tenant: str, state: S) -> None:
        with self._lock:
            self._states[tenant] = state
            self._states.move_to_end(tenant)
            while len(self._states) > MAX_TENANTS:
                self._states.popitem(last=False)

    def _work(self) -> None:
        lower_thread_priority()  # fits yield the cores to requests
        while True:
            try:
                tenant = self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:  # producers enqueue and check the worker under this lock
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            try:
                self.refresh_logged(tenant)
            finally:
                with self._lock:
                    self._pending.discard(tenant)


class TenantFitted:
    """Mixin of a class whose per-tenant state is a ``TenantFits`` in ``self._fits``: its
    counters and :meth:`wait_idle`."""

    _fits: TenantFits[Any]

    @property
    def fits(self) -> int:
        """Fits done so far."""
        return self._fits.fits

    @property
    def errors(self) -> int:
        """Fits that failed so far."""
        return self._fits.errors

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no background fit is pending (tests, benchmarks). False on timeout."""
        return self._fits.wait_idle(timeout)
