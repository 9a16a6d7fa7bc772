"""The ``VerdictModel`` Protocol and its output, the request's :class:`Assessment`.

The guard's retrieval stage calls ``assess(key, candidates, tenant=..., k=..., text=...)`` after the
store's search (candidates best first by cosine) and before the decision. The assessment's
``hits`` are the insights to show, reordered and cut to ``k``; ``p_unsafe`` and ``call`` feed
the decision rule: ``caution`` only on ``call == unsafe``, ``allow`` with the safe guidance on
``call == safe``, and a contrast block (no stated verdict) on ``unsure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from echosafe_guard.memory.base import Vector
from echosafe_guard.memory.insight import ScoredInsight
from echosafe_guard.retrieval.verdict_model import Call

__all__ = ["Assessment", "VerdictModel"]


@dataclass(frozen=True)
class Assessment:
    """``fitted`` False: the tenant's state was not ready and the fallback (cosine vote of the
    nearest candidates) was used."""

    hits: tuple[ScoredInsight, ...]
    p_unsafe: float
    call: Call
    fitted: bool


@runtime_checkable
class VerdictModel(Protocol):
    """Estimates how unsafe a request is from its key and its candidate insights.

    Implementations are thread-safe and cheap on the request path (no fitting, no I/O, no
    model call); per-tenant state is fitted off the path from the store's insights."""

    def assess(
        self,
        vector: Vector,
        hits: Sequence[ScoredInsight],
        *,
        tenant: str,
        k: int,
        text: str = "",
    ) -> Assessment: ...
