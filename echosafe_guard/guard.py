"""The guard engine: messages → context key → retrieved insights → decision + rewritten prompt."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echosafe_guard.exceptions import KeyLayoutMismatchError, StoreError, StoreUnavailableError
from echosafe_guard.key.key_builder import ContextKey, ImagePart, KeyBuilder
from echosafe_guard.learning.exchange import Exchange
from echosafe_guard.learning.learner import Learner
from echosafe_guard.learning.llm_reflector import LLMReflector, response_text
from echosafe_guard.learning.reflector import Reflector
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import ScoredInsight, SearchFilter, Verdict
from echosafe_guard.memory.rerank import Reranker, build_reranker, rerank_hits
from echosafe_guard.messages import RequestContext, build_context
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode, Policy, RerankMethod, StoreErrorPolicy
from echosafe_guard.rewrite import apply_block, render_block
from echosafe_guard.settings import GuardSettings, open_store

__all__ = ["Action", "Decision", "Guard", "Prepared", "Timings"]


class Action(StrEnum):
    ALLOW = "allow"
    CAUTION = "caution"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    """``no_insights``, ``safe_insights``, ``unsafe_insight``, ``borderline_insight``,
    ``conflicting_insights``, ``near_duplicate_unsafe`` or ``store_unavailable``."""
    mode: Mode
    applied: bool
    """False in ``shadow`` mode: the decision was recorded, the messages left untouched."""
    top_unsafe_score: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timings:
    normalize_ms: float = 0.0
    embed_text_ms: float = 0.0
    embed_image_ms: float = 0.0
    search_ms: float = 0.0
    rewrite_ms: float = 0.0
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Prepared:
    """The outcome of :meth:`Guard.prepare`: send ``messages`` to the model (unless blocked)."""

    messages: list[Any]
    insights: tuple[ScoredInsight, ...]
    decision: Decision
    timings: Timings
    tenant: str
    request_hash: str
    layout: str
    image_part: ImagePart
    system_prompt: str | None
    """The guard's block as written into the system message (None when nothing was added)."""
    key: npt.NDArray[np.float32] = field(repr=False)
    context: RequestContext | None = field(default=None, repr=False)
    """The request context (held in memory for :meth:`Guard.learn`; never stored)."""

    @property
    def blocked(self) -> bool:
        return self.decision.action is Action.BLOCK and self.decision.applied


class Guard:
    """Contextual-safety guard. Constructing it does no I/O and loads no model.

    ``store``: an :class:`InsightStore`, or a path/URL (default ``ECHOSAFE_STORE`` or
    ``./.echosafe``). ``policy``: a :class:`Policy`, a builtin name or a YAML path.
    A store passed in as an object is not closed by :meth:`close`.
    """

    def __init__(
        self,
        *,
        store: InsightStore | str | Path | None = None,
        policy: Policy | str | Path | None = None,
        keys: KeyBuilder | None = None,
        settings: GuardSettings | None = None,
        reflector: Reflector | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings or GuardSettings.from_env()
        self._store_arg = store
        self._owns_store = not isinstance(store, InsightStore)
        self._store: InsightStore | None = store if isinstance(store, InsightStore) else None
        self._policy_arg = policy if policy is not None else self.settings.policy
        self._policy: Policy | None = policy if isinstance(policy, Policy) else None
        self.keys = keys or self.settings.key_builder()
        self._lock = threading.Lock()
        self._bound = False
        self._reflector = reflector
        self._learner: Learner | None = None
        self._reranker = reranker  # None: built from the policy on first use

    # -- lazily resolved parts ---------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            with self._lock:
                if self._policy is None:
                    arg = self._policy_arg
                    self._policy = load_policy(arg if not isinstance(arg, Policy) else None)
        return self._policy

    @property
    def store(self) -> InsightStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    arg = self._store_arg
                    if arg is None:
                        self._store = self.settings.open_store()
                    else:
                        assert not isinstance(arg, InsightStore)
                        self._store = open_store(arg)
        return self._store

    def bound_store(self) -> InsightStore:
        """The store, checked against this guard's key layout (raises on a mismatch)."""
        store = self.store
        if not self._bound:
            store.bind(self.keys.layout())
            self._bound = True
        return store

    @property
    def learner(self) -> Learner:
        """The background learning loop (created on first use; its thread on first work)."""
        if self._learner is None:
            with self._lock:
                if self._learner is None:
                    reflector = self._reflector or LLMReflector(self.policy)
                    self._learner = Learner(self.policy, self.store, reflector)
        return self._learner

    def learn(
        self,
        prepared: Prepared,
        response: Any,
        *,
        user: str | None = None,
        session: str | None = None,
        model: str | None = None,
    ) -> bool:
        """Queue the exchange for reflection and learning, off the request path. Never blocks.

        ``response``: the model's answer (a string, a LiteLLM/OpenAI response or its dict).
        ``user``/``session``: who asked (hashed before use) — the poisoning quorum counts distinct
        ones and rate limits apply per user. ``model``: the model that served the request (the
        reflection default). Returns False when the exchange was dropped (learning disabled,
        nothing to key on, rate limited, queue full)."""
        if not self.policy.learning.enabled or prepared.context is None:
            return False
        if not np.any(prepared.key):
            return False
        exchange = Exchange.of(
            tenant=prepared.tenant,
            context=prepared.context,
            key=prepared.key,
            layout=prepared.layout,
            request_hash=prepared.request_hash,
            response=response_text(response),
            user=user,
            session=session,
            model=model,
        )
        return self.learner.submit(exchange)

    async def alearn(
        self,
        prepared: Prepared,
        response: Any,
        *,
        user: str | None = None,
        session: str | None = None,
        model: str | None = None,
    ) -> bool:
        """As :meth:`learn` (which never blocks: safe to call on the event loop)."""
        return self.learn(prepared, response, user=user, session=session, model=model)

    def warmup(self, *, images: bool = True, wait_for_images: bool = False) -> None:
        """Load the policy, the text model and the store now; with ``images``, start loading the
        image model (or wait for it, when asked or when the key builder waits anyway).

        Call it at start-up so the first request does not pay for loading."""
        _ = self.policy
        self.keys.text.load()
        self.bound_store()
        if images and self.keys.image is not None:
            if wait_for_images or self.keys.wait_for_image_model:
                self.keys.image.wait()
            else:
                self.keys.image.start_loading()

    # -- prepare ---------------------------------------------------------------------------------

    def context(self, messages: Any) -> RequestContext:
        p = self.policy
        return build_context(messages, context=p.context, images=p.images)

    def _search_kwargs(self) -> dict[str, Any]:
        r = self.policy.retrieval
        return {"k": r.search_k, "min_score": r.min_similarity, "filters": SearchFilter()}

    def _rerank(
        self, key: ContextKey, tenant: str, hits: list[ScoredInsight]
    ) -> list[ScoredInsight]:
        """The policy's reranker on the store's candidates (never raises: see rerank_hits)."""
        r = self.policy.retrieval
        if r.rerank is RerankMethod.NONE:
            return hits[: r.k]
        if self._reranker is None:
            store = self.store  # resolved outside the lock (it takes the lock itself)
            with self._lock:
                if self._reranker is None:
                    self._reranker = build_reranker(r, store)
        return rerank_hits(self._reranker, key.vector, hits, tenant=tenant, k=r.k)

    def _store_failed(self, exc: StoreError) -> tuple[list[ScoredInsight], str]:
        """Apply ``on_store_error``. A key-layout mismatch is configuration: always raised."""
        if isinstance(exc, KeyLayoutMismatchError):
            raise exc
        if self.policy.on_store_error is StoreErrorPolicy.FAIL_CLOSED:
            if isinstance(exc, StoreUnavailableError):
                raise exc
            raise StoreUnavailableError(f"insight store failed (fail_closed): {exc}") from exc
        return [], f"store unavailable (fail_open): {exc}"

    def _search(self, key: ContextKey, tenant: str) -> tuple[list[ScoredInsight], str | None]:
        if key.is_zero:
            return [], None
        try:
            store = self.bound_store()
            hits = store.search(key.vector, tenant=tenant, **self._search_kwargs())
        except StoreError as exc:
            return self._store_failed(exc)
        return self._rerank(key, tenant, hits), None

    async def _asearch(
        self, key: ContextKey, tenant: str
    ) -> tuple[list[ScoredInsight], str | None]:
        if key.is_zero:
            return [], None
        try:
            store = self.store if self._bound else await asyncio.to_thread(self.bound_store)
            hits = await store.asearch(key.vector, tenant=tenant, **self._search_kwargs())
        except StoreError as exc:
            return self._store_failed(exc)
        return self._rerank(key, tenant, hits), None

    def _decide(
        self, hits: Sequence[ScoredInsight], store_note: str | None, mode: Mode
    ) -> tuple[Action, str, float | None]:
        unsafe = [h.score for h in hits if h.insight.verdict is Verdict.UNSAFE]
        top_unsafe = max(unsafe) if unsafe else None
        if store_note is not None:
            return Action.ALLOW, "store_unavailable", None
        if not hits:
            return Action.ALLOW, "no_insights", None
        if (
            top_unsafe is not None
            and top_unsafe >= self.policy.block_threshold
            and mode is not Mode.ADVISE
        ):
            return Action.BLOCK, "near_duplicate_unsafe", top_unsafe
        verdicts = {h.insight.verdict for h in hits}
        if Verdict.UNSAFE in verdicts and Verdict.SAFE in verdicts:
            return Action.CAUTION, "conflicting_insights", top_unsafe
        if Verdict.UNSAFE in verdicts:
            return Action.CAUTION, "unsafe_insight", top_unsafe
        if Verdict.BORDERLINE in verdicts:
            return Action.CAUTION, "borderline_insight", top_unsafe
        return Action.ALLOW, "safe_insights", None

    def _note_hits(self, tenant: str, hits: list[ScoredInsight]) -> None:
        if hits and self.policy.learning.enabled:
            self.learner.record_hits(tenant, [h.insight.id for h in hits])

    def _context_and_key(self, messages: Any) -> tuple[RequestContext, ContextKey, float]:
        t0 = time.perf_counter()
        ctx = self.context(messages)
        normalize_ms = (time.perf_counter() - t0) * 1000
        return ctx, self.keys.key(ctx), normalize_ms

    def _key_and_search(
        self, messages: Any, tenant: str
    ) -> tuple[RequestContext, ContextKey, float, list[ScoredInsight], str | None, float]:
        ctx, key, normalize_ms = self._context_and_key(messages)
        t1 = time.perf_counter()
        hits, note = self._search(key, tenant)
        return ctx, key, normalize_ms, hits, note, (time.perf_counter() - t1) * 1000

    def prepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """Guard one request. Raises an :class:`~echosafe_guard.exceptions.InputError` for bad
        messages; store failures follow the policy's ``on_store_error``."""
        t0 = time.perf_counter()
        ctx, key, normalize_ms, hits, note, search_ms = self._key_and_search(messages, tenant)
        self._note_hits(tenant, hits)
        return self._finish(
            messages, ctx, key, tenant, mode, hits, note, normalize_ms, search_ms, t0
        )

    async def aprepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """As :meth:`prepare`. Decoding and embedding run on a worker thread; a store with a
        native async client (``capabilities.native_async``: Redis) is awaited, an embedded one is
        searched in that same worker thread (one thread hop, not two). The event loop is never
        blocked by CPU work."""
        t0 = time.perf_counter()
        if self.store.capabilities.native_async:
            ctx, key, normalize_ms = await asyncio.to_thread(self._context_and_key, messages)
            t1 = time.perf_counter()
            hits, note = await self._asearch(key, tenant)
            search_ms = (time.perf_counter() - t1) * 1000
        else:
            ctx, key, normalize_ms, hits, note, search_ms = await asyncio.to_thread(
                self._key_and_search, messages, tenant
            )
        self._note_hits(tenant, hits)
        return self._finish(
            messages, ctx, key, tenant, mode, hits, note, normalize_ms, search_ms, t0
        )

    def _finish(
        self,
        messages: Any,
        ctx: RequestContext,
        key: ContextKey,
        tenant: str,
        mode: Mode | str | None,
        hits: list[ScoredInsight],
        store_note: str | None,
        normalize_ms: float,
        search_ms: float,
        t0: float,
    ) -> Prepared:
        p = self.policy
        run_mode = Mode(mode) if mode is not None else p.mode
        t3 = time.perf_counter()
        action, reason, top_unsafe = self._decide(hits, store_note, run_mode)
        notes = list(key.notes)
        notes += [f"image not fetched: {s.where}: {s.detail}" for s in ctx.skipped_images]
        if store_note:
            notes.append(store_note)
        block = render_block(p, hits)
        applied = run_mode is not Mode.SHADOW
        out = apply_block(messages, block) if applied else list(messages)
        t4 = time.perf_counter()
        timings = Timings(
            normalize_ms=normalize_ms,
            embed_text_ms=key.text_ms,
            embed_image_ms=key.image_ms,
            search_ms=search_ms,
            rewrite_ms=(t4 - t3) * 1000,
            total_ms=(t4 - t0) * 1000,
        )
        return Prepared(
            messages=out,
            insights=tuple(hits),
            decision=Decision(action, reason, run_mode, applied, top_unsafe, tuple(notes)),
            timings=timings,
            tenant=tenant,
            request_hash=ctx.request_hash,
            layout=key.layout.id,
            image_part=key.image_part,
            system_prompt=block,
            key=key.vector,
            context=ctx,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, timeout: float | None = 60.0) -> None:
        """Drain the learning queue (everything accepted is processed), then close what the
        guard opened itself (a store it created from a path or URL)."""
        if self._learner is not None:
            self._learner.close(timeout)
        if self._owns_store and self._store is not None:
            self._store.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
