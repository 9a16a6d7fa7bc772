"""What a loaded benchmark would run, without running it (``eval --dry-run``).

:func:`bench_plan` counts the items, the complete safe/unsafe twin pairs, the cases (an item in
each mode it runs in) by category and by mode, the skipped records with their reasons, the
categories the policy's taxonomy cannot resolve, and the loader's notes: one JSON-ready dict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from echosafe_guard.bench.cases import EvalCase, source_category
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.policy.models import Taxonomy

__all__ = ["TARGET_NOTE", "bench_plan", "complete_pairs", "unmapped_categories"]

TARGET_NOTE = (
    "the right answer to this benchmark's unsafe items is a safe AND helpful answer, not a "
    "refusal: its refusal rate is not a score (shown as 'refused', for information only)"
)


def complete_pairs(bench: LoadedBench) -> int:
    """Pair ids holding exactly one unsafe and one safe item."""
    groups: dict[str, list[str]] = {}
    for item in bench.items:
        groups.setdefault(item.pair_id, []).append(item.label)
    return sum(sorted(g) == ["safe", "unsafe"] for g in groups.values())


def unmapped_categories(bench: LoadedBench, taxonomy: Taxonomy) -> list[str]:
    """The items' category names that ``taxonomy`` cannot resolve, sorted."""
    return sorted({i.category for i in bench.items if taxonomy.resolve(i.category) is None})


def bench_plan(
    bench: LoadedBench, cases: Sequence[EvalCase], taxonomy: Taxonomy
) -> dict[str, Any]:
    """``items``, ``pairs``, ``cases``, ``by_category``, ``by_mode``, ``skipped``,
    ``unmapped_categories``, ``notes`` and ``target`` of ``bench``."""
    pairs = complete_pairs(bench)
    by_category = Counter(taxonomy.resolve(i.category) or i.category for i in bench.items)
    by_source = Counter(source_category(i) for i in bench.items)
    labels = Counter(i.label for i in bench.items)
    return {
        "name": bench.name,
        "items": len(bench.items),
        "unsafe": labels["unsafe"],
        "safe": labels["safe"],
        "pairs": pairs,
        "items_without_twin": len(bench.items) - 2 * pairs,
        "cases": len(cases),
        "by_category": dict(sorted(by_category.items())),
        "by_source_category": dict(sorted(by_source.items())),
        "by_mode": dict(sorted(Counter(c.mode for c in cases).items())),
        "skipped": {
            "count": len(bench.skipped),
            "rows": [{"where": s.where, "reason": s.reason} for s in bench.skipped],
        },
        "unmapped_categories": unmapped_categories(bench, taxonomy),
        "notes": list(bench.notes),
        "target": bench.target,
    }
