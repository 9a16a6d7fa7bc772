"""The decision rule: retrieved insights (best first) and the run mode → allow | caution | block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.models import Mode

__all__ = ["Action", "Decision", "decide"]


class Action(StrEnum):
    ALLOW = "allow"
    CAUTION = "caution"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    """``no_insights``, ``safe_insights``, ``unsafe_insight``, ``borderline_insight``,
    ``conflicting_insights``, ``near_duplicate_unsafe`` or ``store_unavailable``."""
    mode: Mode
    applied: bool
    """False in ``shadow`` mode: the decision was recorded, the messages left untouched."""
    top_unsafe_score: float | None = None
    notes: tuple[str, ...] = ()


def decide(
    hits: Sequence[ScoredInsight],
    *,
    mode: Mode,
    block_threshold: float,
    store_failed: bool = False,
    notes: Sequence[str] = (),
) -> Decision:
    """Block a near-duplicate of an unsafe insight (not in ``advise`` mode); caution on any
    unsafe, conflicting or borderline insight; allow otherwise (and when the store failed open)."""
    unsafe = [h.score for h in hits if h.insight.verdict is Verdict.UNSAFE]
    top = max(unsafe) if unsafe else None
    verdicts = {h.insight.verdict for h in hits}
    if store_failed:
        action, reason, top = Action.ALLOW, "store_unavailable", None
    elif not hits:
        action, reason = Action.ALLOW, "no_insights"
    elif top is not None and top >= block_threshold and mode is not Mode.ADVISE:
        action, reason = Action.BLOCK, "near_duplicate_unsafe"
    elif Verdict.UNSAFE in verdicts and Verdict.SAFE in verdicts:
        action, reason = Action.CAUTION, "conflicting_insights"
    elif Verdict.UNSAFE in verdicts:
        action, reason = Action.CAUTION, "unsafe_insight"
    elif Verdict.BORDERLINE in verdicts:
        action, reason = Action.CAUTION, "borderline_insight"
    else:
        action, reason, top = Action.ALLOW, "safe_insights", None
    return Decision(action, reason, mode, mode is not Mode.SHADOW, top, tuple(notes))
