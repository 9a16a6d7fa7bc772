"""``LearningEvent``: what the learning loop did, for observability (metrics, audit log, spans).

The learner (and hygiene, through it) hands every event to one callback
(:attr:`echosafe_guard.learning.learner.Learner.on_event`); the callback must be cheap and must
not raise (exceptions are logged and ignored). Events never carry the user's text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["LearningEvent", "LearningEventKind"]


class LearningEventKind(StrEnum):
    QUEUED = "queued"
    DROPPED = "dropped"
    """Not learnt; ``reason``: ``rate_user``, ``rate_tenant``, ``queue_full``, ``closed``,
    ``invalid`` (reflection), ``copy`` (nothing abstract left), ``model`` (reflection failed),
    ``store`` (the write failed), ``error``."""
    REFLECTED = "reflected"
    CREATED = "created"
    MERGED = "merged"
    QUARANTINED = "quarantined"
    CONFLICTED = "conflicted"
    APPROVED = "approved"
    REJECTED = "rejected"
    EVICTED = "evicted"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LearningEvent:
    kind: LearningEventKind
    tenant: str
    insight_id: str | None = None
    request_hash: str | None = None
    reason: str | None = None
    duration_ms: float | None = None
    """Reflection time (``reflected``); the admission's reads and writes (``created``,
    ``merged``)."""
    attrs: dict[str, Any] = field(default_factory=dict)
    """Small extra fields (verdict, category, status, support, actor hash, ...)."""
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "learning",
            "time": round(self.time, 6),
            "event": self.kind.value,
            "tenant": self.tenant,
            "insight_id": self.insight_id,
            "request_hash": self.request_hash,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.duration_ms is not None:
            out["duration_ms"] = round(self.duration_ms, 3)
        return out | self.attrs
