"""Every figure of the project next to its limit, measured in one run.

    HF_HUB_OFFLINE=1 python -m benchmarks all [--quick] [--json] [--only a,b] [--skip a,b]
        [--timeout S] [--out FILE]

``all`` measures the baselines in this process first (same machine, same minute):

* ``embedder``: the bare text forward of the default key on torch and on ONNX Runtime (the
  default backend), single text and a batch of 16, interleaved; ONNX / torch <= 1/3;
* ``store_query``: the bare ``LocalStore`` top-10 on clustered synthetic keys of the default
  layout's width (no guard, no embedding);
* ``unguarded_call``: a LiteLLM ``acompletion`` with a mocked answer and no guard (the
  framework's own cost, the floor every guarded call sits on);
* ``concurrency``: ``prepare`` from 16 threads through the micro-batcher vs the embedder's own
  batched throughput (>= 0.85);

then runs every benchmark script (``prepare``, ``store_scale``, ``proxy_overhead``, ``learning``,
``retrieval_relevance``, ``discrimination``, ``eval_walltime``, ``judge_calibration``) as a
subprocess with ``--json`` (and ``--quick``), one after the other, and gathers every figure
that has a limit (``harness.check``) into ``figures``: ``{"figure", "value", "limit",
"ratio_to_limit", "pass"}``. A script that fails or times out is reported, never fatal.
``--quick`` is the few-minute smoke run (small sizes, MiniLM for the forward).
The local-model benchmarks (a real llama.cpp model) run only when named: ``--only local_model``
(in process) and ``--only local_serve`` (through ``echosafe-guard serve``, streamed).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the scripts' own imports (harness, prepare, embedder)

from harness import REPO, emit, loadavg, log, parse, parser, summary  # noqa: E402

SCRIPTS = (
    "prepare",
    "store_scale",
    "proxy_overhead",
    "learning",
    "retrieval_relevance",
    "discrimination",
    "eval_walltime",
    "judge_calibration",
)
OPT_IN = ("local_model", "local_serve")
BASELINES = ("embedder", "store_query", "unguarded_call", "concurrency")


def figures(node: Any, path: str = "") -> list[dict[str, Any]]:
    """Every ``check(...)`` dict inside ``node``, with its dotted path."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if {"value", "limit", "pass"} <= set(node):
            row = {"figure": path, **{k: node[k] for k in ("value", "limit", "pass")}}
            row["ratio_to_limit"] = node.get("ratio_to_limit")
            if "binding" in node:
                row["binding"] = node["binding"]
            return [row]
        for key, value in node.items():
            out += figures(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += figures(value, f"{path}[{i}]")
    return out


def baseline_store(quick: bool) -> dict[str, Any]:
    from prepare import bench_store

    with tempfile.TemporaryDirectory() as tmp:
        return bench_store(
            2_000 if quick else 20_000, "clustered", 100 if quick else 300, Path(tmp)
        )


def baseline_unguarded(quick: bool) -> dict[str, Any]:
    import litellm

    async def run(n: int) -> list[float]:
        msgs = [{"role": "user", "content": "How do I reset my router password?"}]
        out = []
        for i in range(n + 5):
            t0 = time.perf_counter()
            await litellm.acompletion(model="openai/bench", messages=msgs, mock_response="ok")
            if i >= 5:
                out.append((time.perf_counter() - t0) * 1000)
        return out

    ms = asyncio.run(run(20 if quick else 100))
    return {"latency_ms": summary(ms), "note": "litellm.acompletion, mock_response, no guard"}


def run_baselines(args: Any, only: set[str]) -> dict[str, Any]:
    from embedder import MODELS, bench_concurrency, bench_forward

    model = MODELS["minilm" if args.quick else "mpnet"]
    out: dict[str, Any] = {}
    steps = {
        "embedder": lambda: bench_forward(model, 8 if args.quick else 30),
        "store_query": lambda: baseline_store(args.quick),
        "unguarded_call": lambda: baseline_unguarded(args.quick),
        "concurrency": lambda: bench_concurrency(model, 16, 2 if args.quick else 6),
    }
    for name, step in steps.items():
        if name not in only:
            continue
        log(f"baseline {name}")
        t0 = time.perf_counter()
        try:
            out[name] = step()
        except Exception as exc:  # a broken baseline is reported, the run goes on
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out[name]["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def run_script(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", *(["--quick"] if quick else [])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    }
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = round(time.perf_counter() - t0, 1)
    if done.returncode != 0:
        return {
            "error": f"exit {done.returncode}",
            "stderr_tail": done.stderr[-2000:],
            "wall_s": wall,
        }
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return {"error": "no JSON on stdout", "stdout_tail": done.stdout[-2000:], "wall_s": wall}
    result.setdefault("wall_s", wall)
    return result


def main() -> None:
    ap = parser(__doc__, quick="small sizes: the few-minute smoke run")
    ap.add_argument("command", choices=["all"])
    ap.add_argument("--only", default="", help="comma-separated baselines/scripts to run")
    ap.add_argument("--skip", default="", help="comma-separated baselines/scripts to leave out")
    ap.add_argument("--timeout", type=float, default=None, help="per script, seconds")
    args = parse(ap)
    names = set(BASELINES) | set(SCRIPTS)
    only = {n for n in args.only.split(",") if n} or names
    only -= {n for n in args.skip.split(",") if n}
    unknown = only - names - set(OPT_IN)
    if unknown:
        ap.error(f"unknown: {sorted(unknown)}; known: {sorted(names | set(OPT_IN))}")
    timeout = args.timeout or (600.0 if args.quick else 3600.0)
    start, load0 = time.perf_counter(), loadavg()
    baselines = run_baselines(args, only)
    scripts: dict[str, Any] = {}
    for name in (*SCRIPTS, *OPT_IN):
        if name in only:
            log(f"benchmark {name}")
            scripts[name] = run_script(name, args.quick, timeout)
    figs = figures(baselines, "baseline") + figures(scripts)
    failed = sorted(n for n, r in {**baselines, **scripts}.items() if "error" in r)
    result = {
        "benchmark": "echosafe_guard: every figure next to its limit, one run",
        "quick": bool(args.quick),
        "figures": figs,
        "passed": sum(f["pass"] for f in figs),
        "failed_figures": [f["figure"] for f in figs if not f["pass"]],
        "errors": failed,
        "baseline": baselines,
        "benchmarks": scripts,
        "machine": {"cpu_count": os.cpu_count(), "loadavg_start": load0, "loadavg_end": loadavg()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    if not args.json:
        for f in figs:
            log(
                f"{'PASS' if f['pass'] else 'FAIL'} {f['figure']}: {f['value']} "
                f"(limit {f['limit']})"
            )
    emit(result, args.out)


if __name__ == "__main__":
    main()
