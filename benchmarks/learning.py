"""Benchmark of the learning loop: write throughput, queue latency, request latency with learning
on vs off, and the one-attacker poisoning scenario with the real text embedder.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        python benchmarks/learning.py [--quick] [--n 500] [--out FILE]

``--quick`` is the < 60 s smoke run, start-up included (N 40, 32 requests per phase, 32
attacker and 16 honest exchanges, the latency test on the LocalStore only; its ON/OFF figures
are too short to mean much). Other knobs: ``--threads`` (4), ``--per-phase`` (400),
``--rounds`` (2 ON/OFF pairs), ``--reflect-latency-ms`` (50), ``--attackers`` / ``--honest``
(200 / 200), ``--latency-stores`` (local,redis), ``--torch-threads`` (1), ``--seed``.

Sections of the JSON:

1. ``throughput``: N exchanges (distinct texts, pairwise cosine < 0.85, distinct users) are
   prepared first, then submitted to ``Guard.learn`` as fast as possible; the clock runs from the
   first submit to the end of ``learner.drain()``. Reflection goes through the real
   ``litellm.completion`` path to a scripted provider (``benchscripted/...``, registered through
   ``litellm.custom_provider_map``) that answers a valid insight JSON with 0 ms latency. Once
   into a ``LocalStore`` (fsync per write), once into a ``RedisStore`` on a real redis-server
   8.2 + RediSearch started on loopback (``tests/redis_server.py``, AOF ``everysec``). Counters,
   a per-step breakdown (reflect / admit / hygiene search / upsert / prune, timed by wrapping
   the learner's instances, the package is untouched) and the prune cost against store size.
   The rate limits are lifted here (they are a poisoning defence, not a throughput limit).
2. ``queue_latency`` inside each throughput run: p50/p99 of ``learner.latencies_ms`` (submit →
   processed). Everything is submitted at once, so this is mostly waiting in the queue.
3. ``request_latency``: a closed loop of ``--threads`` threads doing ``prepare`` (+ ``learn``
   when learning is ON) on distinct texts, ``--per-phase`` requests per phase, phases
   ON/OFF/ON/OFF on the store filled by section 1; the provider sleeps ``--reflect-latency-ms``
   (50) per call, like a real model. After an ON phase the learner is drained before the next
   phase starts (so an OFF phase never runs next to the ON backlog; drain time is reported).
   OFF: no ``learn`` calls (the learner thread exists and idles). Per request: the wall time of
   ``prepare`` + ``learn``; also ``Timings.embed_text_ms`` / ``search_ms`` and process CPU.
   Noise floor = (max - min) / mean of the OFF phase medians (2 rounds: |OFF1 - OFF2| / mean);
   pass when |median(ON) - median(OFF)| / median(OFF) <= max(noise floor, 5 %), ON and OFF
   requests pooled.
4. ``poisoning``: tests/unit/test_learning.py::test_poisoning_simulation_one_attacker_cannot_
   flip_a_held_unsafe_request with the real embedder, under the default policy rate limits and
   with the user rate limit lifted (1000/h, as in the test).

Embedder: the real all-MiniLM-L6-v2 (``GuardSettings(images=False).key_builder()``) for every
section. ``--torch-threads`` (default 1) calls ``torch.set_num_threads``: with several request
threads on 2 cores, torch's intra-op threads oversubscribe the CPU (0 leaves torch's default).
Other processes on the machine skew every figure: see ``loadavg`` in each section.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import litellm
from harness import REPO, dist_version, emit, loadavg, log, parse, parser
from learning_phases import request_latency, throughput
from learning_poisoning import poisoning
from learning_workload import (
    BenchReflection,
    Texts,
    distinct_prepared,
    lifted_policy,
    policy_with,
    register_provider,
)

from echosafe_guard.guard import Guard
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.settings import GuardSettings

# -- main ------------------------------------------------------------------------------------------


@contextmanager
def redis_url(tmp: Path) -> Iterator[str]:
    sys.path.insert(0, str(REPO))
    from tests.redis_server import RedisServer, free_port

    srv = RedisServer(tmp / "redis", free_port()).start()
    try:
        yield srv.url
    finally:
        srv.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = parser(__doc__, quick="< 60 s smoke run")
    ap.add_argument("--n", type=int, default=None, help="exchanges per throughput run (500)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--per-phase", type=int, default=None, help="requests per phase (400)")
    ap.add_argument("--rounds", type=int, default=2, help="ON/OFF pairs (2: ON/OFF/ON/OFF)")
    ap.add_argument("--reflect-latency-ms", type=float, default=50.0)
    ap.add_argument("--attackers", type=int, default=None, help="(200)")
    ap.add_argument("--honest", type=int, default=None, help="(200)")
    ap.add_argument("--latency-stores", default=None, help="local,redis (default; --quick: local)")
    ap.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    ap.add_argument("--seed", type=int, default=7)
    args = parse(ap, argv)
    q = args.quick
    args.n = args.n or (40 if q else 500)
    args.per_phase = args.per_phase or (32 if q else 400)
    args.attackers = args.attackers or (32 if q else 200)
    args.honest = args.honest or (16 if q else 200)
    args.latency_stores = [
        s for s in (args.latency_stores or ("local" if q else "local,redis")).split(",") if s
    ]
    return args


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import torch

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    provider = register_provider()
    keys = GuardSettings(images=False).key_builder()
    t = time.perf_counter()
    keys.text.load()
    load_s = time.perf_counter() - t
    log(f"text model loaded in {load_s:.1f} s")
    texts = Texts(args.seed)
    local = LocalStore(tmp / "local")
    chooser = Guard(store=LocalStore(tmp / "chooser"), policy=lifted_policy(args.n), keys=keys)
    t = time.perf_counter()
    prepared, rejected = distinct_prepared(chooser, texts, args.n, 0.85)
    log(f"{args.n} distinct requests prepared in {time.perf_counter() - t:.1f} s")
    out: dict[str, Any] = {"text_model_load_s": round(load_s, 2)}
    out["throughput"] = {
        "candidates_rejected_as_too_similar": rejected,
        "local": throughput("local", local, keys, prepared, provider, texts),
    }
    latency: dict[str, Any] = {}
    with redis_url(tmp) as url:
        from echosafe_guard.memory.redis.redis_store import RedisStore

        redis_store = RedisStore(url)
        try:
            out["throughput"]["redis"] = throughput(
                "redis", redis_store, keys, prepared, provider, texts
            )
            stores = {"local": local, "redis": redis_store}
            for name in args.latency_stores:
                latency[name] = request_latency(name, stores[name], keys, provider, texts, args)
        finally:
            redis_store.close()
    out["request_latency"] = latency
    provider.responder = BenchReflection.mixed
    out["poisoning"] = {
        "default_limits": poisoning(
            "default", keys, provider, load_policy(), args.attackers, args.honest, tmp
        ),
        "user_limit_lifted": poisoning(
            "lifted",
            keys,
            provider,
            policy_with(user_rate_per_hour=1000),
            args.attackers,
            args.honest,
            tmp,
        ),
    }
    if not args.quick:  # beyond the test's scenario: as many attacker accounts as the quorum
        pol = load_policy()
        out["poisoning"]["sybil_quorum_accounts_default_limits"] = poisoning(
            "sybil", keys, provider, pol, args.attackers, args.honest, tmp, pol.learning.quorum
        )
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load0 = loadavg()
    import torch

    header: dict[str, Any] = {
        "benchmark": "learning",
        "quick": args.quick,
        "config": {
            "n": args.n,
            "threads": args.threads,
            "rounds": args.rounds,
            "per_phase": args.per_phase,
            "reflect_latency_ms": args.reflect_latency_ms,
            "attackers": args.attackers,
            "honest": args.honest,
            "latency_stores": args.latency_stores,
            "torch_threads": args.torch_threads or torch.get_num_threads(),
            "seed": args.seed,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "litellm": getattr(litellm, "__version__", None) or dist_version("litellm"),
            "torch": torch.__version__,
            "embedder": "real all-MiniLM-L6-v2 (GuardSettings(images=False).key_builder())",
            "reflection": "litellm.completion -> CustomLLM 'benchscripted' (scripted JSON)",
        },
    }
    with tempfile.TemporaryDirectory(prefix="echosafe-learning-") as d:
        body = run(args, Path(d))
    result = header | body
    result["loadavg_start_end"] = [load0, loadavg()]
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["wall_s_including_imports"] = process_age_s()
    result["threads_alive_at_end"] = sorted(
        {t.name.rstrip("0123456789_") for t in threading.enumerate()}
    )
    emit(result, args.out)
    log(f"done in {result['wall_s']} s")


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter start-up and imports included)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 1)


if __name__ == "__main__":
    main()
    # Everything is written and cleaned up (temp dir, redis-server); skip the interpreter's
    # teardown of litellm/torch, which takes 2-5 s on a loaded machine.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
