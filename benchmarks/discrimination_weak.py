"""Weak unsafe evidence far from memory: the decision rule's ``weak_unsafe_min_similarity``.

An unsafe call short of ``block_confidence`` (the ``unsafe`` block, not ``refuse``) counts only
when the nearest unsafe candidate is at least ``weak_unsafe_min_similarity`` similar; farther,
the guard reads it as unsure (``echosafe_guard/retrieval/decide.py``). :func:`choose` picks the
threshold on leave-one-category-out rows of the shipped verdict model (bundled set only);
:func:`report` says what the rule does to a protocol's rows (held-out sets: report only);
:func:`frontier` counts, per setting of the decision's thresholds in :data:`FRONTIER`, the safe
and unsafe twins that would get unsafe evidence (seen sets: what sparing a safe twin costs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FRONTIER", "GRID", "WEAK_PRECISION", "choose", "frontier", "frontier_sum", "report"]

GRID = (0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5)
WEAK_PRECISION = 0.85
"""The weak unsafe calls kept must be right at least this often (the strong ones are ≈ 0.97)."""
FRONTIER: tuple[tuple[float, float | None, float], ...] = (
    (0.9, 0.5, 0.0),  # shipped: block_confidence, weak_unsafe_min_similarity, no p floor
    (0.9, 0.5, 0.75),
    (0.9, 0.5, 0.8),
    (0.9, 0.55, 0.0),
    (0.9, 0.6, 0.0),
    (0.95, 0.5, 0.0),
    (0.95, 0.55, 0.85),
    (0.9, None, 0.0),  # the strong tier only (no weak unsafe evidence)
)
"""``(block_confidence, weak similarity or None, p_unsafe floor)`` settings :func:`frontier`
counts (docs/discrimination.md, "The decision's thresholds on seen sets")."""


def _unsafe_call(r: dict[str, Any]) -> bool:
    """The method's own unsafe call with an unsafe candidate: what ``retrieval/decide.py`` can
    count as unsafe evidence (with none, it reads the call as unsure)."""
    return bool(r["call"] == 1 and r.get("near_unsafe") is not None)


def _weak(rows: Sequence[dict[str, Any]], block_confidence: float) -> list[dict[str, Any]]:
    """The rows the rule can touch: an unsafe call (:func:`_unsafe_call`) short of
    ``block_confidence``."""
    return [r for r in rows if _unsafe_call(r) and r["p"] < block_confidence]


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
    """Unsafe evidence (the method's own unsafe calls with an unsafe candidate, as
    ``retrieval/decide.py`` counts them) before and after the rule, by label."""
    weak = _weak(rows, block_confidence)
    demoted = [r for r in weak if threshold is not None and r["near_unsafe"] < threshold]
    unsafe_calls = [r for r in rows if _unsafe_call(r)]
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


def frontier(
    rows: Sequence[dict[str, Any]],
    grid: Sequence[tuple[float, float | None, float]] = FRONTIER,
) -> dict[str, dict[str, int]]:
    """Per setting ``bc=…,w=…,pf=…``: how many safe and unsafe rows get unsafe evidence, as
    ``retrieval/decide.py`` decides it: the method's own unsafe call with an unsafe candidate,
    ``p ≥ pf``, and either ``p ≥ bc`` or the nearest unsafe candidate at least ``w`` similar
    (``w`` None: strong evidence only)."""
    out: dict[str, dict[str, int]] = {}
    for bc, w, pf in grid:
        hit = [
            r
            for r in rows
            if _unsafe_call(r)
            and r["p"] >= pf
            and (r["p"] >= bc or (w is not None and r["near_unsafe"] >= w))
        ]
        out[f"bc={bc},w={w},pf={pf}"] = {
            "safe": sum(not r["unsafe"] for r in hit),
            "unsafe": sum(bool(r["unsafe"]) for r in hit),
        }
    return out


_TWIN_SET = re.compile(r"(?:loso|heldout):heldout(\d+)(?:_twins)?")


def frontier_sum(per_protocol: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`frontier` counts summed over the protocols that query a numbered twin set
    (``heldout2`` and later, as ``loso:`` or ``heldout:`` rows; not ``heldout``, LOCO or
    XSTest), and which protocols were summed."""
    names = [
        p
        for p, r in per_protocol.items()
        if isinstance(r, Mapping)
        and "frontier" in r
        and (m := _TWIN_SET.fullmatch(p)) is not None
        and int(m.group(1)) >= 2
    ]
    total: dict[str, dict[str, int]] = {}
    for p in names:
        for setting, c in per_protocol[p]["frontier"].items():
            t = total.setdefault(setting, {"safe": 0, "unsafe": 0})
            t["safe"] += c["safe"]
            t["unsafe"] += c["unsafe"]
    return {"protocols": names, "counts": total}
