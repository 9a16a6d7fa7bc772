"""The safety-insight record and the small records the stores return."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from echosafe_guard.context import request_hash

__all__ = [
    "Insight",
    "InsightStatus",
    "Provenance",
    "ProvenanceSource",
    "ScoredInsight",
    "SearchFilter",
    "StoreHealth",
    "StoreStats",
    "Verdict",
    "new_insight_id",
    "request_hash",
    "utcnow",
]

MAX_TEXT = 1000
MAX_SIGNALS = 12


class Verdict(StrEnum):
    """What past experience says about requests like this one."""

    UNSAFE = "unsafe"
    SAFE = "safe"
    BORDERLINE = "borderline"


class InsightStatus(StrEnum):
    """Lifecycle of an insight. Only ``active`` and ``conflicted`` ones are retrieved by default.

    ``conflicted``: a close insight has the opposite verdict; both are kept and shown together.
    ``quarantined``: a learnt insight that relaxes behaviour (any category), waiting for a
    quorum of independent supporters or a human approval. ``rejected``: refused in review.
    """

    ACTIVE = "active"
    CONFLICTED = "conflicted"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


class ProvenanceSource(StrEnum):
    SEED = "seed"
    REFLECTION = "reflection"
    IMPORT = "import"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_insight_id() -> str:
    return "ins_" + uuid.uuid4().hex


MAX_HASHES = 64


class Provenance(BaseModel):
    """Where an insight came from. Holds hashes of the requests and of the users behind it,
    never their text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: ProvenanceSource
    request_hashes: tuple[str, ...] = ()
    supporters: tuple[str, ...] = ()
    """Hashed ids of the distinct users (or sessions) whose exchanges support the insight."""
    ref: str | None = Field(default=None, max_length=300)
    """A free reference: the seed file and item id, the reflecting model, the import file."""
    reviewed_by: str | None = Field(default=None, max_length=128)
    """Who approved or rejected it in ``memory review``."""

    def merged(self, other: Provenance) -> Provenance:
        """This provenance with ``other``'s request hashes and supporters added (bounded)."""
        hashes = tuple(dict.fromkeys(self.request_hashes + other.request_hashes))[-MAX_HASHES:]
        people = tuple(dict.fromkeys(self.supporters + other.supporters))[-MAX_HASHES:]
        return self.model_copy(update={"request_hashes": hashes, "supporters": people})


_Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class Insight(BaseModel):
    """An abstract safety insight with the key vector of the request context it was learnt from.

    ``vector`` is the unit-norm context key (text part ⊕ image part); ``layout`` names the key
    layout it was computed with. Stores may hand insights back without their vector.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
    tenant: Annotated[str, Field(min_length=1, max_length=128)]
    scenario: _Text
    intent_signals: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    verdict: Verdict
    guidance: _Text
    category: Annotated[str, Field(min_length=1, max_length=64)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    support: Annotated[int, Field(ge=1)] = 1
    status: InsightStatus = InsightStatus.ACTIVE
    provenance: Provenance
    created: datetime = Field(default_factory=utcnow)
    updated: datetime = Field(default_factory=utcnow)
    hits: Annotated[int, Field(ge=0)] = 0
    """How often the insight was retrieved."""
    last_hit: datetime | None = None
    layout: Annotated[str, Field(min_length=1, max_length=128)]
    vector: tuple[float, ...] | None = None

    @field_validator("intent_signals")
    @classmethod
    def _cap_signals(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) > MAX_SIGNALS:
            raise ValueError(f"at most {MAX_SIGNALS} intent signals, got {len(v)}")
        return v

    def without_vector(self) -> Insight:
        return self if self.vector is None else self.model_copy(update={"vector": None})

    def to_json_dict(self, *, with_vector: bool = True) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if not with_vector:
            data.pop("vector", None)
        return data


class ScoredInsight(BaseModel):
    """A retrieved insight and its cosine similarity to the query key."""

    model_config = ConfigDict(frozen=True)

    insight: Insight
    score: float


class SearchFilter(BaseModel):
    """Filters applied inside the search (never after a truncated top-k)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: frozenset[str] | None = None
    verdicts: frozenset[Verdict] | None = None
    statuses: frozenset[InsightStatus] = frozenset({InsightStatus.ACTIVE, InsightStatus.CONFLICTED})

    def matches(self, insight: Insight) -> bool:
        return (
            (self.categories is None or insight.category in self.categories)
            and (self.verdicts is None or insight.verdict in self.verdicts)
            and insight.status in self.statuses
        )


class StoreStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    location: str
    layout: str | None
    total: int
    by_tenant: dict[str, int]
    by_verdict: dict[str, int]
    by_category: dict[str, int]
    by_status: dict[str, int]


class StoreHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    kind: str
    location: str
    detail: str
