"""Memory hygiene and poisoning defences, applied to every learnt insight before it is stored.

* text is data: a draft whose text addresses the model (role markers, "ignore previous
  instructions", tag-like tokens) is rejected, every field is cleaned and capped
  (``learning/sanitize.py``);
* abstraction: personal data redacted, copied runs of the request or the answer removed;
* merge: a close insight with the same verdict absorbs the new one (support + 1, supporters
  united). A curated insight (seeded, imported, human-reviewed) keeps its guidance and status;
  learnt guidance gives way to a more confident draft only once a quorum supports the insight;
* conflict: a close insight with the opposite verdict is kept, and both are marked
  ``conflicted`` so they are shown together;
* quarantine by effect, not by label: a learnt insight that would relax behaviour (verdict
  ``safe`` or ``borderline`` in any category, or guidance that says to help where a close
  insight says to decline) is not retrieved until a quorum of distinct authenticated supporters
  or a human approves; the verdict check (the tenant's verdict model) quarantines the ones the
  memory does not back; quarantined insights never mark others as conflicted;
* capacity and TTL: the least useful learnt insights (support, hits, recency) are evicted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from echosafe_guard.learning.exchange import Exchange, InsightDraft
from echosafe_guard.learning.sanitize import (
    MAX_SIGNAL_CHARS,
    addresses_model,
    clean_text,
    redact,
    says_decline,
    says_help,
    scrub_copies,
)
from echosafe_guard.memory.base import InsightStore, Vector
from echosafe_guard.memory.insight import (
    Insight,
    InsightStatus,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    SearchFilter,
    Verdict,
    new_insight_id,
    utcnow,
)
from echosafe_guard.policy.models import Policy

__all__ = ["Admission", "Hygiene", "curated", "utility"]

log = logging.getLogger("echosafe_guard.learning")
_ALL = frozenset(InsightStatus)
_LIVE = frozenset({InsightStatus.ACTIVE, InsightStatus.CONFLICTED})
_OPPOSITE = {Verdict.SAFE: Verdict.UNSAFE, Verdict.UNSAFE: Verdict.SAFE}
_MIN_TEXT = 8


@dataclass(frozen=True)
class Admission:
    """What happened to one draft."""

    outcome: str
    """``new``, ``merged``, ``rejected_copy`` (nothing abstract left after scrubbing) or
    ``rejected_injection`` (the text addresses the model)."""
    insight: Insight | None
    conflicts: int = 0
    """Neighbours newly marked ``conflicted`` by this admission."""
    conflicted: tuple[str, ...] = ()
    """Their ids."""
    copied_runs: int = 0


def curated(ins: Insight) -> bool:
    """Seeded, imported or human-reviewed: immutable to learning (a merge only adds support)."""
    return ins.provenance.source is not ProvenanceSource.REFLECTION or bool(
        ins.provenance.reviewed_by
    )


def utility(ins: Insight, now: datetime) -> float:
    """Higher is more useful: support, retrievals and recency (30-day half-life)."""
    last = max(ins.updated, ins.last_hit or ins.updated)
    age_days = max(0.0, (now - last).total_seconds() / 86400)
    return math.log1p(ins.support) + 0.5 * math.log1p(ins.hits) + 2 ** (-age_days / 30)


VerdictCheck = Callable[[str, Vector], Verdict | None]
"""``(tenant, key) -> verdict``: what the tenant's memory (its fitted verdict model) says of a
request: ``unsafe`` or ``safe`` when confident, ``borderline`` when unsure, None when it cannot
say (too few labelled insights to fit: the other rules apply alone)."""


class Hygiene:
    """``verdict_check``: a learnt insight whose verdict disagrees with what the memory says of
    the same request, or on which the memory is unsure, waits in quarantine — unsafe as well as
    safe — so a small reflector cannot teach over-refusal (nor the reverse) on its own."""

    def __init__(
        self, policy: Policy, store: InsightStore, verdict_check: VerdictCheck | None = None
    ) -> None:
        self.policy = policy
        self.store = store
        self.verdict_check = verdict_check
        self.on_removed: Callable[[str, list[str], list[str]], object] | None = None
        """Called by :meth:`prune` with ``(tenant, expired ids, evicted ids)``."""

    def _abstract(self, draft: InsightDraft, ex: Exchange) -> tuple[InsightDraft | None, int]:
        sources = [ex.request_text, ex.response_text]
        limit = self.policy.learning.max_copied_words
        runs = 0

        def clean(text: str, cap: int = 1000) -> str:
            nonlocal runs
            out, n = scrub_copies(redact(clean_text(text, cap)), sources, limit)
            runs += n
            return out

        scenario, guidance = clean(draft.scenario), clean(draft.guidance)
        signals = [
            s
            for s in (clean(x, MAX_SIGNAL_CHARS) for x in draft.intent_signals)
            if len(s.strip("[…] ")) >= 2
        ]
        if (
            min(len(scenario.replace("[…]", "").strip()), len(guidance.replace("[…]", "").strip()))
            < _MIN_TEXT
        ):
            return None, runs
        return draft.model_copy(
            update={"scenario": scenario, "guidance": guidance, "intent_signals": signals}
        ), runs

    def _relaxes(self, ins: Insight, near: list[ScoredInsight]) -> bool:
        """Would this learnt insight relax behaviour? By its effect, never by the labels the
        reflection chose: a ``safe`` or ``borderline`` verdict in any category, or guidance that
        says to help where a retrievable close insight says to decline (or is ``unsafe``)."""
        if ins.verdict is not Verdict.UNSAFE:
            return True
        if not says_help(ins.guidance):
            return False
        return any(
            h.insight.id != ins.id
            and h.insight.status in _LIVE
            and (h.insight.verdict is Verdict.UNSAFE or says_decline(h.insight.guidance))
            for h in near
        )

    @property
    def reflector_trusted(self) -> bool:
        """The reflection model's measured agreement reaches ``min_reflector_agreement``."""
        measured = self.policy.reflection.agreement
        return measured is not None and measured >= self.policy.learning.min_reflector_agreement

    def _checked(self, ins: Insight, ex: Exchange) -> Insight:
        """Quarantine a new learnt insight the memory's verdict model does not back; when the
        memory cannot say, only a trusted reflector's insight goes on (``borderline`` waits for
        the quorum either way)."""
        if ins.verdict is Verdict.BORDERLINE:
            return ins
        said: Verdict | None = None
        if self.verdict_check is not None:
            try:
                said = self.verdict_check(ex.tenant, ex.key)
            except Exception:  # a failing check never loses the exchange: the insight waits
                log.warning(
                    "verdict check failed; the learnt insight waits in quarantine", exc_info=True
                )
                said = Verdict.BORDERLINE
        if said is ins.verdict or (said is None and self.reflector_trusted):
            return ins
        return ins.model_copy(update={"status": InsightStatus.QUARANTINED})

    def _status(self, ins: Insight, near: list[ScoredInsight]) -> InsightStatus:
        """Quarantine until the quorum; human decisions (reviewed_by) stick.

        A quorum never lifts the quarantine of an insight that contradicts a retrievable
        ``unsafe`` insight next to it: a handful of accounts could otherwise out-vote the memory
        of a known-harmful request (a sybil attack). That takes a human, in ``memory review``."""
        if ins.provenance.reviewed_by or ins.status is InsightStatus.REJECTED:
            return ins.status
        if self._relaxes(ins, near):
            contradicts = any(
                h.insight.id != ins.id
                and h.insight.verdict is Verdict.UNSAFE
                and h.insight.status in _LIVE
                for h in near
            )
            if contradicts or len(ins.provenance.supporters) < self.policy.learning.quorum:
                return InsightStatus.QUARANTINED
            if ins.status is InsightStatus.QUARANTINED:
                return InsightStatus.ACTIVE
        return ins.status

    def _merge(
        self,
        old: Insight,
        clean: InsightDraft,
        prov: Provenance,
        near: list[ScoredInsight],
        now: datetime,
    ) -> Insight:
        """``old`` with the new exchange's support and provenance added.

        A curated insight (seeded, imported or human-reviewed) keeps its guidance, signals,
        confidence and status: learning only adds support. Learnt guidance is replaced by a more
        confident draft only once the insight has a quorum of distinct supporters, so one
        account cannot rewrite what others taught."""
        people = old.provenance.merged(prov)
        base = old.model_copy(
            update={"support": old.support + 1, "provenance": people, "updated": now}
        )
        if curated(old):
            return base
        replace = (
            clean.confidence > old.confidence
            and len(people.supporters) >= self.policy.learning.quorum
        )
        merged = base.model_copy(
            update={
                "guidance": clean.guidance if replace else old.guidance,
                "intent_signals": tuple(clean.intent_signals) if replace else old.intent_signals,
                "confidence": clean.confidence if replace else old.confidence,
            }
        )
        return merged.model_copy(update={"status": self._status(merged, near)})

    def admit(self, draft: InsightDraft, ex: Exchange, *, now: datetime | None = None) -> Admission:
        now = now or utcnow()
        texts = [draft.scenario, draft.guidance, draft.category, *draft.intent_signals]
        reason = next((r for r in map(addresses_model, texts) if r), None)
        if reason:
            log.warning("learnt insight rejected: its text addresses the model (%s)", reason)
            return Admission("rejected_injection", None)
        clean, runs = self._abstract(draft, ex)
        if clean is None:
            return Admission("rejected_copy", None, copied_runs=runs)
        learning = self.policy.learning
        near = self.store.search(
            ex.key,
            tenant=ex.tenant,
            k=8,
            min_score=learning.conflict_threshold,
            filters=SearchFilter(statuses=_ALL),
        )
        prov = Provenance(
            source=ProvenanceSource.REFLECTION,
            request_hashes=(ex.request_hash,),
            supporters=(ex.actor,) if ex.actor else (),
            ref=f"reflection:{ex.model}" if ex.model else "reflection",
        )
        same = [
            h
            for h in near
            if h.insight.verdict is clean.verdict and h.score >= learning.merge_threshold
        ]
        old = None
        if same:  # search results carry no vector: read the record whole
            old = self.store.get(ex.tenant, same[0].insight.id, with_vector=True)
        if old is not None:
            ins = self._merge(old, clean, prov, near, now)
            outcome = "merged"
        else:
            fresh = Insight(
                id=new_insight_id(),
                tenant=ex.tenant,
                scenario=clean.scenario,
                intent_signals=tuple(clean.intent_signals),
                verdict=clean.verdict,
                guidance=clean.guidance,
                category=clean.category,
                confidence=clean.confidence,
                provenance=prov,
                created=now,
                updated=now,
                layout=ex.layout,
                vector=tuple(float(x) for x in ex.key),
            )
            ins = self._checked(fresh.model_copy(update={"status": self._status(fresh, near)}), ex)
            outcome = "new"
        writes, found = self._conflicting(ins, near)
        if found and ins.status is not InsightStatus.CONFLICTED:
            ins = ins.model_copy(update={"status": InsightStatus.CONFLICTED})
        self.store.upsert([ins, *writes])
        return Admission(
            outcome,
            ins,
            conflicts=len(writes),
            conflicted=tuple(w.id for w in writes),
            copied_runs=runs,
        )

    def _conflicting(self, ins: Insight, near: list[ScoredInsight]) -> tuple[list[Insight], int]:
        """Retrievable opposite-verdict neighbours of a retrievable insight: how many, and the
        ones to re-write as ``conflicted`` (the caller marks ``ins`` too)."""
        if ins.status not in _LIVE or ins.verdict not in _OPPOSITE:
            return [], 0
        out, found = [], 0
        for h in near:
            other = h.insight
            if other.verdict is not _OPPOSITE[ins.verdict] or other.status not in _LIVE:
                continue
            found += 1
            if other.status is InsightStatus.ACTIVE:
                full = self.store.get(other.tenant, other.id, with_vector=True)
                if full is not None:
                    out.append(full.model_copy(update={"status": InsightStatus.CONFLICTED}))
        return out, found

    def prune(self, tenant: str, *, now: datetime | None = None) -> dict[str, int]:
        """Apply TTL and capacity to one tenant now. Seeded and reviewed insights are kept."""
        now = now or utcnow()
        learning = self.policy.learning
        size = self.store.count(tenant)
        if learning.ttl_days is None and size <= learning.capacity_per_tenant:
            return {"expired": 0, "evicted": 0, "removed": 0}  # nothing to do: no scan
        learnt = [
            i
            for i in self.store.iter_insights(tenant)
            if i.provenance.source is ProvenanceSource.REFLECTION and not i.provenance.reviewed_by
        ]
        expired: list[str] = []
        if learning.ttl_days is not None:
            cutoff = now - timedelta(days=learning.ttl_days)
            expired = [i.id for i in learnt if max(i.updated, i.last_hit or i.updated) < cutoff]
        over = size - len(expired) - learning.capacity_per_tenant
        gone = set(expired)
        keep = [i for i in learnt if i.id not in gone]
        evicted = [i.id for i in sorted(keep, key=lambda i: utility(i, now))[: max(0, over)]]
        removed = self.store.delete(tenant, expired + evicted) if expired or evicted else 0
        if self.on_removed is not None and removed:
            self.on_removed(tenant, expired, evicted)
        return {"expired": len(expired), "evicted": len(evicted), "removed": removed}
