"""The guard, a thin conductor: input → context → key → retrieval → decision → block → Prepared.

Each stage lives in its own room (``input/``, ``context``, ``key/``, ``retrieval/``, ``block``);
the guard resolves its parts lazily and runs them in order. Learning (reflection, retrieval hits)
is handed off the request path. See ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echosafe_guard.arguments import check_mode, check_tenant
from echosafe_guard.block import render_block
from echosafe_guard.context import RequestContext
from echosafe_guard.input import to_context
from echosafe_guard.input.openai import apply_block, is_messages
from echosafe_guard.key.key_builder import ContextKey, KeyBuilder
from echosafe_guard.learning.events import LearningEvent
from echosafe_guard.learning.exchange import Exchange
from echosafe_guard.learning.hit_recorder import HitRecorder
from echosafe_guard.learning.learner import Learner
from echosafe_guard.learning.llm_reflector import LLMReflector
from echosafe_guard.learning.reflector import Reflector
from echosafe_guard.llm_client import response_text
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import Verdict
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode, Policy
from echosafe_guard.prepared import Prepared, Timings
from echosafe_guard.retrieval.adjudicator import Adjudicator, aadjudicate, adjudicate
from echosafe_guard.retrieval.decide import Action, Decision, decide
from echosafe_guard.retrieval.llm_adjudicator import LlmAdjudicator
from echosafe_guard.retrieval.probe_verdict_model import ProbeVerdictModel
from echosafe_guard.retrieval.rerank import Reranker
from echosafe_guard.retrieval.retriever import Retrieved, Retriever
from echosafe_guard.settings import GuardSettings, open_store

__all__ = ["Action", "Decision", "Guard", "Prepared", "Timings"]

log = logging.getLogger("echosafe_guard")

_Keyed = tuple[RequestContext, ContextKey, float]


class Guard:
    """Contextual-safety guard. Constructing it does no I/O and loads no model.

    ``store``: an :class:`InsightStore`, or a path/URL (default ``ECHOSAFE_STORE`` or
    ``./.echosafe``). ``policy``: a :class:`Policy`, a builtin name or a YAML path.
    A store passed in as an object is not closed by :meth:`close`. ``on_decision``: called with
    every :class:`Prepared` (on the request path, also on the event loop: keep it cheap, e.g.
    queue the work); its exceptions are logged and never break the request.
    ``on_learning_event``: called with every :class:`LearningEvent` of the learning loop (off
    the request path, except drops at intake). See :mod:`echosafe_guard.observability`.
    ``adjudicator``: a second opinion on weak unsafe evidence, on unsure calls on the safe edge
    (``adjudicator.benign_below``), and on unsure calls with ``adjudicator.harmful_above`` set
    (default: an
    :class:`LlmAdjudicator` when the policy's ``adjudicator.model`` is set).
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
        adjudicator: Adjudicator | None = None,
        on_decision: Callable[[Prepared], object] | None = None,
        on_learning_event: Callable[[LearningEvent], object] | None = None,
    ) -> None:
        self.settings = settings or GuardSettings.from_env()
        self._store_arg = store
        self._owns_store = not isinstance(store, InsightStore)
        self._store: InsightStore | None = store if isinstance(store, InsightStore) else None
        self._policy_arg = policy if policy is not None else self.settings.policy
        self._policy: Policy | None = policy if isinstance(policy, Policy) else None
        self.keys = keys or self.settings.key_builder()
        self.on_decision = on_decision
        self.on_learning_event = on_learning_event
        self._lock = threading.Lock()
        self._writes = threading.Lock()  # the learner's and the hit recorder's store writes
        self._bound = False
        self._reflector = reflector
        self._reranker = reranker
        self._adjudicator = adjudicator
        self._learner: Learner | None = None
        self._retriever: Retriever | None = None
        self._hits: HitRecorder | None = None

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
    def retriever(self) -> Retriever:
        """Search, ``on_store_error`` and re-ranking (no I/O until the first search)."""
        if self._retriever is None:
            policy = self.policy  # resolved outside the lock (it takes the lock itself)
            with self._lock:
                if self._retriever is None:
                    self._retriever = Retriever(
                        self.bound_store, policy.retrieval, policy.on_store_error, self._reranker
                    )
        return self._retriever

    @property
    def adjudicator(self) -> Adjudicator | None:
        if self._adjudicator is None and self.policy.adjudicator.model is not None:
            with self._lock:
                if self._adjudicator is None:
                    self._adjudicator = LlmAdjudicator(self.policy.adjudicator)
        return self._adjudicator

    @property
    def hits(self) -> HitRecorder:
        """Counts retrievals off the request path (needs the store only, not the learner)."""
        if self._hits is None:
            store, flush_s = self.store, self.policy.learning.hit_flush_s
            with self._lock:
                if self._hits is None:
                    self._hits = HitRecorder(store, flush_s=flush_s, write_lock=self._writes)
        return self._hits

    @property
    def learner(self) -> Learner:
        """The background learning loop (created on first use; its thread on first work)."""
        if self._learner is None:
            policy, store = self.policy, self.store
            with self._lock:
                if self._learner is None:
                    reflector = self._reflector or LLMReflector(policy)
                    self._learner = Learner(
                        policy,
                        store,
                        reflector,
                        verdict_check=self._memory_verdict,
                        write_lock=self._writes,
                    )
                    self._learner.on_event = self._learning_event
        return self._learner

    def _learning_event(self, event: LearningEvent) -> None:
        hook = self.on_learning_event
        if hook is not None:
            hook(event)

    def _memory_verdict(self, tenant: str, vector: Any) -> Verdict | None:
        """What the tenant's verdict model confidently says of a key (the learner's check)."""
        vm = self.retriever.verdicts
        return vm.verdict(tenant, vector) if isinstance(vm, ProbeVerdictModel) else None

    def warmup(
        self, *, images: bool = True, wait_for_images: bool = False, tenants: Sequence[str] = ()
    ) -> None:
        """Load the policy, the text model and the store now; with ``images``, start loading the
        image model (or wait for it, when asked or when the key builder waits anyway); fit the
        re-ranker of ``tenants`` (else fitted in the background after their first request).

        Call it at start-up so the first request does not pay for loading."""
        _ = self.policy
        self.keys.text.load()
        self.bound_store()
        self.retriever.warm(tenants)
        if images and self.keys.image is not None:
            if wait_for_images or self.keys.wait_for_image_model:
                self.keys.image.wait()
            else:
                self.keys.image.start_loading()

    # -- learning --------------------------------------------------------------------------------

    def learn(
        self,
        prepared: Prepared,
        response: Any,
        *,
        user: str | None = None,
        session: str | None = None,
        model: str | None = None,
        bucket: str | None = None,
    ) -> bool:
        """Queue the exchange for reflection and learning, off the request path. Never blocks.

        ``response``: the model's answer (a string, a LiteLLM/OpenAI response or its dict).
        ``user``/``session``: who asked (hashed before use) — the poisoning quorum counts distinct
        ones and rate limits apply per user. ``model``: the model that served the request (the
        reflection default). ``bucket``: the rate-limit bucket of an exchange without
        ``user``/``session`` (e.g. its API key), never a supporter; anonymous exchanges without
        one share the tenant's anonymous bucket. Returns False when the exchange was dropped
        (learning disabled, nothing to key on, rate limited, queue full)."""
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
            bucket=bucket,
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
        bucket: str | None = None,
    ) -> bool:
        """As :meth:`learn` (which never blocks: safe to call on the event loop)."""
        return self.learn(
            prepared, response, user=user, session=session, model=model, bucket=bucket
        )

    # -- prepare ---------------------------------------------------------------------------------

    def context(self, messages: Any) -> RequestContext:
        """The request context of OpenAI/LiteLLM messages, turns or a request context."""
        return to_context(messages, self.policy)

    def _keyed(self, messages: Any) -> _Keyed:
        t0 = time.perf_counter()
        ctx = self.context(messages)
        normalize_ms = (time.perf_counter() - t0) * 1000
        return ctx, self.keys.key(ctx), normalize_ms

    def _keyed_searched(
        self, messages: Any, tenant: str, *, defer_native: bool = False
    ) -> tuple[_Keyed, Retrieved | None]:
        """The key and the search; with ``defer_native`` (on aprepare's worker thread) no search
        when the store is natively async: the policy, the store and its binding are resolved
        here, off the event loop, and the search is awaited there."""
        keyed = self._keyed(messages)
        if defer_native and self.retriever.native_async:
            return keyed, None
        return keyed, self.retriever.search(keyed[1], tenant)

    def prepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """Guard one request: OpenAI/LiteLLM ``messages`` (returned rewritten), or a sequence of
        :class:`~echosafe_guard.context.Turn` (or a request context) for which the adapter
        applies ``system_prompt``. Raises an :class:`~echosafe_guard.exceptions.InputError` for
        bad input; store failures follow the policy's ``on_store_error``."""
        t0 = time.perf_counter()
        tenant, mode = check_tenant(tenant), check_mode(mode)
        keyed, found = self._keyed_searched(messages, tenant)
        assert found is not None
        decided = adjudicate(
            self._decide(keyed, found, mode), self.adjudicator, keyed[0].text, self.policy
        )
        return self._finish(messages, keyed, found, decided, tenant, t0)

    async def aprepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """As :meth:`prepare`, never blocking the event loop. Decoding, embedding and the first
        opening of the store run on a worker thread; a store with a native async client (e.g.
        Redis) is then awaited, an embedded one is searched in that same worker thread (one
        thread hop, not two). Re-ranking never reads the store on the request path."""
        t0 = time.perf_counter()
        tenant, mode = check_tenant(tenant), check_mode(mode)
        work = functools.partial(self._keyed_searched, messages, tenant, defer_native=True)
        keyed, found = await asyncio.to_thread(work)
        if found is None:
            found = await self.retriever.asearch(keyed[1], tenant)
        decided = await aadjudicate(
            self._decide(keyed, found, mode), self.adjudicator, keyed[0].text, self.policy
        )
        return self._finish(messages, keyed, found, decided, tenant, t0)

    def _decide(self, keyed: _Keyed, found: Retrieved, mode: Mode | str | None) -> Decision:
        ctx, key, _ = keyed
        p = self.policy
        notes = list(key.notes)
        notes += [f"image not fetched: {s.where}: {s.detail}" for s in ctx.skipped_images]
        if found.note:
            notes.append(found.note)
        return decide(
            found.hits,
            mode=Mode(mode if mode is not None else p.mode),
            block_threshold=p.block_threshold,
            block_confidence=p.block_confidence,
            weak_unsafe_min_similarity=p.weak_unsafe_min_similarity,
            call=found.call,
            p_unsafe=found.p_unsafe,
            store_failed=found.note is not None,
            notes=notes,
        )

    def _finish(
        self,
        messages: Any,
        keyed: _Keyed,
        found: Retrieved,
        decided: tuple[Decision, float],
        tenant: str,
        t0: float,
    ) -> Prepared:
        ctx, key, normalize_ms = keyed
        p = self.policy
        decision, adjudicate_ms = decided
        t3 = time.perf_counter()
        block = render_block(p, found.hits, decision.call, confident=decision.confident)
        if decision.applied and is_messages(messages):
            out = apply_block(messages, block)
        else:
            out = list(messages.turns if isinstance(messages, RequestContext) else messages)
        t4 = time.perf_counter()
        prep = Prepared(
            messages=out,
            insights=tuple(found.hits),
            decision=decision,
            timings=Timings(
                normalize_ms=normalize_ms,
                embed_text_ms=key.text_ms,
                embed_image_ms=key.image_ms,
                search_ms=found.search_ms,
                rerank_ms=found.rerank_ms,
                adjudicate_ms=adjudicate_ms,
                rewrite_ms=(t4 - t3) * 1000,
                total_ms=(t4 - t0) * 1000,
            ),
            tenant=tenant,
            request_hash=ctx.request_hash,
            layout=key.layout.id,
            image_part=key.image_part,
            system_prompt=block,
            key=key.vector,
            context=ctx,
        )
        if found.hits and p.learning.enabled:
            self.hits.record(tenant, [h.insight.id for h in found.hits])
        if self.on_decision is not None:
            try:
                self.on_decision(prep)
            except Exception:
                log.exception("on_decision hook failed (the request goes on)")
        return prep

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Write pending retrieval hits, drain the learning queue (everything accepted is
        processed: each reflection has its own deadline; with a ``timeout`` that passes, what is
        left is counted in ``learner.counters["unprocessed_at_close"]`` and logged), then close
        what the guard opened itself (a store from a path or URL)."""
        if self._hits is not None:
            self._hits.close()
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
