"""Sections 1-3 of benchmarks/learning.py: write throughput and queue latency, request latency
with learning on vs off."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import loadavg, log, rel, summary
from learning_workload import (
    ANSWER,
    MODEL,
    BenchReflection,
    StepTimer,
    Texts,
    counter_delta,
    lifted_policy,
    msgs,
    probe_worker_cpu,
    store_size,
)

from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.base import InsightStore

# -- section 1 + 2: throughput and queue latency ------------------------------------------------


def warm_learner(guard: Guard, texts: Texts) -> None:
    """One exchange in another tenant: the learner thread, LiteLLM's first call, the store."""
    prep = guard.prepare(msgs(next(texts)), tenant="warmup")
    guard.learn(prep, ANSWER, user="warmup", model=MODEL)
    guard.learner.drain(60)


def throughput(
    name: str,
    store: InsightStore,
    keys: KeyBuilder,
    prepared: list[Prepared],
    provider: BenchReflection,
    texts: Texts,
) -> dict[str, Any]:
    n = len(prepared)
    provider.latency_s = 0.0
    guard = Guard(store=store, policy=lifted_policy(n), keys=keys)
    guard.bound_store()
    size0 = store_size(store)
    warm_learner(guard, texts)
    learner = guard.learner
    timer = StepTimer()
    written = lambda: learner.counters["new"] + learner.counters["merged"]  # noqa: E731
    learner.reflector = _ReflectProxy(timer.wrap("reflect", learner.reflector.reflect))
    learner.hygiene.admit = timer.wrap("admit", learner.hygiene.admit)  # type: ignore[method-assign]
    learner.hygiene.prune = timer.wrap(  # type: ignore[method-assign]
        "prune", learner.hygiene.prune, mark=lambda: size0 + written()
    )
    store.upsert = timer.wrap("store_upsert", store.upsert)  # type: ignore[method-assign]
    store.search = timer.wrap("store_search", store.search)  # type: ignore[method-assign]
    worker_cpu = probe_worker_cpu(guard)
    before = Counter(learner.counters)
    lat_before = len(learner.latencies_ms)
    load0 = loadavg()
    log(f"{name}: submitting {n} exchanges")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    accepted = sum(
        guard.learn(p, ANSWER, user=f"{name}-user-{i}", model=MODEL) for i, p in enumerate(prepared)
    )
    t_submit = time.perf_counter()
    drained = learner.drain(600)
    t1 = time.perf_counter()
    cpu = time.process_time() - cpu0
    for attr in ("upsert", "search"):
        del store.__dict__[attr]  # back to the class methods (the store is reused later)
    delta = counter_delta(learner.counters, before)
    lats = list(learner.latencies_ms)[lat_before:] if n + lat_before <= 2000 else []
    wrote = delta.get("new", 0) + delta.get("merged", 0)
    elapsed = t1 - t0
    guard.close()
    prune_ms = timer.ms.get("prune", [])
    prune_sizes = timer.marks.get("prune", [])
    log(f"{name}: {wrote} insights in {elapsed:.2f} s ({wrote / elapsed:.1f}/s)")
    return {
        "store": name,
        "exchanges": n,
        "accepted": accepted,
        "drained": drained,
        "elapsed_s": round(elapsed, 3),
        "submit_s": round(t_submit - t0, 4),
        "insights_written": wrote,
        "insights_per_s": round(wrote / elapsed, 2),
        "exchanges_per_s": round(n / elapsed, 2),
        "counters": delta,
        "queue_latency_ms": summary(lats) if lats else "deque (maxlen 2000) overflowed",
        "per_exchange_ms": round(elapsed * 1000 / n, 3),
        "process_cpu_ms_per_exchange": round(cpu * 1000 / n, 3),
        "worker_thread_cpu_ms_per_exchange": summary(worker_cpu),
        "steps_ms": timer.report(),
        "prune_ms_vs_store_size": [
            [s, round(m, 1)] for s, m in zip(prune_sizes, prune_ms, strict=True)
        ],
        "store_size_before_after": [size0, store_size(store)],
        "loadavg_start_end": [load0, loadavg()],
    }


class _ReflectProxy:
    """A Reflector whose ``reflect`` is the timed callable."""

    def __init__(self, reflect: Callable[..., Any]) -> None:
        self.reflect = reflect

    async def areflect(self, exchange: Any) -> Any:  # pragma: no cover - unused by the learner
        raise NotImplementedError


# -- section 3: request latency with learning on vs off -----------------------------------------


def run_phase(guard: Guard, texts: list[str], on: bool, threads: int, tag: str) -> dict[str, Any]:
    rows: list[tuple[float, float, float, float, bool | None]] = []
    barrier = threading.Barrier(threads + 1)
    shares = [texts[i::threads] for i in range(threads)]

    def client(tid: int, share: list[str]) -> None:
        barrier.wait()
        for i, text in enumerate(share):
            t0 = time.perf_counter()
            prep = guard.prepare(msgs(text))
            t1 = time.perf_counter()
            ok = guard.learn(prep, ANSWER, user=f"{tag}-t{tid}-{i}", model=MODEL) if on else None
            t2 = time.perf_counter()
            rows.append(
                (
                    (t2 - t0) * 1000,
                    (t2 - t1) * 1000,
                    prep.timings.search_ms,
                    prep.timings.embed_text_ms,
                    ok,
                )
            )

    workers = [
        threading.Thread(target=client, args=(i, s), name=f"bench-client-{i}")
        for i, s in enumerate(shares)
    ]
    for w in workers:
        w.start()
    learner = guard.learner
    before = Counter(learner.counters)
    load0 = loadavg()
    barrier.wait()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    during = counter_delta(learner.counters, before)
    pending = learner.pending
    drain_s = 0.0
    if on:
        td = time.perf_counter()
        learner.drain(900)
        drain_s = time.perf_counter() - td
    after = counter_delta(learner.counters, before)
    total = [r[0] for r in rows]
    accepted = sum(1 for r in rows if r[4])
    return {
        "phase": tag,
        "learning": "on" if on else "off",
        "requests": len(rows),
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(rows) / wall, 2),
        "process_cpu_ms_per_request": round(cpu * 1000 / len(rows), 2),
        "process_cpu_cores_busy": round(cpu / wall, 2),
        "request_ms": summary(total),
        "learn_call_ms": summary([r[1] for r in rows]) if on else None,
        "search_ms": summary([r[2] for r in rows]),
        "embed_text_ms": summary([r[3] for r in rows]),
        "learn_accepted": accepted if on else None,
        "processed_during_phase": during.get("new", 0) + during.get("merged", 0),
        "pending_at_phase_end": pending,
        "drain_after_phase_s": round(drain_s, 2),
        "counters_phase_and_drain": after,
        "queued_counter_matches_accepted": (after.get("queued", 0) == accepted) if on else None,
        "loadavg_start_end": [load0, loadavg()],
        "_total": total,
        "_embed": [r[3] for r in rows],
        "_search": [r[2] for r in rows],
    }


def spread(meds: list[float]) -> float:
    return (max(meds) - min(meds)) / float(np.mean(meds)) if len(meds) > 1 else 0.0


def request_latency(
    name: str,
    store: InsightStore,
    keys: KeyBuilder,
    provider: BenchReflection,
    texts: Texts,
    args: argparse.Namespace,
) -> dict[str, Any]:
    provider.latency_s = args.reflect_latency_ms / 1000
    policy = lifted_policy(4 * args.per_phase)
    guard = Guard(store=store, policy=policy, keys=keys)
    guard.bound_store()
    # warm-up: the threads' first requests, LiteLLM's first call, the learner thread
    warm = texts.take(4 * args.threads)
    run_phase(guard, warm, True, args.threads, "warmup")
    worker_cpu = probe_worker_cpu(guard)
    size0 = store_size(store)
    phases = []
    for k in range(2 * args.rounds):
        on = k % 2 == 0
        tag = f"{'on' if on else 'off'}{k // 2 + 1}"
        log(f"{name} latency phase {tag}: {args.per_phase} requests, {args.threads} threads")
        res = run_phase(guard, texts.take(args.per_phase), on, args.threads, tag)
        log(
            f"  {tag}: p50 {res['request_ms']['p50']} ms p99 {res['request_ms']['p99']} ms; "
            f"pending {res['pending_at_phase_end']}, drain {res['drain_after_phase_s']} s"
        )
        phases.append(res)
    guard.close()
    pooled = {
        f"{kind}_{field}_ms": summary(
            [x for p in phases if p["learning"] == kind for x in p[f"_{field}"]]
        )
        for kind in ("on", "off")
        for field in ("embed", "search")
    }
    totals = [(p["learning"], p.pop("_total")) for p in phases]
    for p in phases:
        del p["_embed"], p["_search"]
    on_all = [x for kind, t in totals if kind == "on" for x in t]
    off_all = [x for kind, t in totals if kind == "off" for x in t]
    m_on, m_off = float(np.median(on_all)), float(np.median(off_all))
    meds = [float(np.median(t)) for _, t in totals]  # ON, OFF, ON, OFF, ...
    on_meds, off_meds = meds[0::2], meds[1::2]
    noise = spread(off_meds)
    diff = rel(m_on, m_off)
    adjacent = []  # each ON phase against the mean of its neighbouring OFF phases (local drift)
    for k in range(0, len(meds), 2):
        near = [meds[j] for j in (k - 1, k + 1) if 0 <= j < len(meds)]
        adjacent.append(round(100 * rel(meds[k], float(np.mean(near))), 2))
    tolerance = max(noise, 0.05)
    return {
        "store": name,
        "threads": args.threads,
        "requests_per_phase": args.per_phase,
        "reflect_latency_ms": args.reflect_latency_ms,
        "rounds": args.rounds,
        "store_size_at_start_end": [size0, store_size(store)],
        "worker_thread_cpu_ms_per_exchange": summary(worker_cpu),
        "phases": phases,
        "on_ms": summary(on_all),
        "off_ms": summary(off_all),
        "ratio_on_off_p50": round(m_on / m_off, 4),
        "ratio_on_off_p99": round(float(np.percentile(on_all, 99) / np.percentile(off_all, 99)), 4),
        "diff_on_off_p50_pct": round(100 * diff, 2),
        "on_vs_adjacent_off_p50_pct": adjacent,
        **pooled,
        "phase_medians_on_off_ms": [
            [round(x, 2) for x in on_meds],
            [round(x, 2) for x in off_meds],
        ],
        "noise_floor_pct": round(100 * noise, 2),
        "noise_floor_definition": "(max - min) / mean of the OFF phase medians "
        "(2 rounds: |OFF1 - OFF2| / mean)",
        "on_phases_spread_pct": round(100 * spread(on_meds), 2),
        "tolerance_pct": round(100 * tolerance, 2),
        "pass": bool(abs(diff) <= tolerance),
    }
