"""``memory seed``: one insight per labelled paired-bench item, written with provenance ``seed``.

An item's own ``scenario``, ``intent_signals`` and ``guidance`` (the bundled set has them) are used
as written; items without them get the policy's generic seed templates for their label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from echosafe_guard.context import RequestContext, Turn
from echosafe_guard.exceptions import ConfigError
from echosafe_guard.guard import Guard
from echosafe_guard.images import image_from_file
from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.paired import PairedItem, read_paired_jsonl

__all__ = ["SeedReport", "seed_insights", "seed_memory"]

SEED_BATCH = 64


@dataclass(frozen=True)
class SeedReport:
    source: str
    tenant: str
    items: int
    insights: int
    merged: int


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
    for item in items:
        category = policy.taxonomy.resolve(item.category)
        if category is None:
            raise ConfigError(
                f"{source}: item {item.id!r}: category {item.category!r} is not in the policy's "
                "taxonomy (nor an MM-SafetyBench, Llama Guard or alias name)"
            )
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
            scenario=item.scenario or tpl.scenario.format(**fields),
            intent_signals=item.intent_signals or tpl.intent_signals,
            verdict=Verdict(item.label),
            guidance=item.guidance or tpl.guidance.format(**fields),
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
        merged[iid] = (ins, 1)
    return [ins for ins, _ in merged.values()]


def seed_memory(guard: Guard, source: str | Path, *, tenant: str = "default") -> SeedReport:
    """Seed ``guard``'s store from a paired-bench JSONL file or ``builtin``."""
    path, items = read_paired_jsonl(source)
    insights = seed_insights(guard, items, base=path.parent, tenant=tenant, source=str(source))
    guard.bound_store().upsert(insights)
    return SeedReport(
        source=str(source),
        tenant=tenant,
        items=len(items),
        insights=len(insights),
        merged=len(items) - len(insights),
    )
