"""The decision rule: retrieved insights (best first) and the run mode → allow | caution | block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.models import Mode
from echosafe_guard.retrieval.verdict_model import Call

__all__ = ["Action", "Decision", "decide"]


class Action(StrEnum):
    ALLOW = "allow"
    CAUTION = "caution"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    """``no_insights``, ``safe_evidence``, ``uncertain``, ``unsafe_evidence``,
    ``near_duplicate_unsafe``, ``confident_unsafe`` or ``store_unavailable``."""
    mode: Mode
    applied: bool
    """False in ``shadow`` mode: the decision was recorded, the messages left untouched."""
    top_unsafe_score: float | None = None
    notes: tuple[str, ...] = ()
    call: Call | None = None
    """The retrieval's reading of the request (``unsafe | unsure | safe``; None: no insights)."""
    p_unsafe: float | None = None
    """The verdict model's calibrated probability that the request is unsafe (None without one)."""
    confident: bool = False
    """Unsafe evidence strong enough to block (a near-duplicate, or ``p_unsafe >=
    block_confidence``): ``enforce`` blocks; ``advise`` asks the model for the block message."""


def decide(
    hits: Sequence[ScoredInsight],
    *,
    mode: Mode,
    block_threshold: float,
    block_confidence: float | None = None,
    weak_unsafe_min_similarity: float | None = None,
    call: Call | None = None,
    p_unsafe: float | None = None,
    store_failed: bool = False,
    notes: Sequence[str] = (),
) -> Decision:
    """``caution`` only when the evidence points to unsafe (``call`` unsafe; without a verdict
    model, the best insight is unsafe); ``block`` (not in ``advise`` mode) when it does and an
    unsafe insight is a near-duplicate (similarity ``>= block_threshold``); ``allow`` otherwise:
    ``safe_evidence``, ``uncertain`` (the block shows both sides, states no verdict),
    ``no_insights`` or ``store_unavailable`` (fail-open).

    Weak unsafe evidence (short of ``block_confidence`` and of a near-duplicate) whose nearest
    unsafe insight is less similar than ``weak_unsafe_min_similarity`` is read as ``unsure``:
    far from every stored harmful pattern, the verdict model's lean is not worth a refusal."""
    unsafe = [h.score for h in hits if h.insight.verdict is Verdict.UNSAFE]
    top = max(unsafe) if unsafe else None
    if store_failed or not hits:
        reason = "store_unavailable" if store_failed else "no_insights"
        return Decision(Action.ALLOW, reason, mode, mode is not Mode.SHADOW, None, tuple(notes))
    if call is None:
        top_verdict = hits[0].insight.verdict
        call = {Verdict.UNSAFE: Call.UNSAFE, Verdict.SAFE: Call.SAFE}.get(top_verdict, Call.UNSURE)
    confident = False
    sure = block_confidence is not None and (p_unsafe or 0.0) >= block_confidence
    weak = call is Call.UNSAFE and top is not None and not sure and top < block_threshold
    far = weak_unsafe_min_similarity is not None and (top or 0.0) < weak_unsafe_min_similarity
    if weak and far:
        call = Call.UNSURE
        notes = (*notes, f"weak unsafe evidence, nearest unsafe insight far ({top:.2f})")
    if call is Call.UNSAFE and top is not None:
        confident = sure or top >= block_threshold
        if top >= block_threshold and mode is not Mode.ADVISE:
            action, reason = Action.BLOCK, "near_duplicate_unsafe"
        elif sure and mode is not Mode.ADVISE:
            action, reason = Action.BLOCK, "confident_unsafe"
        else:
            action, reason = Action.CAUTION, "unsafe_evidence"
    elif call is Call.SAFE:
        action, reason = Action.ALLOW, "safe_evidence"
    else:
        action, reason = Action.ALLOW, "uncertain"
    return Decision(
        action, reason, mode, mode is not Mode.SHADOW, top, tuple(notes), call, p_unsafe, confident
    )
