"""The retrieval stage's policy: how many insights, the re-ranker and the verdict model."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from echosafe_guard.policy.strict_model import StrictModel

__all__ = ["IntentRerankPolicy", "RerankMethod", "RetrievalPolicy", "VerdictPolicy"]


class RerankMethod(StrEnum):
    NONE = "none"
    """The store's order: cosine similarity of the context keys."""
    INTENT = "intent"
    """Re-rank the candidates with the memory's own intent axis (see ``IntentRerankPolicy``)."""
    PROBE = "probe"
    """A calibrated verdict probe fitted from the memory's labelled insights orders the
    candidates and calls the request unsafe, unsure or safe (see ``VerdictPolicy``)."""


class IntentRerankPolicy(StrictModel):
    """The ``intent`` re-ranker (``echosafe_guard/retrieval/intent_rerank.py``).

    A shrinkage-LDA axis separating the tenant's unsafe from its safe insights (fitted from their
    key vectors, off the request path) scores the request's key; each candidate's similarity is
    then moved by ``weight * tanh(z / 2)`` towards the predicted verdict (away from the other)."""

    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    """Largest move, in cosine units: a candidate more similar by more than ``2 * weight`` keeps
    its place whatever the axis says (near-duplicates keep priority)."""
    shrinkage: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    """Shrinkage of the within-verdict covariance towards its mean variance (1: the axis is the
    difference of the two verdicts' mean keys)."""
    min_per_verdict: Annotated[int, Field(ge=1)] = 4
    """Fewer unsafe or safe insights than this: no axis, the store's order is kept."""
    max_fit: Annotated[int, Field(ge=16)] = 1024
    """Insights read to fit the axis (a stable, verdict-balanced sample beyond that)."""
    refresh_s: Annotated[float, Field(gt=0.0)] = 300.0
    """How often the axis is checked against the store (refitted when the count changed)."""


class VerdictPolicy(StrictModel):
    """The ``probe`` verdict model (``echosafe_guard/retrieval/probe_verdict_model.py``)."""

    probe_l2: Annotated[float, Field(gt=0.0)] = 0.1
    """L2 penalty of the logistic probe (larger: flatter, less confident). Default chosen on
    leave-one-category-out of the bundled set (``benchmarks/discrimination.py``)."""
    calibration_folds: Annotated[int, Field(ge=0, le=20)] = 3
    """Platt-scale the probe on logits of categories held out of the fit (0: off)."""
    probe_weight: Annotated[float, Field(ge=0.0)] = 1.0
    """Weight of the probe's logit in ``z``."""
    contrast_weight: Annotated[float, Field(ge=0.0)] = 0.0
    """Weight of the twin contrast (a cosine difference, roughly ±0.1) in ``z``."""
    contrast_top: Annotated[int, Field(ge=1, le=50)] = 5
    """How many nearest candidates contribute twin contrast."""
    vote_weight: Annotated[float, Field(ge=0.0)] = 0.0
    """Weight of the cosine vote of the ``contrast_top`` nearest candidates (in [-1, 1])."""
    fallback_vote_weight: Annotated[float, Field(ge=0.0)] = 2.0
    """Vote weight used instead when no probe is fitted yet (first requests of a tenant)."""
    band: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.2
    """Half-width of the ``unsure`` zone around ``p_unsafe = 0.5`` (default: the narrowest band
    whose confident calls were right ≥ 0.9 on leave-one-category-out of the bundled set)."""
    safe_at: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    """``p_unsafe`` at or below this is called ``safe`` (None: ``0.5 - band``, the symmetric
    zone). Must lie below ``0.5 + band``."""
    unsafe_first_at: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.65
    """On ``unsure``, the best unsafe candidate goes first only when ``p_unsafe`` reaches this
    (else the best safe one; then they alternate): above 0.5, a safe twin is less often shown
    an unsafe insight first on weak evidence, while an unsafe twin still sees one (default:
    chosen on leave-one-category-out of the bundled set for ≤ 0.15 safe-with-unsafe-first)."""
    duplicate_at: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    """A candidate at least this similar is the same request seen before: its verdict is the
    call and it is shown first, whatever the probe says (a learnt or curated near-duplicate)."""
    min_per_verdict: Annotated[int, Field(ge=1)] = 4
    """A tenant needs this many live unsafe and safe insights before a probe is fitted."""
    text_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    """Weight of the request's own wording in the verdict: ``z = (1 - w) · probe + w · text``,
    the text's log-odds from the shipped n-gram intent model
    (``retrieval/bundled_text_verdict.py``; fitted on the project's seen twin sets). 0: the probe
    alone. Default chosen on seen sets only (``docs/discrimination.md``, stop 45)."""
    refresh_s: Annotated[float, Field(gt=0.0)] = 60.0
    """How often a tenant's fitted state is checked for staleness (background refit)."""
    max_fit: Annotated[int, Field(ge=10)] = 4000
    """At most this many insights (a stable sample) are read for a fit."""

    @property
    def safe_edge(self) -> float:
        """``p_unsafe`` at or below this is called ``safe``: ``safe_at``, else ``0.5 - band``."""
        return 0.5 - self.band if self.safe_at is None else self.safe_at

    @property
    def unsafe_edge(self) -> float:
        """``p_unsafe`` at or above this is called ``unsafe``: ``0.5 + band``."""
        return 0.5 + self.band

    @model_validator(mode="after")
    def _check_zone(self) -> Self:
        # Only a set safe_at is checked: band 0 (no unsure zone) makes both edges 0.5.
        if self.safe_at is not None and self.safe_at >= self.unsafe_edge:
            raise ValueError(
                f"retrieval.verdict.safe_at ({self.safe_at}) must be below 0.5 + band "
                f"({self.unsafe_edge})"
            )
        return self


class RetrievalPolicy(StrictModel):
    k: Annotated[int, Field(ge=1, le=50)] = 3
    min_similarity: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.25
    rerank: RerankMethod = RerankMethod.INTENT
    candidates: Annotated[int, Field(ge=1, le=200)] = 20
    """How many hits the store returns for the re-ranker (at least ``k``) before the top ``k``
    are kept. Ignored with ``rerank: none``."""
    intent: IntentRerankPolicy = IntentRerankPolicy()
    verdict: VerdictPolicy = VerdictPolicy()

    @property
    def search_k(self) -> int:
        """How many hits to ask the store for."""
        return self.k if self.rerank is RerankMethod.NONE else max(self.k, self.candidates)
