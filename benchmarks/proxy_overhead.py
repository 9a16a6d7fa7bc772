"""End-to-end latency of a real LiteLLM proxy WITH the echosafe guardrail vs WITHOUT it.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        .venv/bin/python benchmarks/proxy_overhead.py [--quick] [--n 300] \\
        [--upstream-ms 0[,200,...]] [--warmup 20] [--users 100] [--user-rate 1000000] \\
        [--no-learning] [--torch-threads 0] [--seed 0] [--keep-tmp] [--out FILE]

``--quick`` is the < 90 s smoke run (start-up included: 40 requests per proxy, 10 warm-up, one
upstream latency). ``--upstream-ms`` takes one or more comma-separated latencies: each is one
phase, all phases run against the SAME two proxy processes (the request's model alias selects
the scripted upstream's latency), e.g. ``--upstream-ms 0,200`` for the full report.

Set-up, all in a temporary directory, nothing in the repository is touched:

* the store is seeded with the builtin set (156 pairs, 312 items) by
  ``seed_memory(guard, "builtin")`` (what ``echosafe-guard memory seed builtin`` runs) in this
  process, while both proxies start (a LocalStore is shared between processes; warm-up follows
  anyway);
* GUARDED proxy: ``echosafe-guard serve --config cfg.yaml --port P --json`` (adds the guardrail
  and the master key); UNGUARDED proxy: plain ``litellm --config cfg.yaml --port Q`` with the
  same ``model_list``, ``custom_provider_map`` and callbacks, master key from
  ``general_settings.master_key: os.environ/LITELLM_MASTER_KEY``. Same LiteLLM, same venv;
* the upstream is a ``CustomLLM`` written into the temp dir (``bench_upstream.py``, on
  ``PYTHONPATH``): ``bench-<ms>`` models sleep ``<ms>`` (``asyncio.sleep``) and answer with a
  canned text; ``benchup/reflector`` answers the learner's reflection with a valid insight JSON;
* a ``CustomLogger`` in the same module (configured on BOTH proxies) appends every success
  event's guardrail information to a JSONL file: the guard's own ``Timings`` inside the proxy,
  matched to the client's requests by ``x-litellm-call-id``;
* the policy is the builtin ``default`` (mode ``advise``: nothing is blocked, so every request
  reaches the upstream) with ``reflection.model: benchup/reflector``; learning stays ON unless
  ``--no-learning``. The guardrail learns per API-key user, and with the master key LiteLLM
  names every caller ``default_user_id`` (the request's ``user``, sent from a pool of
  ``--users`` ids, is ignored), so the default ``user_rate_per_hour`` of 30 would stop learning
  after 30 requests: ``--user-rate`` (1000000) lifts it so every guarded request is learnt in
  the background, as with many users on their own virtual keys;
* image model: a tiny random-init OpenCLIP tower with ``embed_dim`` 512 (so keys are 896-d like
  the default layout); requests are text only, so it is never run on the request path.

Client: one ``httpx.Client`` (keep-alive), sequential requests. Per phase: ``--warmup`` requests
to each proxy, then ``--n`` prompts, each sent to BOTH proxies back to back, the order
alternating per prompt (G,U / U,G) to cancel drift. Prompts: short questions, medium requests
with context, long pasted texts (~1-2.5 kB) and multi-turn chats; text only.

Reported per phase: p50/p90/p99 of the client-side latency for each proxy, the ratio of medians,
the added median (difference of medians, with a bootstrap 95 % CI, and the median of per-prompt
differences), the guard's in-proxy timings (``total_ms``, ``embed_text_ms``, ``search_ms``,
overhead = total - embed_text - embed_image), the decisions (``x-echosafe-decision``) and each
proxy's CPU time per request (user + system of its process group, from /proc). After
the proxies are stopped, ``Guard.prepare`` is timed in-process on the same prompts with the same
store (seed + what was learnt), policy and embedders (loaded while the proxies start): median
total, embed_text_ms and overhead, with the proxy's torch thread count and with one thread.
``--torch-threads N`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for both proxies (0: torch's
default, one thread per core). The guardrail itself sets torch to one thread when its models
load, unless ``ECHOSAFE_TORCH_THREADS`` says otherwise (see ``echosafe_guard.key.torch_threads``).

Goals (pass flags in ``goals``):

1. ``added_le_embed_plus_3ms``: guarded p50 - unguarded p50 <= median ``embed_text_ms`` + 3 ms.
   ``pass`` uses the guard's own ``embed_text_ms`` inside the proxy (same requests, same
   moment); the flags against the in-process figures (run later, under whatever other load
   the machine then has) are given alongside, with ``outside_prepare_ms`` = added p50 - the
   in-proxy ``total_ms`` p50 (guardrail hooks, LiteLLM logging, the longer system prompt).
2. ``ratio_le_1_05_slow_upstream``: guarded p50 / unguarded p50 <= 1.05 with a slow upstream.
   The issue's goal is for a REAL local model upstream; the scripted upstream sleeping 200 ms
   stands in for it here (checked on phases with ``upstream_ms >= 200``).
3. ``added_p99_le_2x_p50``: guarded p99 - unguarded p99 <= 2 x the added p50, at a 0 ms
   upstream. Each goal's ``figure`` is a ``check`` row, so ``python -m benchmarks all`` lists it.

Other jobs on the 2 cores skew every figure: ``loadavg_start`` / ``loadavg_end`` are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from harness import (
    TINY_CLIP,
    check,
    dist_version,
    emit,
    loadavg,
    log,
    parse,
    parser,
)
from proxy_phases import inprocess_prepare, load_guard, proxy_guard_timings, read_timings, run_phase
from proxy_procs import BINDIR, KEY, Proxy, free_port, start_proxy, wait_ready
from proxy_workload import UPSTREAM

# -- stats ------------------------------------------------------------------------------------


# -- main -------------------------------------------------------------------------------------


def write_setup(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    from importlib import resources

    (tmp / "bench_upstream.py").write_text(UPSTREAM)
    clip = tmp / "echosafe-bench-tiny512.json"
    clip.write_text(json.dumps(TINY_CLIP))
    policy = yaml.safe_load(
        resources.files("echosafe_guard.policies").joinpath("default.yaml").read_text("utf-8")
    )
    policy["reflection"]["model"] = "benchup/reflector"
    policy["learning"]["enabled"] = not args.no_learning
    # With the master key LiteLLM names every caller "default_user_id", so the default 30
    # exchanges/hour per user would stop learning after 30 requests; lift it so every guarded
    # request is learnt, as with many users on their own virtual keys (tenant limit unchanged).
    policy["learning"]["user_rate_per_hour"] = args.user_rate
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    base = {
        "model_list": [
            {"model_name": f"bench-{ms}", "litellm_params": {"model": f"benchup/ms{ms}"}}
            for ms in args.upstream_ms
        ],
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "benchup", "custom_handler": "bench_upstream.handler"}
            ],
            "callbacks": ["bench_upstream.recorder"],
        },
    }
    for sub in ("guarded", "unguarded"):
        (tmp / sub).mkdir()
    # `echosafe-guard serve` adds the guardrail and general_settings.master_key itself.
    (tmp / "guarded" / "cfg.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    plain = {**base, "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}
    (tmp / "unguarded" / "cfg.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ECHOSAFE_STORE": str(tmp / "store"),
        "ECHOSAFE_POLICY": str(tmp / "policy.yaml"),
        "ECHOSAFE_IMAGE_MODEL": clip.stem,
        "ECHOSAFE_IMAGE_MODEL_CONFIG": str(clip),
        "ECHOSAFE_IMAGE_PRETRAINED": "none",
        "PYTHONPATH": str(tmp),
        "LITELLM_MASTER_KEY": KEY,
        **(
            {"OMP_NUM_THREADS": str(args.torch_threads), "MKL_NUM_THREADS": str(args.torch_threads)}
            if args.torch_threads
            else {}
        ),
    }


def goals(phases: list[dict[str, Any]], inproc: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dflt = (inproc or {}).get("as_proxy") or {}
    one = (inproc or {}).get("one_thread") or {}
    embed_in = dflt["embed_text_ms"]["p50"] if dflt else None
    embed_one = one["embed_text_ms"]["p50"] if one else None
    g1 = []
    for ph in phases:
        if "added_p50_ms" not in ph:
            continue
        pg = ph["proxy_guard_timings"]
        embed_px = pg.get("embed_text_ms_p50")
        added = ph["added_p50_ms"]
        row: dict[str, Any] = {
            "upstream_ms": ph["upstream_ms"],
            "added_p50_ms": added,
            "added_p50_ci95_ms": ph["added_p50_ci95_ms"],
        }
        if embed_px is not None:
            row |= {
                "embed_text_p50_ms_inproxy": embed_px,
                "limit_ms": round(embed_px + 3, 3),
                "pass": bool(added <= embed_px + 3),
                "excess_ms": round(added - embed_px - 3, 3),
                "figure": check(added, round(embed_px + 3, 3), digits=3),
                "guard_total_p50_ms_inproxy": pg.get("total_ms_p50"),
                "outside_prepare_ms": round(added - pg.get("total_ms_p50", 0.0), 3),
            }
        if embed_in is not None:
            row |= {
                "embed_text_p50_ms_inprocess": embed_in,
                "pass_with_inprocess_embed": bool(added <= embed_in + 3),
            }
        if embed_one is not None:
            row |= {
                "embed_text_p50_ms_inprocess_one_thread": embed_one,
                "pass_with_inprocess_one_thread_embed": bool(added <= embed_one + 3),
            }
        g1.append(row)
    out["added_le_embed_plus_3ms"] = {
        "goal": "guarded p50 - unguarded p50 <= median embed_text_ms + 3 ms. Primary embed figure: "
        "the guard's own Timings.embed_text_ms inside the guarded proxy, same requests (the "
        "in-process Guard.prepare figures run later, under other load, and are given alongside)",
        "per_phase": g1,
        "pass": all(r.get("pass", False) for r in g1) if g1 else None,
    }
    g3 = [
        {
            "upstream_ms": ph["upstream_ms"],
            "added_p50_ms": ph["added_p50_ms"],
            "added_p99_ms": ph["added_p99_ms"],
            "figure": check(ph["added_p99_ms"], round(2 * ph["added_p50_ms"], 3), digits=3),
        }
        for ph in phases
        if "added_p99_ms" in ph and ph["upstream_ms"] == 0
    ]
    out["added_p99_le_2x_p50"] = {
        "goal": "guarded p99 - unguarded p99 <= 2 x (guarded p50 - unguarded p50), at a 0 ms "
        "upstream (the key window bounds the longest embedding)",
        "per_phase": g3,
        "pass": all(r["figure"]["pass"] for r in g3) if g3 else None,
    }
    g2 = [
        {
            "upstream_ms": ph["upstream_ms"],
            "ratio_p50": ph["ratio_p50"],
            "limit": 1.05,
            "pass": bool(ph["ratio_p50"] <= 1.05),
            "figure": check(ph["ratio_p50"], 1.05),
        }
        for ph in phases
        if "ratio_p50" in ph and ph["upstream_ms"] >= 200
    ]
    out["ratio_le_1_05_slow_upstream"] = {
        "goal": "guarded p50 / unguarded p50 <= 1.05 with a slow upstream. The issue's goal is "
        "for a REAL local model upstream; the scripted upstream sleeping >= 200 ms stands in for "
        "it here.",
        "per_phase": g2,
        "pass": all(r["pass"] for r in g2) if g2 else None,
        **({} if g2 else {"not_measured": "no phase with --upstream-ms >= 200"}),
    }
    return out


def parse_args() -> argparse.Namespace:
    ap = parser(__doc__, quick="< 90 s smoke run (40 prompts)")
    ap.add_argument("--n", type=int, default=None, help="prompts per phase (each to both; 300)")
    ap.add_argument(
        "--upstream-ms",
        default="0",
        help="scripted upstream latency in ms; comma-separated for several phases (0)",
    )
    ap.add_argument("--warmup", type=int, default=None, help="warm-up requests per proxy (20)")
    ap.add_argument("--users", type=int, default=100, help="distinct `user` ids sent (100)")
    ap.add_argument(
        "--user-rate",
        type=int,
        default=1_000_000,
        help="policy learning.user_rate_per_hour (1000000; the builtin default is 30)",
    )
    ap.add_argument("--no-learning", action="store_true", help="policy learning.enabled: false")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for both proxies and the in-process pass (0: torch's default)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs)")
    args = parse(ap)
    args.upstream_ms = [int(x) for x in str(args.upstream_ms).split(",") if x.strip()]
    if args.n is None:
        args.n = 40 if args.quick else 300
    if args.warmup is None:
        args.warmup = 10 if args.quick else 20
    return args


def run_proxies(
    args: argparse.Namespace,
    tmp: Path,
    env: dict[str, str],
    setup: dict[str, Any],
    phases: list[dict[str, Any]],
    rng: random.Random,
    holder: dict[str, Any],
) -> tuple[Proxy, Proxy]:
    """Seed, start both proxies, run every phase; the proxies are always stopped."""
    proxies: list[Proxy] = []
    try:
        pport, gport = free_port(), free_port()
        plain_cmd = [str(BINDIR / "litellm"), "--config", "cfg.yaml", "--host", "127.0.0.1"]
        plain = start_proxy(
            "unguarded",
            [*plain_cmd, "--port", str(pport)],
            tmp / "unguarded",
            env,
            f"http://127.0.0.1:{pport}",
        )
        proxies.append(plain)
        guarded_cmd = [str(BINDIR / "echosafe-guard"), "serve", "--config", "cfg.yaml"]
        guarded = start_proxy(
            "guarded",
            [*guarded_cmd, "--port", str(gport), "--json"],
            tmp / "guarded",
            env,
            f"http://127.0.0.1:{gport}",
        )
        proxies.append(guarded)
        # LocalStore is multi-process (file lock; readers pick up other processes' writes): the
        # guarded proxy may open the store while this process seeds it; warm-up follows anyway.
        log("loading the in-process guard and seeding the store while both proxies start")
        loader = threading.Thread(target=load_guard, args=(env, holder), daemon=True)
        loader.start()
        wait_ready(proxies)
        setup["proxy_ready_s"] = {p.name: p.ready_s for p in proxies}
        loader.join()  # nothing of this process runs during the measurement
        if "seed" not in holder:
            raise RuntimeError(f"seeding failed: {holder.get('error')}")
        setup["seed"] = holder["seed"]
        setup["inprocess_guard_load_s"] = holder["load_s"]
        headers = {"Authorization": f"Bearer {KEY}"}
        limits = httpx.Limits(max_keepalive_connections=4, keepalive_expiry=300)
        with httpx.Client(headers=headers, timeout=120, limits=limits) as client:
            for ms in args.upstream_ms:
                phases.append(
                    run_phase(client, guarded, plain, ms, args.n, args.warmup, args.users, rng)
                )
        time.sleep(1.5)  # let the proxies' async success logging land
        return guarded, plain
    finally:
        t0 = time.perf_counter()
        for p in proxies:
            p.stop()
        setup["proxy_stop_s"] = round(time.perf_counter() - t0, 2)


def main() -> None:
    args = parse_args()
    start, load0 = time.perf_counter(), loadavg()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="echosafe-proxy-bench-"))
    setup: dict[str, Any] = {}
    phases: list[dict[str, Any]] = []
    holder: dict[str, Any] = {}
    try:
        env = write_setup(tmp, args)
        guarded, plain = run_proxies(args, tmp, env, setup, phases, rng, holder)
        rows = read_timings(guarded.timings)
        setup["learner_reflection_calls_logged"] = sum(
            "reflector" in str(r.get("model")) for r in rows.values()
        )
        setup["unguarded_logged_calls"] = len(read_timings(plain.timings))
        for ph in phases:
            ph["proxy_guard_timings"] = proxy_guard_timings(rows, ph.pop("_call_ids"))
        prompts = [m for ph in phases for m in ph.pop("_prompts")]
        log(f"timing Guard.prepare in-process on the {len(prompts)} measured prompts")
        inproc = inprocess_prepare(holder, prompts, min(args.warmup, 20), args.torch_threads)
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    import litellm

    result = {
        "benchmark": "proxy_overhead",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "litellm": getattr(litellm, "__version__", None) or dist_version("litellm"),
        },
        "setup": setup,
        "phases": phases,
        "inprocess_prepare": inproc,
        "goals": goals(phases, inproc),
        "notes": [
            "Latency = client wall time of one non-streaming POST /v1/chat/completions (body "
            "read), sequential, keep-alive, loopback. Each prompt goes to both proxies back to "
            "back, order alternating.",
            "added_p50_ms = p50(guarded) - p50(unguarded); added_p50_ci95_ms: bootstrap; "
            "paired_diff_ms: per-prompt guarded - unguarded.",
            "proxy_guard_timings: the guardrail's Timings (aprepare, embedding on a worker "
            "thread) logged by a CustomLogger in the guarded proxy; overhead = total - "
            "embed_text - embed_image.",
            "inprocess_prepare: sync Guard.prepare in the benchmark process after the proxies "
            "stopped, same store (seed + learnt), policy, embedders and prompts.",
            "The guarded proxy also learns (post-call hook -> background reflection through "
            "benchup/reflector, 0 ms) unless --no-learning; that CPU is part of its cost.",
            "The ratio goal is stated for a real local model upstream; the scripted upstream "
            "sleeping upstream_ms stands in for it.",
        ],
        "wall_s": round(time.perf_counter() - start, 1),
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
