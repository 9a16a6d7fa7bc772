"""Benchmark what observability costs per request (spans, metrics, audit log).

    python benchmarks/observability.py [--quick] [--repeats 3000] [--out FILE]

Target: with observability off (``observability.enabled: false``: nothing is attached to the
guard) a request costs < 0.1 ms more than a guard that never heard of observability; so does a
guard with observability on but every part switched off. Measured two ways, one JSON:

* ``prepare_ms``: ``Guard.prepare`` end to end, guards interleaved request by request (same
  prompts, same order), medians; the key is the tests' cheap hashing embedder so the guard's
  own path is not drowned by a model forward (the measured cost does not depend on the key);
* ``hook_us``: ``Observability.decision(prep)`` alone, per configuration (metrics, tracing
  without an SDK, tracing with the SDK and an in-memory exporter, the audit log queue, all).

Everything else (the audit writer's fsync, span export) runs off the request path.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import REPO, check, emit, loadavg, log, median, parse, parser, summary
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.observability import FileAuditSink, GuardMetrics, Observability, observe
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Policy
from echosafe_guard.prepared import Prepared
from echosafe_guard.seeding import seed_memory

DIM = 384
NOTES = [
    "prepare_ms: per-request medians over interleaved guards (none, off, parts_off), then "
    "(none_on, on) in a second loop; delta = median(guard) - median(its none). 'on' = metrics + "
    "tracing (no SDK: no-op API) + the audit queue (file sink, fsync off the path); its delta "
    "includes the audit writer thread's GIL time, which grows with machine load.",
    "hook_us: microseconds per Observability.decision(prep) call, median of batches.",
    "The key is the tests' bag-of-words hashing embedder (384-d) so prepare is ~1 ms.",
]


def policy(**obs: Any) -> Policy:
    base = load_policy()
    audit = base.observability.audit.model_copy(update=obs.pop("audit", {}))
    return base.model_copy(
        update={"observability": base.observability.model_copy(update=obs | {"audit": audit})}
    )


def make_guard(store: Path, pol: Policy) -> Guard:
    sys.path.insert(0, str(REPO))
    from tests.conftest import FakeTextEmbedder  # the tests' hashing key: cheap, deterministic

    return Guard(store=LocalStore(store), policy=pol, keys=KeyBuilder(FakeTextEmbedder(DIM), None))


def prepare_overhead(tmp: Path, store: Path, prompts: list[str], repeats: int) -> dict[str, Any]:
    """``Guard.prepare`` per configuration, guards interleaved request by request."""
    configs: dict[str, Policy] = {
        "none": load_policy(),
        "off": policy(enabled=False),
        "parts_off": policy(tracing=False, metrics=False, audit={"enabled": False}),
        "on": policy(),
    }
    guards: dict[str, Guard] = {}
    observers: list[Observability] = []
    for name, pol in configs.items():
        g = guards[name] = make_guard(store, pol)
        g.warmup(images=False, tenants=["default"])
        if name != "none":
            sinks = [FileAuditSink(tmp / f"audit-{name}.jsonl")]
            obs = observe(g, registry=CollectorRegistry(), sinks=sinks)
            if obs is not None:
                observers.append(obs)
    assert guards["off"].on_decision is None and guards["parts_off"].on_decision is None
    times: dict[str, list[float]] = {n: [] for n in [*guards, "none_on"]}
    # "on" runs in its own loop against its own baseline: its audit writer thread would
    # otherwise take the GIL during the other guards' requests
    for order in (["none", "off", "parts_off"], ["none", "on"]):
        into = "none_on" if "on" in order else "none"
        for i in range(repeats + 50):
            msgs = [{"role": "user", "content": prompts[i % len(prompts)]}]
            for name in order if i % 2 else reversed(order):
                t0 = time.perf_counter()
                guards[name].prepare(msgs)
                if i >= 50:  # warm-up
                    key = into if name == "none" else name
                    times[key].append((time.perf_counter() - t0) * 1000)
    for obs in observers:
        obs.close()
    for g in guards.values():
        g.close()
    base, base_on = median(times["none"]), median(times["none_on"])
    deltas = {n: round(median(times[n]) - base, 4) for n in ("off", "parts_off")}
    deltas["on"] = round(median(times["on"]) - base_on, 4)
    return {"prepare_ms": {n: summary(v) for n, v in times.items()}, "delta_vs_none_ms": deltas}


def hook_costs(tmp: Path, prep: Prepared, n: int) -> dict[str, float]:
    """Microseconds per ``Observability.decision`` call, per configuration."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    no_audit = {"enabled": False}
    cfgs: dict[str, tuple[Policy, dict[str, Any]]] = {
        "metrics": (policy(tracing=False, audit=no_audit), {}),
        "tracing_noop": (policy(metrics=False, audit=no_audit), {}),
        "tracing_sdk": (
            policy(metrics=False, audit=no_audit),
            {"tracer": provider.get_tracer("bench")},
        ),
        "audit_queue": (policy(metrics=False, tracing=False), {}),
        "all_noop_tracer": (policy(), {}),
    }
    out: dict[str, float] = {}
    for name, (pol, kw) in cfgs.items():
        obs = Observability(
            pol,
            sinks=[FileAuditSink(tmp / f"hook-{name}.jsonl", fsync=False)],
            metrics=GuardMetrics(CollectorRegistry()),
            **kw,
        )
        batches = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(n):
                obs.decision(prep)
            batches.append((time.perf_counter() - t0) / n * 1e6)
            exporter.clear()
            obs.flush()
        out[name] = round(median(batches), 2)
        obs.close()
    return out


def main() -> None:
    ap = parser(__doc__, quick="a < 60 s smoke run")
    ap.add_argument("--repeats", type=int, default=None)
    args = parse(ap)
    repeats = args.repeats or (300 if args.quick else 3000)
    tmp = Path(tempfile.mkdtemp(prefix="echosafe-obs-bench-"))
    store = tmp / "store"
    seed_guard = make_guard(store, load_policy())
    seed_memory(seed_guard, "builtin")
    rows = REPO / "echosafe_guard/data/builtin_pairs.jsonl"
    prompts = [json.loads(x)["text"] + " Thanks!" for x in rows.read_text().splitlines()]
    log(f"{len(prompts)} prompts, {repeats} requests per guard")
    got = prepare_overhead(tmp, store, prompts, repeats)
    seed_guard.warmup(images=False, tenants=["default"])
    prep = seed_guard.prepare([{"role": "user", "content": prompts[0]}])
    seed_guard.close()
    hooks = hook_costs(tmp, prep, 200 if args.quick else 2000)
    d = got["delta_vs_none_ms"]
    emit(
        {
            "benchmark": "observability",
            "quick": bool(args.quick),
            "repeats": repeats,
            **got,
            "hook_us": hooks,
            "targets": {
                "off_overhead_ms": check(max(d["off"], 0.0), 0.1),
                "parts_off_overhead_ms": check(max(d["parts_off"], 0.0), 0.1),
            },
            "loadavg": loadavg(),
            "notes": NOTES,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
