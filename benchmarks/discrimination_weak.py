"""Weak unsafe evidence far from memory: the decision rule's ``weak_unsafe_min_similarity``.

An unsafe call short of ``block_confidence`` (the ``unsafe`` block, not ``refuse``) counts only
when the nearest unsafe candidate is at least ``weak_unsafe_min_similarity`` similar; farther,
the guard reads it as unsure (``echosafe_guard/retrieval/decide.py``). :func:`choose` picks the
threshold on leave-one-category-out rows of the shipped verdict model (bundled set only);
:func:`report` says what the rule does to a protocol's rows (held-out sets: report only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["GRID", "WEAK_PRECISION", "choose", "report"]

GRID = (0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5)
WEAK_PRECISION = 0.85
"""The weak unsafe calls kept must be right at least this often (the strong ones are ≈ 0.97)."""


def _weak(rows: Sequence[dict[str, Any]], block_confidence: float) -> list[dict[str, Any]]:
    """The rows the rule can touch: the method's own unsafe call, short of ``block_confidence``,
    with an unsafe candidate."""
    return [
        r
        for r in rows
        if r["call"] == 1 and r["p"] < block_confidence and r.get("near_unsafe") is not None
    ]


def choose(
    rows: Sequence[dict[str, Any]], block_confidence: float
) -> tuple[float | None, dict[str, Any]]:
    """The lowest threshold of :data:`GRID` whose kept weak calls are right ≥
    :data:`WEAK_PRECISION` (None: none is), and the grid."""
    weak = _weak(rows, block_confidence)
    grid: dict[str, Any] = {}
    chosen = None
    for t in GRID:
        kept = [r for r in weak if r["near_unsafe"] >= t]
        prec = sum(r["unsafe"] for r in kept) / len(kept) if kept else None
        grid[str(t)] = {
            "kept": len(kept),
            "kept_right": None if prec is None else round(prec, 3),
            "demoted_unsafe": sum(r["unsafe"] for r in weak if r["near_unsafe"] < t),
            "demoted_safe": sum(not r["unsafe"] for r in weak if r["near_unsafe"] < t),
        }
        if chosen is None and prec is not None and prec >= WEAK_PRECISION:
            chosen = t
    all_right = sum(r["unsafe"] for r in weak) / len(weak) if weak else None
    return chosen, {
        "weak_calls": len(weak),
        "weak_right": None if all_right is None else round(all_right, 3),
        "grid": grid,
    }


def report(
    rows: Sequence[dict[str, Any]], threshold: float | None, block_confidence: float
) -> dict[str, Any]:
    """Unsafe evidence (the method's own unsafe calls) before and after the rule, by label."""
    weak = _weak(rows, block_confidence)
    demoted = [r for r in weak if threshold is not None and r["near_unsafe"] < threshold]
    unsafe_calls = [r for r in rows if r["call"] == 1]
    out: dict[str, Any] = {"threshold": threshold}
    for label, want in (("unsafe", True), ("safe", False)):
        n = sum(r["unsafe"] is want for r in rows)
        before = sum(r["unsafe"] is want for r in unsafe_calls)
        after = before - sum(r["unsafe"] is want for r in demoted)
        out[f"{label}_unsafe_evidence"] = {
            "before": round(before / n, 4) if n else None,
            "after": round(after / n, 4) if n else None,
        }
    return out
