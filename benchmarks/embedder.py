"""Benchmark the text key's backends side by side, and prepare throughput under concurrency.

    HF_HUB_OFFLINE=1 python benchmarks/embedder.py [--quick] [--json] [--model mpnet|minilm]
        [--repeats 40] [--callers 16] [--out FILE]

One run, one thread per backend (torch ``set_num_threads(1)``, ONNX Runtime one intra-op
thread), the same prompts interleaved (torch, fp32, int8 in rotating order):

* ``forward``: single-text and batched (16 texts) forward of torch, ONNX Runtime fp32 and
  ONNX Runtime int8 (dynamic quantisation), with each backend's cosine to torch. Target: the
  default backend's single forward <= 1/3 of torch's.
* ``concurrency``: ``Guard.prepare`` from ``--callers`` threads at once, through the default key
  builder (ONNX fp32 behind the micro-batcher), against the bare embedder's own batched
  throughput (texts/s with batches of ``--callers``). Target: >= 0.85 of it.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import check, emit, loadavg, log, parse, parser, summary

from echosafe_guard.guard import Guard
from echosafe_guard.key.base import Embedder
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.key.micro_batcher import MicroBatcher
from echosafe_guard.key.onnx_embedder import OnnxEmbedder
from echosafe_guard.key.sentence_transformer_embedder import (
    MINILM_MODEL,
    SentenceTransformerEmbedder,
)
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy

__all__ = ["bench_concurrency", "bench_forward", "prompts"]

MODELS = {"mpnet": "all-mpnet-base-v2", "minilm": MINILM_MODEL}
SUBJECTS = [
    "my router",
    "a rusty bike chain",
    "the office printer",
    "a neighbour's wifi",
    "an old laptop",
    "a hotel key card",
    "a gun safe",
    "prescription painkillers",
]
VERBS = ["reset", "repair", "get into", "dispose of", "secure", "copy", "track", "open"]


def prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct prompts of about 20-30 tokens."""
    rng = random.Random(seed)
    return [
        f"Could you explain how I can {rng.choice(VERBS)} {rng.choice(SUBJECTS)} at home "
        f"without special tools? Request {i}."
        for i in range(n)
    ]


def bench_forward(
    model: str, repeats: int, batch: int = 16, *, int8: bool = True
) -> dict[str, Any]:
    """Single and batched forward of torch, ONNX fp32 (and ONNX int8), interleaved."""
    backends: dict[str, Embedder[str]] = {
        "torch": SentenceTransformerEmbedder(model, torch_threads=1),
        "onnx_fp32": OnnxEmbedder(model, fallback=False),
    }
    if int8:
        backends["onnx_int8"] = OnnxEmbedder(model, variant="int8")
    for name, emb in backends.items():
        t0 = time.perf_counter()
        emb.load()
        log(f"{name}: loaded in {time.perf_counter() - t0:.1f} s")
    texts = prompts(repeats + batch + 3, seed=1)
    single: dict[str, list[float]] = {n: [] for n in backends}
    names = list(backends)
    for i, text in enumerate(texts[: repeats + 3]):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate who goes first
            t0 = time.perf_counter()
            backends[name].embed([text])
            if i >= 3:  # warm-up
                single[name].append((time.perf_counter() - t0) * 1000)
    batched: dict[str, list[float]] = {n: [] for n in backends}
    for r in range(max(3, repeats // 8)):
        chunk = prompts(batch, seed=100 + r)
        for name in names:
            t0 = time.perf_counter()
            backends[name].embed(chunk)
            batched[name].append((time.perf_counter() - t0) * 1000)
    probe = texts[-batch:]
    ref = backends["torch"].embed(probe)
    cos = {n: float((backends[n].embed(probe) * ref).sum(axis=1).min()) for n in names}
    diff = float(np.abs(backends["onnx_fp32"].embed(probe) - ref).max())
    p50 = {n: float(np.median(v)) for n, v in single.items()}
    return {
        "model": model,
        "single_ms": {n: summary(v) for n, v in single.items()},
        "batched_ms": {n: summary(v) for n, v in batched.items()},
        "batch": batch,
        "batched_texts_per_s": {
            n: round(batch * 1000 / float(np.median(v)), 1) for n, v in batched.items()
        },
        "min_cosine_to_torch": {n: round(c, 6) for n, c in cos.items()},
        "fp32_max_abs_diff_to_torch": diff,
        "targets": {
            "onnx_fp32_single_over_torch": check(p50["onnx_fp32"] / p50["torch"], 1 / 3),
            "onnx_fp32_keys_equal_torch": check(diff, 1e-4),
        },
        "info": {f"{n}_single_over_torch": round(p50[n] / p50["torch"], 4) for n in names},
    }


def bench_concurrency(model: str, callers: int, per_caller: int) -> dict[str, Any]:
    """16 threads calling prepare at once through the micro-batcher vs the bare batched forward
    of the same embedder."""
    inner = OnnxEmbedder(model)
    inner.load()
    batcher = MicroBatcher(inner, max_batch=callers, max_wait_ms=2.0)
    texts = prompts(callers * per_caller + callers * 4, seed=7)
    bare = []
    for r in range(4):
        chunk = texts[r * callers : (r + 1) * callers]
        t0 = time.perf_counter()
        inner.embed(chunk)
        bare.append(time.perf_counter() - t0)
    bare_tps = callers / float(np.median(bare))
    with tempfile.TemporaryDirectory() as tmp:
        guard = Guard(
            store=LocalStore(Path(tmp) / "s"), policy=load_policy(), keys=KeyBuilder(batcher)
        )
        guard.warmup()
        guard.prepare([{"role": "user", "content": "warm up"}], tenant="bench")
        work = texts[callers * 4 :]
        barrier = threading.Barrier(callers + 1)
        lat: list[float] = []

        def run(k: int) -> None:
            barrier.wait()
            for j in range(per_caller):
                t0 = time.perf_counter()
                guard.prepare(
                    [{"role": "user", "content": work[k * per_caller + j]}], tenant="bench"
                )
                lat.append((time.perf_counter() - t0) * 1000)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(callers)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        guard.close()
    tps = callers * per_caller / wall
    return {
        "callers": callers,
        "prepare_per_s": round(tps, 1),
        "bare_batched_embed_per_s": round(bare_tps, 1),
        "prepare_latency_ms": summary(lat),
        "batches": batcher.batches,
        "mean_batch": round(batcher.calls / max(batcher.batches, 1), 2),
        "targets": {
            "prepare_throughput_over_batched": check(tps / bare_tps, 0.85, higher_is_better=True)
        },
    }


def main() -> None:
    ap = parser(__doc__, quick="MiniLM, few repeats (< 60 s)")
    ap.add_argument("--model", choices=sorted(MODELS), default="mpnet")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--callers", type=int, default=16)
    args = parse(ap)
    load0, start = loadavg(), time.perf_counter()
    model = MODELS["minilm" if args.quick else args.model]
    repeats = 8 if args.quick else args.repeats
    result = {
        "benchmark": "echosafe_guard text key backends and micro-batching",
        "forward": bench_forward(model, repeats),
        "concurrency": bench_concurrency(model, args.callers, 2 if args.quick else 6),
        "machine": {"loadavg_start": load0, "loadavg_end": loadavg()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
