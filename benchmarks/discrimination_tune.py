"""The choices ``benchmarks/discrimination.py`` makes on the memory's own items (LOCO only).

:func:`tune` picks the probe's ``probe_l2``, the unsure ``band``, ``unsafe_first_at`` and
``min_similarity``; :func:`tune_weak` the decision rule's ``weak_unsafe_min_similarity``. The
queries of held-out sets never reach either.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from discrimination_methods import Bank, Method, folds_loco, metrics, run, verdict_model
from discrimination_weak import choose as choose_weak

from echosafe_guard.policy.models import Policy
from echosafe_guard.policy.retrieval import VerdictPolicy

__all__ = ["MIN_COVERAGE", "min_similarity_coverage", "tune", "tune_weak"]

MIN_COVERAGE = 0.97
"""``min_similarity`` is the highest grid value that still lets the verdict model see an insight
for this share of the unsafe queries on LOCO (new topics): below it, an unsafe request gets no
block at all, whatever the probe would say."""


def min_similarity_coverage(mem: Bank, enc: str) -> tuple[float, dict[str, float]]:
    """Per threshold, the share of unsafe LOCO queries whose nearest other-category insight is at
    least that similar; the chosen threshold (see :data:`MIN_COVERAGE`)."""
    x = mem.key[enc] / np.linalg.norm(mem.key[enc], axis=1, keepdims=True)
    sim = np.where(mem.cat[:, None] != mem.cat[None, :], x @ x.T, -1.0).max(axis=1)
    grid = {t: float(np.mean(sim[mem.unsafe] >= t)) for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)}
    ok = [t for t, c in grid.items() if c >= MIN_COVERAGE]
    return (max(ok) if ok else min(grid)), {str(t): round(c, 3) for t, c in grid.items()}


def tune(mem: Bank, with_mpnet: bool) -> tuple[VerdictPolicy, dict[str, Any]]:
    """probe_l2, band, unsafe_first_at and min_similarity chosen on LOCO of the bundled set only."""
    encs = ("mpnet",) if with_mpnet else ("minilm",)
    folds = folds_loco(mem)
    min_sim, coverage = min_similarity_coverage(mem, encs[-1])
    grid = {}
    for l2 in (0.1, 0.3, 1.0, 3.0):
        cfg = VerdictPolicy(probe_l2=l2, band=0.0)  # band 0: top-1 follows p >= 0.5
        grid[l2] = metrics(
            run(verdict_model(cfg, encs, name=f"l2{l2}", key=encs[-1]), mem, mem, folds), 0.15
        )
    l2 = max(grid, key=lambda v: (grid[v]["verdict_at_1"], -grid[v]["brier"]))
    rows = run(
        verdict_model(VerdictPolicy(probe_l2=l2, band=0.0), encs, name="b", key=encs[-1]),
        mem,
        mem,
        folds,
    )
    band = 0.45
    for b in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45):
        acc = metrics(rows, b)["three_way"]["confident_acc"]
        if acc is not None and acc >= 0.9:
            band = b
            break
    first = {}
    for t in (0.5, 0.55, 0.6, 0.65, 0.7):
        cfg = VerdictPolicy(probe_l2=l2, band=band, unsafe_first_at=t)
        first[t] = metrics(
            run(verdict_model(cfg, encs, name=f"t{t}", key=encs[-1]), mem, mem, folds), band
        )
    ok = [t for t in first if first[t]["safe_unsafe_first"] <= 0.15]
    at = (
        max(ok, key=lambda t: first[t]["verdict_at_1"])
        if ok
        else min(first, key=lambda t: first[t]["safe_unsafe_first"])
    )
    cfg = VerdictPolicy(probe_l2=l2, band=band, unsafe_first_at=at)
    return cfg, {
        "encoders": list(encs),
        "probe_l2_grid_loco_verdict_at_1": {str(k): v["verdict_at_1"] for k, v in grid.items()},
        "unsafe_first_at_grid_loco": {
            str(t): {"verdict_at_1": m["verdict_at_1"], "safe_unsafe_first": m["safe_unsafe_first"]}
            for t, m in first.items()
        },
        "chosen": cfg.model_dump(),
        "min_similarity_loco_unsafe_coverage": coverage,
        "min_similarity_chosen": min_sim,
    }


def tune_weak(shipped: Method, mem: Bank, policy: Policy) -> dict[str, Any]:
    """``weak_unsafe_min_similarity`` chosen on LOCO rows of the shipped verdict model."""
    at, info = choose_weak(run(shipped, mem, mem, folds_loco(mem)), policy.block_confidence or 1.0)
    return {
        "weak_unsafe_loco": info,
        "weak_unsafe_min_similarity_chosen": at,
        "shipped_weak_unsafe_min_similarity": policy.weak_unsafe_min_similarity,
    }
