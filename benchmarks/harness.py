"""What every benchmark in ``benchmarks/`` shares: arguments, progress, timing, JSON report.

A benchmark script keeps only its own measurement::

    from harness import check, emit, log, parser, summary

    ap = parser(__doc__, quick="< 60 s smoke run")
    ap.add_argument("--n", type=int, default=None)
    args = ap.parse_args()
    ms = timed_ms(lambda: guard.prepare(messages), repeats=200)
    emit({"latency_ms": summary(ms), "targets": {"p50": check(median(ms), 5.0)}}, args)

- ``--quick``: the small CI smoke run (``tests/integration/test_benchmarks_smoke.py``);
- ``--json``: print only the JSON object (no progress on stderr);
- ``--out FILE``: also write the JSON there.

The report is one JSON object on stdout. A figure with a limit is ``check(value, limit)``:
``{"value", "limit", "ratio_to_limit", "pass"}``, so each figure sits next to its limit.
Speed targets live here, in benchmarks, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "REPO",
    "TINY_CLIP",
    "boot_ci",
    "check",
    "dist_version",
    "emit",
    "loadavg",
    "log",
    "median",
    "parse",
    "parser",
    "pct",
    "rel",
    "summary",
    "timed_ms",
]

REPO = Path(__file__).resolve().parents[1]
TINY_CLIP = {  # tests/conftest.py TINY_CLIP with embed_dim 512 (the ViT-B-32 key size)
    "embed_dim": 512,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
_state = {"quiet": False}


# -- arguments and output -----------------------------------------------------------------------


def parser(
    doc: str | None, *, quick: str | None = "small sizes for a CI smoke run"
) -> argparse.ArgumentParser:
    """An argument parser with the shared ``--quick`` (unless ``quick`` is None), ``--json`` and
    ``--out``; ``doc``'s first line describes it."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    if quick is not None:
        ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--json", action="store_true", help="print only the JSON (no progress)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return ap


def parse(ap: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``ap.parse_args`` that also applies ``--json`` (silences :func:`log`)."""
    args = ap.parse_args(argv)
    _state["quiet"] = bool(getattr(args, "json", False))
    return args


def log(msg: str) -> None:
    """Progress, on stderr with the time (silent under ``--json``)."""
    if not _state["quiet"]:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any], out: Path | None = None) -> str:
    """Print the report as one JSON object on stdout (and write it to ``out``); returns it."""
    text = json.dumps(result, indent=2)
    print(text, flush=True)
    if out is not None:
        out.write_text(text + "\n")
    return text


# -- timing and statistics ----------------------------------------------------------------------


def timed_ms(call: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` calls of ``call``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: Iterable[float] | np.ndarray, q: float, digits: int = 4) -> float | None:
    """The ``q``-th percentile, rounded; None for no samples."""
    arr = np.asarray(list(xs) if not isinstance(xs, np.ndarray) else xs, dtype=np.float64)
    return round(float(np.percentile(arr, q)), digits) if arr.size else None


def median(xs: Iterable[float]) -> float:
    return float(statistics.median(xs))


def summary(xs: Iterable[float] | np.ndarray, digits: int = 4) -> dict[str, Any]:
    """p50/p90/p99, mean, min, max and n of a sample (None figures when it is empty)."""
    arr = np.asarray(list(xs) if not isinstance(xs, np.ndarray) else xs, dtype=np.float64)
    if not arr.size:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "max": None, "n": 0}
    return {
        "p50": pct(arr, 50, digits),
        "p90": pct(arr, 90, digits),
        "p99": pct(arr, 99, digits),
        "mean": round(float(arr.mean()), digits),
        "min": round(float(arr.min()), digits),
        "max": round(float(arr.max()), digits),
        "n": int(arr.size),
    }


def rel(a: float, b: float) -> float:
    """The relative change ``(a - b) / b``."""
    return (a - b) / b


def boot_ci(
    a: Sequence[float], b: Sequence[float], rng: np.random.Generator, reps: int = 2000
) -> list[float]:
    """95 % bootstrap CI of median(a) - median(b) (independent resampling)."""
    xa, xb = np.asarray(a), np.asarray(b)
    ia = rng.integers(0, len(xa), (reps, len(xa)))
    ib = rng.integers(0, len(xb), (reps, len(xb)))
    d = np.median(xa[ia], axis=1) - np.median(xb[ib], axis=1)
    return [round(float(np.percentile(d, 2.5)), 3), round(float(np.percentile(d, 97.5)), 3)]


def check(
    value: float,
    limit: float,
    *,
    higher_is_better: bool = False,
    binding: bool | None = None,
    digits: int = 4,
) -> dict[str, Any]:
    """A figure next to its limit: ``value``, ``limit``, ``ratio_to_limit`` and ``pass``
    (``value <= limit``, or ``>=`` when higher is better). ``binding`` (when given) says
    whether the limit applies to this run, e.g. only at full size."""
    ok = value >= limit if higher_is_better else value <= limit
    got: dict[str, Any] = {
        "value": round(value, digits),
        "limit": limit,
        "ratio_to_limit": round(value / limit, 4) if limit else None,
        "pass": bool(ok),
    }
    if binding is not None:
        got["binding"] = binding
    return got


def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (a benchmark is only as quiet as its machine)."""
    return [round(x, 2) for x in os.getloadavg()]
