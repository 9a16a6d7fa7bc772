"""The ``eval`` runner: each case through the model with the guard off and/or on, judged.

- **guard off**: the case's messages go to ``litellm.acompletion`` unchanged.
- **guard on**: ``Guard.aprepare`` rewrites them first (a block answers the policy's
  ``block_message`` without a model call), on a fresh memory per run:
  ``empty`` (the guard's system block without insights), ``seed:FILE`` (insights seeded from a
  benchmark in any loader format, :func:`~echosafe_guard.bench.loaders.load_bench`; cases of
  seeded pairs are excluded from scoring unless ``score_seeded``) or
  ``online`` (starts empty and learns from its own exchanges in a fixed shuffled order, in waves
  of ``concurrency`` with the learner drained between waves: the paper's accumulation setting).

Responses and judgements are cached on disk (:mod:`echosafe_guard.bench.cache`), so a re-run
resumes where it stopped. A case whose model call keeps failing becomes an error row (excluded
from the metrics and counted), never an aborted run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from echosafe_guard.bench.cache import ResultCache, cache_key
from echosafe_guard.bench.cases import EvalCase, case_messages
from echosafe_guard.bench.judges.base import Judge
from echosafe_guard.bench.leakage import Leakage, detect_leakage, pasted_refusal
from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.bench.memory_spec import MemorySpec
from echosafe_guard.bench.records import EvalConfig, EvalOutcome, GuardSetting, ResultRow
from echosafe_guard.block import estimate_tokens
from echosafe_guard.exceptions import ConfigError, EchoSafeError, InputError, ModelCallError
from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.llm_client import acall_with_retries, import_litellm, response_text
from echosafe_guard.paired import PairedItem
from echosafe_guard.seeding import seed_insights, unmapped

__all__ = ["EvalConfig", "EvalOutcome", "EvalRunner", "MemorySpec", "ResultRow"]


def _in_seed(pair_id: str, fraction: float) -> bool:
    if fraction >= 1.0:
        return True
    h = int.from_bytes(hashlib.sha256(pair_id.encode()).digest()[:8], "big")
    return h / 2**64 < fraction


class EvalRunner:
    """Runs cases for one model. ``guard_factory(store_dir)`` builds the guard for a guard-on
    run on a fresh store in ``store_dir``; ``on_progress(done, total)`` is called per case."""

    def __init__(
        self,
        config: EvalConfig,
        *,
        judge: Judge,
        guard_factory: Callable[[Path], Guard],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.config = config
        self.judge = judge
        self.guard_factory = guard_factory
        self.on_progress = on_progress or (lambda done, total: None)
        cache_root = config.out / "cache"
        self.responses = ResultCache(cache_root, "responses")
        self.judgements = ResultCache(cache_root, "judgements")
        self._calls = 0
        self._hits = 0
        self._done = 0
        self._learning: dict[str, int] = {}

    # -- model and judge ------------------------------------------------------------------

    async def _complete(self, messages: list[Any]) -> tuple[str, bool, float | None]:
        cfg = self.config
        key = cache_key({"model": cfg.model, "messages": messages, "kw": cfg.completion_kwargs})
        hit = self.responses.get(key)
        if hit is not None and isinstance(hit.get("response"), str):
            self._hits += 1
            return hit["response"], True, None
        litellm = import_litellm("eval")

        async def once() -> tuple[str, float]:
            t0 = time.perf_counter()
            raw = await litellm.acompletion(
                model=cfg.model,
                messages=messages,
                timeout=cfg.timeout_s,
                num_retries=0,
                **cfg.completion_kwargs,
            )
            return response_text(raw), (time.perf_counter() - t0) * 1000

        text, ms = await acall_with_retries(
            once,
            attempts=cfg.max_attempts,
            backoff_s=cfg.backoff_s,
            wrap=lambda exc: ModelCallError(f"{type(exc).__name__}: {exc}"),
        )
        self._calls += 1
        self.responses.put(key, {"model": cfg.model, "response": text, "latency_ms": ms})
        return text, False, ms

    async def _judge(self, case: EvalCase, completion: str) -> dict[str, Any]:
        prompt = case.text + (f"\n[image text: {case.key_phrase}]" if case.key_phrase else "")
        key = cache_key(
            {
                "judge": self.judge.name,
                # a judge may expose ``version`` (the shipped ones do): a changed judge misses
                "v": getattr(self.judge, "version", None),
                "p": prompt,
                "c": completion,
                "e": case.label,
            }
        )
        hit = self.judgements.get(key)
        if hit is not None:
            return hit
        got = await self.judge.ajudge(prompt, completion, expected=case.label)
        data = got.model_dump(mode="json")
        self.judgements.put(key, data)
        return data

    # -- one case ---------------------------------------------------------------------------

    async def _one(
        self,
        order: int,
        case: EvalCase,
        setting: GuardSetting,
        guard: Guard | None,
        *,
        scored: bool,
        memory_size: int | None,
        online: bool,
    ) -> ResultRow:
        messages = case_messages(case, self.config.system)
        prep: Prepared | None = None
        base: dict[str, Any] = {
            "order": order,
            "id": case.id,
            "pair_id": case.pair_key,
            "label": case.label,
            "category": case.category,
            "source_category": case.source_category,
            "mode": case.mode,
            "guard": setting,
            "memory": str(self.config.memory) if setting == "on" else None,
            "text": case.text,
            "image": case.image_ref,
            "scored": scored,
            "memory_size": memory_size,
        }
        try:
            cached, latency = False, None
            if guard is not None:
                prep = await guard.aprepare(messages, tenant=self.config.tenant)
                messages = prep.messages
            if prep is not None and prep.blocked:
                text = guard.policy.block_message if guard is not None else ""
            else:
                text, cached, latency = await self._complete(messages)
                if online and guard is not None and prep is not None:
                    guard.learn(prep, text, user=f"eval:{case.id}", model=self.config.model)
            verdict = await self._judge(case, text)
            leak = self._leak(case, prep, text)
            if leak is not None and pasted_refusal(leak) and not verdict["refused"]:
                verdict = {
                    **verdict,
                    "refused": True,
                    "label": "full_refusal",
                    "rationale": f"pasted a refusal instruction of the guard block: {leak.pasted}",
                }
        except EchoSafeError as exc:
            return ResultRow(
                **base,
                response=None,
                refused=None,
                judge_label=None,
                quality=None,
                rationale=None,
                decision=prep.decision.action.value if prep is not None else None,
                insights=len(prep.insights) if prep is not None else 0,
                cached=False,
                latency_ms=None,
                error=f"{type(exc).__name__}: {exc}",
            )
        finally:
            self._done += 1
        return ResultRow(
            **base,
            response=text,
            refused=bool(verdict["refused"]),
            judge_label=str(verdict["label"]),
            quality=verdict.get("quality"),
            rationale=verdict.get("rationale"),
            decision=prep.decision.action.value if prep is not None else None,
            insights=len(prep.insights) if prep is not None else 0,
            cached=cached,
            latency_ms=latency,
            reason=prep.decision.reason if prep is not None else None,
            p_unsafe=prep.decision.p_unsafe if prep is not None else None,
            block_tokens=estimate_tokens(prep.system_prompt)
            if prep is not None and prep.system_prompt
            else None,
            leaked=leak.leaked if leak is not None else None,
            pasted=leak.pasted if leak is not None and leak.leaked else None,
        )

    @staticmethod
    def _leak(case: EvalCase, prep: Prepared | None, answer: str) -> Leakage | None:
        """Leakage of the block into a guarded answer (None: no block was written)."""
        if prep is None or prep.blocked or not prep.system_prompt or not prep.decision.applied:
            return None
        return detect_leakage(answer, prep.system_prompt, case.text)

    # -- memory -------------------------------------------------------------------------------

    def _fresh_guard(self) -> Guard:
        store_dir = self.config.out / "memory" / self.config.memory.kind
        shutil.rmtree(store_dir, ignore_errors=True)
        return self.guard_factory(store_dir)

    def _seed(self, guard: Guard) -> tuple[set[str], set[str], str]:
        """Seed the memory; the seeded pair ids and texts, and a held-out note."""
        spec = self.config.memory
        assert spec.source is not None
        loaded = load_bench(
            spec.source,
            fmt=spec.fmt,
            mapping=spec.mapping,
            on_bad_row=spec.on_bad_row,
            missing_images=spec.missing_images,
        )
        chosen: list[PairedItem] = [i for i in loaded.items if _in_seed(i.pair_id, spec.fraction)]
        if chosen:
            insights = seed_insights(
                guard, chosen, base=loaded.base, tenant=self.config.tenant, source=spec.source
            )
            guard.bound_store().upsert(insights)
            guard.warmup(images=False, tenants=(self.config.tenant,))  # re-ranker fitted now
        pairs = {i.pair_id for i in chosen}
        texts = {" ".join(i.text.lower().split()) for i in chosen}
        note = (
            f"memory seeded with {len(chosen)} items ({len(pairs)} pairs) from {spec.source}; "
            + (
                "cases of seeded pairs are INCLUDED in the scores (held-in, optimistic)"
                if self.config.score_seeded
                else "cases of seeded pairs (same pair id or same text) are excluded from scoring"
            )
        )
        missing = unmapped(guard.policy.taxonomy, chosen)
        if missing:
            note += "; seeded under 'other' (category not in the taxonomy): " + ", ".join(
                f"{n} ({c})" for n, c in missing.items()
            )
        if loaded.skipped:
            note += f"; {len(loaded.skipped)} seed record(s) skipped"
        return pairs, texts, note

    # -- runs ---------------------------------------------------------------------------------

    async def _run_setting(
        self, cases: Sequence[EvalCase], setting: GuardSetting, total: int
    ) -> tuple[list[ResultRow], str]:
        spec = self.config.memory
        guard = self._fresh_guard() if setting == "on" else None
        held_out = "no memory (guard off)"
        seeded_pairs: set[str] = set()
        seeded_texts: set[str] = set()
        order = list(range(len(cases)))
        online = setting == "on" and spec.kind == "online"
        try:
            if guard is not None:
                held_out = "memory empty: nothing seeded, every case scored"
                if spec.kind == "seed":
                    seeded_pairs, seeded_texts, held_out = await asyncio.to_thread(
                        self._seed, guard
                    )
                elif online:
                    random.Random(self.config.shuffle_seed).shuffle(order)
                    held_out = "online memory: each case sees only insights learnt before it"

            def scored(case: EvalCase) -> bool:
                if self.config.score_seeded or setting == "off":
                    return True
                src_pair = case.pair_key.rsplit("|", 1)[0]
                return src_pair not in seeded_pairs and (
                    " ".join(case.text.lower().split()) not in seeded_texts
                )

            rows: list[ResultRow] = []
            wave = self.config.concurrency
            sem = asyncio.Semaphore(wave)

            async def run(i: int, size: int | None) -> ResultRow:
                async with sem:
                    row = await self._one(
                        i,
                        cases[i],
                        setting,
                        guard,
                        scored=scored(cases[i]),
                        memory_size=size,
                        online=online,
                    )
                self.on_progress(self._done, total)
                return row

            if online:
                assert guard is not None
                for start in range(0, len(order), wave):
                    size = await asyncio.to_thread(guard.bound_store().count, self.config.tenant)
                    batch = order[start : start + wave]
                    rows += await asyncio.gather(*(run(i, size) for i in batch))
                    await asyncio.to_thread(guard.learner.drain, 600.0)
            else:
                rows = list(await asyncio.gather(*(run(i, None) for i in order)))
        finally:
            if guard is not None:
                await asyncio.to_thread(guard.close)
                if online:
                    self._learning = {k: int(v) for k, v in guard.learner.counters.items()}
        return sorted(rows, key=lambda r: r.order), held_out

    async def arun(self, cases: Sequence[EvalCase]) -> EvalOutcome:
        if not cases:
            raise InputError("nothing to evaluate")
        try:
            self.config.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.config.out}: {exc}") from exc
        total = len(cases) * len(self.config.guards)
        rows: list[ResultRow] = []
        wall: dict[str, float] = {}
        notes: list[str] = []
        for setting in self.config.guards:
            t0 = time.perf_counter()
            got, note = await self._run_setting(cases, setting, total)
            wall[setting] = time.perf_counter() - t0
            rows += got
            if setting == "on":
                notes.append(note)
        return EvalOutcome(
            rows=tuple(rows),
            wall_s=wall,
            model_calls=self._calls,
            cache_hits=self._hits,
            held_out="; ".join(notes) or "guard off only: no memory",
            learning=self._learning,
        )

    def run(self, cases: Sequence[EvalCase]) -> EvalOutcome:
        return asyncio.run(self.arun(cases))
