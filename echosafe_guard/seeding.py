"""``memory seed``: one insight per labelled paired-bench item, written with provenance ``seed``.

Item text is data: every field is cleaned and capped (``learning/sanitize.py``); an item whose
text addresses the model is seeded ``quarantined``, for a human to approve in ``memory review``.

An item's own ``scenario``, ``intent_signals`` and ``guidance`` (the bundled set has them) are used
as written; items without them get the policy's generic seed templates for their label.

An item whose category the policy's taxonomy cannot resolve is seeded under the ``other``
category, with a warning (logged, and counted in :attr:`SeedReport.unmapped`); a policy without
an ``other`` category refuses it with a ``ConfigError`` naming the escape
(``--map 'category:NAME=KEY'``). Any benchmark format is seeded by loading it first
(``echosafe_guard.bench.loaders.load_bench``) and passing its items to :func:`seed_items`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from echosafe_guard.context import RequestContext, Turn
from echosafe_guard.exceptions import ConfigError, DataFormatError
from echosafe_guard.guard import Guard
from echosafe_guard.images import image_from_file
from echosafe_guard.learning.sanitize import MAX_SIGNAL_CHARS, clean_text, sanitize_insight
from echosafe_guard.memory.insight import (
    MAX_SIGNALS,
    Insight,
    Provenance,
    ProvenanceSource,
    Verdict,
)
from echosafe_guard.paired import PairedItem, read_paired_jsonl
from echosafe_guard.policy.models import Taxonomy

__all__ = ["OTHER", "SeedReport", "seed_insights", "seed_items", "seed_memory", "unmapped"]

SEED_BATCH = 64
OTHER = "other"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedReport:
    source: str
    tenant: str
    items: int
    insights: int
    merged: int
    unmapped: dict[str, int] = field(default_factory=dict)
    """Category names the taxonomy does not resolve → items seeded under ``other``."""


def unmapped(taxonomy: Taxonomy, items: Sequence[PairedItem]) -> dict[str, int]:
    """Item count per category name that ``taxonomy`` cannot resolve, most frequent first."""
    counts = Counter(i.category for i in items if taxonomy.resolve(i.category) is None)
    return dict(counts.most_common())


def _context(guard: Guard, item: PairedItem, base: Path) -> RequestContext:
    img_path = item.image_path(base)
    images = (image_from_file(img_path, policy=guard.policy.images),) if img_path else ()
    if images and guard.keys.image is not None:
        guard.keys.image.wait()  # seeding is off the request path: wait for the image model
    return RequestContext(turns=(Turn(index=0, text=item.text, images=images),), skipped_images=())


def seed_insights(
    guard: Guard, items: Sequence[PairedItem], *, base: Path, tenant: str, source: str
) -> list[Insight]:
    """Insights for ``items``; identical items (same text, images, label, category) merge.

    Keys are computed in batches (one text forward per ``SEED_BATCH`` items)."""
    policy = guard.policy
    layout = guard.keys.layout()
    merged: dict[str, tuple[Insight, int]] = {}
    todo: list[tuple[str, PairedItem, str, RequestContext]] = []
    missing = unmapped(policy.taxonomy, items)
    if missing:
        names = ", ".join(f"{n!r} ({c} items)" for n, c in missing.items())
        if OTHER not in policy.taxonomy.categories:
            raise ConfigError(
                f"{source}: categories not in the policy's taxonomy (nor an MM-SafetyBench, "
                f"Llama Guard or alias name): {names}; map them with --map 'category:NAME=KEY' "
                f"or give the policy an {OTHER!r} category"
            )
        log.warning("%s: seeding unmapped categories under %r: %s", source, OTHER, names)
    for item in items:
        category = policy.taxonomy.resolve(item.category) or OTHER
        ctx = _context(guard, item, base)
        iid = (
            "seed_"
            + hashlib.sha256(
                f"{tenant}|{layout.id}|{ctx.request_hash}|{item.label}|{category}".encode()
            ).hexdigest()[:24]
        )
        todo.append((iid, item, category, ctx))
    keys = [
        key
        for start in range(0, len(todo), SEED_BATCH)
        for key in guard.keys.keys([t[3] for t in todo[start : start + SEED_BATCH]])
    ]
    for (iid, item, category, ctx), key in zip(todo, keys, strict=True):
        if iid in merged:
            ins, n = merged[iid]
            merged[iid] = (ins.model_copy(update={"support": n + 1}), n + 1)
            continue
        tpl = policy.seed[item.label]
        cat = policy.taxonomy.categories[category]
        fields = {
            "category": category,
            "category_title": cat.title,
            "category_description": cat.description,
        }
        ins = Insight(
            id=iid,
            tenant=tenant,
            scenario=clean_text(item.scenario or "") or tpl.scenario.format(**fields),
            intent_signals=tuple(
                s for s in (clean_text(x, MAX_SIGNAL_CHARS) for x in item.intent_signals) if s
            )[:MAX_SIGNALS]
            or tpl.intent_signals,
            verdict=Verdict(item.label),
            guidance=clean_text(item.guidance or "") or tpl.guidance.format(**fields),
            category=category,
            confidence=tpl.confidence,
            support=1,
            provenance=Provenance(
                source=ProvenanceSource.SEED,
                request_hashes=(ctx.request_hash,),
                ref=f"{source}#{item.id}",
            ),
            layout=layout.id,
            vector=tuple(float(x) for x in key.vector),
        )
        try:
            ins, reason = sanitize_insight(ins)
        except ValueError as exc:
            raise DataFormatError(f"{source}#{item.id}: {exc}") from exc
        if reason:
            log.warning(
                "%s#%s: seeded quarantined, its text addresses the model (%s); "
                "approve it in 'memory review' if it is meant",
                source,
                item.id,
                reason,
            )
        merged[iid] = (ins, 1)
    return [ins for ins, _ in merged.values()]


def seed_items(
    guard: Guard, items: Sequence[PairedItem], *, base: Path, tenant: str, source: str
) -> SeedReport:
    """Seed ``guard``'s store with ``items`` (image paths relative to ``base``)."""
    insights = seed_insights(guard, items, base=base, tenant=tenant, source=source)
    guard.bound_store().upsert(insights)
    return SeedReport(
        source=source,
        tenant=tenant,
        items=len(items),
        insights=len(insights),
        merged=len(items) - len(insights),
        unmapped=unmapped(guard.policy.taxonomy, items),
    )


def seed_memory(guard: Guard, source: str | Path, *, tenant: str = "default") -> SeedReport:
    """Seed ``guard``'s store from a paired-bench JSONL file or ``builtin``."""
    path, items = read_paired_jsonl(source)
    return seed_items(guard, items, base=path.parent, tenant=tenant, source=str(source))
