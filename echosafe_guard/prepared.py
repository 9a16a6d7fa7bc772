"""``Prepared``: the outcome of one guarded request, and its one serialised form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from echosafe_guard.context import RequestContext
from echosafe_guard.key.key_builder import ImagePart
from echosafe_guard.memory.insight import ScoredInsight
from echosafe_guard.retrieval.decide import Action, Decision

__all__ = ["Prepared", "Timings"]


@dataclass(frozen=True)
class Timings:
    normalize_ms: float = 0.0
    embed_text_ms: float = 0.0
    embed_image_ms: float = 0.0
    search_ms: float = 0.0
    """The whole retrieval: the store's search and re-ranking (``rerank_ms``)."""
    rerank_ms: float = 0.0
    adjudicate_ms: float = 0.0
    """The adjudicator's model calls (the calls put to it, see ``needs_adjudication``; 0
    otherwise)."""
    rewrite_ms: float = 0.0
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Prepared:
    """The outcome of :meth:`Guard.prepare`: send ``messages`` to the model (unless blocked).

    For OpenAI/LiteLLM messages, ``messages`` carry the guard's block already. For turns (or a
    request context) ``messages`` are the turns as given: the adapter writes ``system_prompt``
    into its framework's system message when ``decision.applied`` (replacing an earlier block,
    see :func:`echosafe_guard.block.merge_system_text`; ``None``: remove it)."""

    messages: list[Any]
    insights: tuple[ScoredInsight, ...]
    decision: Decision
    timings: Timings
    tenant: str
    request_hash: str
    layout: str
    image_part: ImagePart
    system_prompt: str | None
    """The guard's block for this request (None when nothing is added)."""
    key: npt.NDArray[np.float32] = field(repr=False)
    context: RequestContext | None = field(default=None, repr=False)
    """The request context (held in memory for :meth:`Guard.learn`; never stored)."""

    @property
    def blocked(self) -> bool:
        return self.decision.action is Action.BLOCK and self.decision.applied

    def summary(self, *, texts: bool = True) -> dict[str, Any]:
        """The one serialised form (JSON-ready; never the user's text nor the key): for
        ``screen --json``, LiteLLM's logging and response metadata, the ``on_decision`` hook.

        ``texts=False`` leaves out the insights' scenario and guidance and the system prompt
        (for anything shown to the end user, such as an HTTP error body)."""
        d = self.decision
        insights: list[dict[str, Any]] = []
        for h in self.insights:
            i = h.insight
            row: dict[str, Any] = {
                "id": i.id,
                "verdict": i.verdict.value,
                "category": i.category,
                "score": round(h.score, 6),
            }
            if texts:
                row |= {"scenario": i.scenario, "guidance": i.guidance}
            insights.append(row)
        out: dict[str, Any] = {
            "decision": d.action.value,
            "reason": d.reason,
            "mode": d.mode.value,
            "applied": d.applied,
            "blocked": self.blocked,
            "top_unsafe_score": d.top_unsafe_score,
            "call": d.call.value if d.call is not None else None,
            "p_unsafe": round(d.p_unsafe, 4) if d.p_unsafe is not None else None,
            "insights": insights,
            "insight_ids": [h.insight.id for h in self.insights],
            "timings_ms": self.timings.as_dict(),
            "notes": list(d.notes),
            "image_part": self.image_part.value,
            "tenant": self.tenant,
            "request_hash": self.request_hash,
            "layout": self.layout,
        }
        if texts:
            out["system_prompt"] = self.system_prompt
        return out
