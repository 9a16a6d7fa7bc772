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
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import ScoredInsight, SearchFilter, Verdict
from echosafe_guard.messages import RequestContext, build_context
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode, Policy, StoreErrorPolicy
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

    def _search(self, key: ContextKey, tenant: str) -> tuple[list[ScoredInsight], str | None]:
        p = self.policy
        if key.is_zero:
            return [], None
        try:
            hits = self.bound_store().search(
                key.vector,
                tenant=tenant,
                k=p.retrieval.k,
                min_score=p.retrieval.min_similarity,
                filters=SearchFilter(),
            )
        except KeyLayoutMismatchError:
            raise
        except StoreError as exc:
            if p.on_store_error is StoreErrorPolicy.FAIL_CLOSED:
                if isinstance(exc, StoreUnavailableError):
                    raise
                raise StoreUnavailableError(f"insight store failed (fail_closed): {exc}") from exc
            return [], f"store unavailable (fail_open): {exc}"
        return hits, None

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

    def prepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """Guard one request. Raises an :class:`~echosafe_guard.exceptions.InputError` for bad
        messages; store failures follow the policy's ``on_store_error``."""
        t0 = time.perf_counter()
        ctx = self.context(messages)
        t1 = time.perf_counter()
        key = self.keys.key(ctx)
        return self._finish(messages, ctx, key, tenant, mode, t0, t1)

    async def aprepare(
        self, messages: Any, *, tenant: str = "default", mode: Mode | str | None = None
    ) -> Prepared:
        """As :meth:`prepare`; embedding and search run off the event loop."""
        t0 = time.perf_counter()
        ctx = self.context(messages)
        t1 = time.perf_counter()
        key = await asyncio.to_thread(self.keys.key, ctx)
        return await asyncio.to_thread(self._finish, messages, ctx, key, tenant, mode, t0, t1)

    def _finish(
        self,
        messages: Any,
        ctx: RequestContext,
        key: ContextKey,
        tenant: str,
        mode: Mode | str | None,
        t0: float,
        t1: float,
    ) -> Prepared:
        p = self.policy
        run_mode = Mode(mode) if mode is not None else p.mode
        t2 = time.perf_counter()
        hits, store_note = self._search(key, tenant)
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
            normalize_ms=(t1 - t0) * 1000,
            embed_text_ms=key.text_ms,
            embed_image_ms=key.image_ms,
            search_ms=(t3 - t2) * 1000,
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
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close what the guard opened itself (a store it created from a path or URL)."""
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
