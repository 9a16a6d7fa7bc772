"""``Retriever``: one request's insights: search the store, apply ``on_store_error``, re-rank.

It reads the store and never writes it. On the async path it never blocks the event loop: the
store is opened and bound on a worker thread, a store with a native async client is awaited and
any other one is searched on a worker thread; re-ranking only reorders (it never reads the store
on the request path, see :mod:`echosafe_guard.retrieval.intent_rerank`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from echosafe_guard.exceptions import KeyLayoutMismatchError, StoreError, StoreUnavailableError
from echosafe_guard.key.key_builder import ContextKey
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import ScoredInsight, SearchFilter
from echosafe_guard.policy.models import RerankMethod, RetrievalPolicy, StoreErrorPolicy
from echosafe_guard.retrieval.bundled_text_verdict import BundledTextVerdict
from echosafe_guard.retrieval.intent_rerank import IntentRerank
from echosafe_guard.retrieval.probe_verdict_model import ProbeVerdictModel
from echosafe_guard.retrieval.rerank import Reranker, build_reranker, rerank_hits
from echosafe_guard.retrieval.verdict_assessment import VerdictModel
from echosafe_guard.retrieval.verdict_model import Call

__all__ = ["Retrieved", "Retriever"]

_ALL = SearchFilter()


@dataclass(frozen=True)
class Retrieved:
    """The insights kept for one request (best first) and how the search went."""

    hits: list[ScoredInsight] = field(default_factory=list)
    note: str | None = None
    """Set when the store failed and ``fail_open`` let the request through without insights."""
    search_ms: float = 0.0
    call: Call | None = None
    """The verdict model's reading of the request (None: no verdict model, or no insights)."""
    p_unsafe: float | None = None
    rerank_ms: float = 0.0
    """The part of ``search_ms`` spent re-ranking (the verdict model or the reranker)."""


class Retriever:
    """Thread-safe. ``open_store`` returns the store bound to the guard's key layout (it may do
    I/O and raise :class:`StoreError`; it is called once it succeeded, then cached).
    ``reranker``: injected, else built from the policy on first use."""

    def __init__(
        self,
        open_store: Callable[[], InsightStore],
        policy: RetrievalPolicy,
        on_store_error: StoreErrorPolicy,
        reranker: Reranker | None = None,
    ) -> None:
        self._open_store = open_store
        self.policy = policy
        self.on_store_error = on_store_error
        self._reranker = reranker
        self._verdicts: VerdictModel | None = None
        self._store: InsightStore | None = None
        self._lock = threading.Lock()

    def _opened(self) -> InsightStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    @property
    def native_async(self) -> bool:
        """True when the store is open and has a native async client (a blocking call: opens and
        binds the store on first use; an unreachable store answers False)."""
        try:
            store = self._opened()
        except StoreError:
            return False
        return store.capabilities.native_async

    @property
    def reranker(self) -> Reranker | None:
        """The reranker in use (None for ``rerank: none`` or before the store was opened)."""
        if self.policy.rerank is RerankMethod.NONE:
            return None
        if self._reranker is None and self._store is not None:
            with self._lock:
                if self._reranker is None:
                    self._reranker = build_reranker(self.policy, self._store)
        return self._reranker

    @property
    def verdicts(self) -> VerdictModel | None:
        """The verdict model in use (``rerank: probe``; None before the store was opened)."""
        if self.policy.rerank is not RerankMethod.PROBE:
            return None
        if self._verdicts is None and self._store is not None:
            with self._lock:
                if self._verdicts is None:
                    text = BundledTextVerdict() if self.policy.verdict.text_weight > 0 else None
                    self._verdicts = ProbeVerdictModel(self._store, self.policy.verdict, text=text)
        return self._verdicts

    def warm(self, tenants: Sequence[str]) -> None:
        """Open the store and fit the re-ranker or verdict model for ``tenants`` now, on this
        thread (start-up, benchmarks, tests: requests themselves only ever queue the fit)."""
        self._opened()
        rr, vm = self.reranker, self.verdicts
        for tenant in tenants:
            if isinstance(rr, IntentRerank):
                rr.refresh(tenant, force=False)
            if isinstance(vm, ProbeVerdictModel):
                vm.refresh(tenant, force=False)
        if isinstance(vm, ProbeVerdictModel):
            vm.warm_text()

    def _failed(self, exc: StoreError, t0: float) -> Retrieved:
        """Apply ``on_store_error``. A key-layout mismatch is configuration: always raised."""
        if isinstance(exc, KeyLayoutMismatchError):
            raise exc
        if self.on_store_error is StoreErrorPolicy.FAIL_CLOSED:
            if isinstance(exc, StoreUnavailableError):
                raise exc
            raise StoreUnavailableError(f"insight store failed (fail_closed): {exc}") from exc
        note = f"store unavailable (fail_open): {exc}"
        return Retrieved([], note, (time.perf_counter() - t0) * 1000)

    def _done(
        self, key: ContextKey, tenant: str, hits: list[ScoredInsight], t0: float
    ) -> Retrieved:
        vm, k, t1 = self.verdicts, self.policy.k, time.perf_counter()
        if vm is not None and hits:
            got = vm.assess(key.vector, hits, tenant=tenant, k=k, text=key.text)
            t2 = time.perf_counter()
            ms, rr = (t2 - t0) * 1000, (t2 - t1) * 1000
            return Retrieved(list(got.hits), None, ms, got.call, got.p_unsafe, rr)
        kept = rerank_hits(self.reranker, key.vector, hits, tenant=tenant, k=k)
        t2 = time.perf_counter()
        return Retrieved(kept, None, (t2 - t0) * 1000, rerank_ms=(t2 - t1) * 1000)

    def search(self, key: ContextKey, tenant: str) -> Retrieved:
        """The request's insights (blocking: call it off the event loop)."""
        t0 = time.perf_counter()
        if key.is_zero:
            return Retrieved()
        try:
            r = self.policy
            hits = self._opened().search(
                key.vector, tenant=tenant, k=r.search_k, min_score=r.min_similarity, filters=_ALL
            )
        except StoreError as exc:
            return self._failed(exc, t0)
        return self._done(key, tenant, hits, t0)

    async def asearch(self, key: ContextKey, tenant: str) -> Retrieved:
        """As :meth:`search`, never blocking the event loop."""
        if key.is_zero:
            return Retrieved()
        if self._store is None or not self._store.capabilities.native_async:
            return await asyncio.to_thread(self.search, key, tenant)
        vm = self.verdicts
        if isinstance(vm, ProbeVerdictModel) and not vm.text_ready:
            await asyncio.to_thread(vm.warm_text)
        t0 = time.perf_counter()
        try:
            r = self.policy
            hits = await self._store.asearch(
                key.vector, tenant=tenant, k=r.search_k, min_score=r.min_similarity, filters=_ALL
            )
        except StoreError as exc:
            return self._failed(exc, t0)
        return self._done(key, tenant, hits, t0)
