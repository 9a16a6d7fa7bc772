"""The measurement of benchmarks/proxy_overhead.py: one phase of prompts sent to both proxies,
the guard's own timings read back, and prepare() timed in process."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from harness import boot_ci, loadavg, log, pct, summary
from proxy_procs import HEADER, Proxy, group_cpu_s
from proxy_workload import make_prompt

# -- measurement ------------------------------------------------------------------------------


@dataclass
class Shot:
    ms: float
    status: int
    call_id: str | None
    decision: str | None


def send(
    client: httpx.Client, p: Proxy, model: str, messages: list[dict[str, str]], user: str
) -> Shot:
    body = {"model": model, "messages": messages, "user": user, "max_tokens": 256}
    t0 = time.perf_counter()
    res = client.post(f"{p.url}/v1/chat/completions", json=body)
    _ = res.content
    ms = (time.perf_counter() - t0) * 1000
    if res.status_code != 200:
        log(f"{p.name}: HTTP {res.status_code}: {res.text[:300]}")
    return Shot(ms, res.status_code, res.headers.get("x-litellm-call-id"), res.headers.get(HEADER))


def read_timings(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out.setdefault(str(row.get("call_id")), row)
    return out


def run_phase(
    client: httpx.Client,
    guarded: Proxy,
    plain: Proxy,
    upstream_ms: int,
    n: int,
    warmup: int,
    users: int,
    rng: random.Random,
) -> dict[str, Any]:
    model = f"bench-{upstream_ms}"
    log(f"phase upstream {upstream_ms} ms: warm-up {warmup} per proxy")
    for i in range(warmup):
        msgs = make_prompt(rng)[1]
        for p in (guarded, plain) if i % 2 == 0 else (plain, guarded):
            send(client, p, model, msgs, f"bench-user-{rng.randrange(users)}")
    prompts = [make_prompt(rng) for _ in range(n)]
    shots: dict[str, list[Shot]] = {"guarded": [], "unguarded": []}
    t0 = time.perf_counter()
    load0 = loadavg()
    cpu0 = {p.name: group_cpu_s(p.proc.pid) for p in (guarded, plain)}
    for i, (_kind, msgs) in enumerate(prompts):
        user = f"bench-user-{rng.randrange(users)}"
        order = (guarded, plain) if i % 2 == 0 else (plain, guarded)
        for p in order:
            key = "guarded" if p is guarded else "unguarded"
            shots[key].append(send(client, p, model, msgs, user))
        if (i + 1) % max(n // 5, 1) == 0:
            log(f"  {i + 1}/{n} prompts")
    wall = time.perf_counter() - t0
    cpu = {p.name: (group_cpu_s(p.proc.pid) - cpu0[p.name]) * 1000 / n for p in (guarded, plain)}
    g_ok = [s.ms for s in shots["guarded"] if s.status == 200]
    u_ok = [s.ms for s in shots["unguarded"] if s.status == 200]
    pairs = [
        g.ms - u.ms
        for g, u in zip(shots["guarded"], shots["unguarded"], strict=True)
        if g.status == 200 and u.status == 200
    ]
    decisions: dict[str, int] = {}
    for s in shots["guarded"]:
        d = (s.decision or "<no header>").split(";")[0]
        decisions[d] = decisions.get(d, 0) + 1
    kinds: dict[str, int] = {}
    for k, _ in prompts:
        kinds[k] = kinds.get(k, 0) + 1
    chars = [sum(len(m["content"]) for m in msgs) for _, msgs in prompts]
    gs, us = summary(g_ok), summary(u_ok)
    out: dict[str, Any] = {
        "upstream_ms": upstream_ms,
        "n_prompts": n,
        "wall_s": round(wall, 2),
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
        "prompts": {"kinds": kinds, "chars": summary([float(c) for c in chars])},
        "guarded_ms": gs,
        "unguarded_ms": us,
        "errors": {
            "guarded": sum(s.status != 200 for s in shots["guarded"]),
            "unguarded": sum(s.status != 200 for s in shots["unguarded"]),
        },
        "decisions": decisions,
        "proxy_cpu_ms_per_request": {
            "guarded": round(cpu["guarded"], 2),
            "unguarded": round(cpu["unguarded"], 2),
            "added": round(cpu["guarded"] - cpu["unguarded"], 2),
        },
    }
    if g_ok and u_ok:
        added = gs["p50"] - us["p50"]
        out |= {
            "ratio_p50": round(gs["p50"] / us["p50"], 4),
            "added_p50_ms": round(added, 3),
            "added_p50_ci95_ms": boot_ci(g_ok, u_ok, np.random.default_rng(upstream_ms)),
            "added_p99_ms": round(gs["p99"] - us["p99"], 3),
            "paired_diff_ms": summary(pairs),
        }
    out["_call_ids"] = [s.call_id for s in shots["guarded"] if s.call_id]
    out["_prompts"] = [msgs for _, msgs in prompts]
    return out


def proxy_guard_timings(rows: dict[str, dict[str, Any]], call_ids: list[str]) -> dict[str, Any]:
    """The guard's own Timings inside the guarded proxy, for the measured requests."""
    cols: dict[str, list[float]] = {}
    found = 0
    for cid in call_ids:
        row = rows.get(cid)
        if not row or not row.get("guard"):
            continue
        t = row["guard"][0].get("timings_ms") or {}
        if not t:
            continue
        found += 1
        for k, v in t.items():
            cols.setdefault(k, []).append(float(v))
        over = t["total_ms"] - t.get("embed_text_ms", 0.0) - t.get("embed_image_ms", 0.0)
        cols.setdefault("overhead_ms", []).append(over)
    return {
        "matched": found,
        "of": len(call_ids),
        **{f"{k}_p50": pct(v, 50) for k, v in cols.items()},
        "total_ms": summary(cols.get("total_ms", [])),
        "embed_text_ms": summary(cols.get("embed_text_ms", [])),
        "search_ms": summary(cols.get("search_ms", [])),
        "overhead_ms": summary(cols.get("overhead_ms", [])),
    }


def load_guard(env: dict[str, str], holder: dict[str, Any]) -> None:
    """Build the in-process guard (same store, policy, embedders as the proxy), load its models
    and seed the store with ``seed_memory(guard, "builtin")`` (what ``echosafe-guard memory seed
    builtin`` runs). On a thread while both proxies start: one torch start-up fewer than the CLI
    and the later in-process timing pays no loading."""
    try:
        from echosafe_guard.guard import Guard
        from echosafe_guard.seeding import seed_memory
        from echosafe_guard.settings import GuardSettings

        t0 = time.perf_counter()
        guard = Guard(settings=GuardSettings.from_env(env))
        guard.warmup()
        holder["guard"], holder["load_s"] = guard, round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        report = seed_memory(guard, "builtin", tenant="default")
        holder["seed"] = {**report.__dict__, "seed_s": round(time.perf_counter() - t1, 2)}
    except Exception as exc:  # raised again by the caller
        holder["error"] = f"{type(exc).__name__}: {exc}"


def inprocess_prepare(
    holder: dict[str, Any], prompts: list[list[dict[str, str]]], warmup: int, torch_threads: int
) -> dict[str, Any]:
    """Sync ``Guard.prepare`` in this process on the measured prompts, after the proxies stopped:
    ``as_proxy`` with the proxy's torch thread count (torch's default unless --torch-threads),
    then ``one_thread``."""
    if "guard" not in holder:
        return {"error": holder.get("error", "guard not loaded")}
    import torch

    guard = holder["guard"]
    default_threads = torch.get_num_threads()
    as_proxy = torch_threads or default_threads
    out: dict[str, Any] = {"load_s": holder["load_s"], "torch_threads_default": default_threads}
    passes = [("as_proxy", as_proxy)] + ([("one_thread", 1)] if as_proxy != 1 else [])
    try:
        for name, threads in passes:
            torch.set_num_threads(threads)
            for msgs in prompts[:warmup]:
                guard.prepare(msgs)
            total, embed, over = [], [], []
            for msgs in prompts:
                t = guard.prepare(msgs).timings
                total.append(t.total_ms)
                embed.append(t.embed_text_ms)
                over.append(t.total_ms - t.embed_text_ms - t.embed_image_ms)
            out[name] = {
                "torch_threads": threads,
                "loadavg_end": loadavg(),
                "total_ms": summary(total),
                "embed_text_ms": summary(embed),
                "overhead_ms": summary(over),
            }
        out["store_insights_default_tenant"] = sum(1 for _ in guard.store.iter_insights("default"))
        out["store_learnt_insights"] = sum(
            1
            for i in guard.store.iter_insights("default")
            if i.provenance.source.value == "reflection"
        )
    finally:
        torch.set_num_threads(default_threads)
        guard.close(timeout=10)
    if "one_thread" not in out:
        out["one_thread"] = out["as_proxy"]
    return out
