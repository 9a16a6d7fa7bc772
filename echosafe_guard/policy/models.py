"""Pydantic models of a policy file (``policies/default.yaml`` is the reference)."""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from echosafe_guard.policy.adjudication import AdjudicatorPolicy
from echosafe_guard.policy.retrieval import IntentRerankPolicy, RerankMethod, RetrievalPolicy
from echosafe_guard.policy.strict_model import StrictModel

__all__ = [
    "CORE_CATEGORIES",
    "Category",
    "ContextPolicy",
    "ImagePolicy",
    "IntentRerankPolicy",
    "LearningPolicy",
    "Mode",
    "ObservabilityAuditPolicy",
    "ObservabilityPolicy",
    "Policy",
    "PromptPolicy",
    "ReflectionPolicy",
    "RerankMethod",
    "RetrievalPolicy",
    "SeedTemplate",
    "StoreErrorPolicy",
    "Taxonomy",
]

CORE_CATEGORIES = (
    "illegal_activity",
    "hate_speech",
    "malware_generation",
    "physical_harm",
    "fraud",
    "sex",
)
"""The six MM-SafetyBench++ categories every policy must define."""

_KEY = r"^[a-z][a-z0-9_]*$"


class Mode(StrEnum):
    ADVISE = "advise"
    """Rewrite the system prompt with the retrieved insights; never block."""
    ENFORCE = "enforce"
    """As advise, and block near-duplicates of a known-unsafe insight."""
    SHADOW = "shadow"
    """Compute and record the decision; leave the messages untouched."""


class StoreErrorPolicy(StrEnum):
    FAIL_OPEN = "fail_open"
    """Proceed without insights; the decision's reason says ``store_unavailable``."""
    FAIL_CLOSED = "fail_closed"
    """Raise the store error to the caller."""


class Category(StrictModel):
    title: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    high_risk: bool = False
    """Informational since issue 13: every learnt insight that relaxes behaviour needs the
    quorum, whatever its category."""


class Taxonomy(StrictModel):
    categories: dict[Annotated[str, Field(pattern=_KEY)], Category]
    mm_safetybench: dict[str, str] = Field(default_factory=dict)
    """MM-SafetyBench scenario name → category key."""
    llama_guard: dict[Annotated[str, Field(pattern=r"^S[0-9]{1,2}$")], str] = Field(
        default_factory=dict
    )
    """Llama Guard hazard code (S1…S14) → category key."""
    aliases: dict[str, str] = Field(default_factory=dict)
    """Any other name (another benchmark's label) → category key."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        missing = [c for c in CORE_CATEGORIES if c not in self.categories]
        if missing:
            raise ValueError(f"taxonomy.categories lacks the core categories {missing}")
        for table in ("mm_safetybench", "llama_guard", "aliases"):
            for name, target in getattr(self, table).items():
                if target not in self.categories:
                    raise ValueError(
                        f"taxonomy.{table}[{name!r}] maps to unknown category {target!r}"
                    )
        return self

    def resolve(self, name: str) -> str | None:
        """The category key for a key, an MM-SafetyBench scenario, S1…S14 or an alias."""
        if name in self.categories:
            return name
        for table in (self.mm_safetybench, self.llama_guard, self.aliases):
            if name in table:
                return table[name]
        low = name.strip().lower()
        if low in self.categories:
            return low
        for table in (self.mm_safetybench, self.aliases):
            for key, target in table.items():
                if key.lower() == low:
                    return target
        return None


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _check_template(template: str, allowed: set[str], where: str) -> None:
    unknown = _fields(template) - allowed
    if unknown:
        raise ValueError(
            f"{where} uses unknown placeholders {sorted(unknown)}; allowed {sorted(allowed)}"
        )


INSIGHT_FIELDS = {
    "n",
    "verdict",
    "category",
    "category_title",
    "scenario",
    "intent_signals",
    "guidance",
    "score",
    "support",
    "status",
}


BLOCK_SIDE_FIELDS = {"scenario", "intent_signals", "category", "category_title"}
CONTRAST_FIELDS = {f"{side}_{f}" for side in ("unsafe", "safe") for f in BLOCK_SIDE_FIELDS}


class PromptPolicy(StrictModel):
    """What the guard writes into the system prompt, by the retrieval's call on the request.

    The block follows the operator's own system text: first the static ``preamble`` (so a
    provider's prefix cache and llama.cpp's KV cache reuse it), then one short part chosen by the
    call. Insight fields only describe (scenario, intent signals); what to do is said once, in
    the template, in words a model cannot paste as its answer. An empty template writes no block
    for that call: with no unsafe evidence the guard adds nothing that could prime a refusal."""

    preamble: Annotated[str, Field(min_length=1)]
    unsafe: Annotated[str, Field(min_length=1)]
    """Evidence points to unsafe: the best unsafe insight (``{scenario}``, ``{intent_signals}``)
    and ``{block_message}``, the policy's block message, which the model may be asked to give
    as its whole reply."""
    refuse: str = ""
    """Evidence strong enough to block (``Decision.confident``) in ``advise`` mode, when it
    should read differently from weaker unsafe evidence: the same fields (empty: the ``unsafe``
    template for both)."""
    contrast: str = ""
    """Unsure, with both sides retrieved: ``{unsafe_scenario}``, ``{safe_scenario}``, … The
    request is not given a verdict; the model weighs it."""
    maybe_unsafe: str = ""
    """Unsure, with only unsafe insights retrieved."""
    safe: str = ""
    """Evidence points to safe: the best safe insight."""
    max_tokens: Annotated[int, Field(ge=16, le=4000)] = 150
    """Budget for the whole block (estimated at four characters a token): intent signals, then
    scenarios are shortened to fit."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_template(self.preamble, set(), "prompt.preamble")
        for name in ("maybe_unsafe", "safe"):
            _check_template(getattr(self, name), BLOCK_SIDE_FIELDS, f"prompt.{name}")
        for name in ("unsafe", "refuse"):
            allowed = BLOCK_SIDE_FIELDS | {"block_message"}
            _check_template(getattr(self, name), allowed, f"prompt.{name}")
        _check_template(self.contrast, CONTRAST_FIELDS, "prompt.contrast")
        return self


class ContextPolicy(StrictModel):
    earlier_user_turns: Annotated[int, Field(ge=0, le=20)] = 2
    """How many user turns before the last one join the request context."""
    max_text_chars: Annotated[int, Field(ge=1)] = 100_000
    max_messages: Annotated[int, Field(ge=1)] = 1_000
    unkeyed_part_types: frozenset[str] = frozenset({"input_audio", "file", "input_file", "refusal"})
    """Content part types the guard cannot read and passes to the model unkeyed (audio, files,
    an assistant's refusal). A part of any other type besides text and images is refused as a
    format error: the guard never lets through content it does not know."""


class ImagePolicy(StrictModel):
    max_encoded_bytes: Annotated[int, Field(ge=1)] = 20 * 1024 * 1024
    max_pixels: Annotated[int, Field(ge=1)] = 40_000_000
    max_side: Annotated[int, Field(ge=1)] = 12_000
    """Longest side in pixels, checked on the header before any decode or resize."""
    max_aspect: Annotated[float, Field(ge=1)] = 20.0
    """Longest side over shortest side: an embedder scales the short side up to its input size,
    so an extreme aspect ratio would blow up memory (a 1x40M image: gigabytes)."""
    max_request_pixels: Annotated[int, Field(ge=1)] = 256_000_000
    """Declared pixels of all the images of one request together."""
    max_images: Annotated[int, Field(ge=0)] = 16
    formats: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
    """Pillow format names; ``JPEG`` also accepts MPO (phone cameras' multi-picture JPEG)."""
    fetch_allow_hosts: tuple[str, ...] = ()
    """Hosts whose http(s) image URLs may be fetched. Empty: remote images are never fetched."""
    fetch_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    """Deadline of one fetch, whole body included (not per socket operation)."""
    fetch_total_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Deadline of all the fetches of one request, made in parallel."""


class SeedTemplate(StrictModel):
    scenario: Annotated[str, Field(min_length=1)]
    guidance: Annotated[str, Field(min_length=1)]
    intent_signals: tuple[str, ...] = ()
    confidence: Annotated[float, Field(ge=0, le=1)] = 0.9

    @model_validator(mode="after")
    def _check(self) -> Self:
        allowed = {"category", "category_title", "category_description"}
        _check_template(self.scenario, allowed, "seed.scenario")
        _check_template(self.guidance, allowed, "seed.guidance")
        return self


REFLECTION_FIELDS = {"request", "n_images", "response", "categories"}


class ReflectionPolicy(StrictModel):
    """How the model reflects on an exchange to distil an insight (through LiteLLM)."""

    model: str | None = None
    """LiteLLM model id; None: the model that served the request."""
    prompt: Annotated[str, Field(min_length=1)]
    """System prompt of the reflection call."""
    exchange_template: Annotated[str, Field(min_length=1)]
    """User message; placeholders {request}, {n_images}, {response}, {categories}."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    """Attempts on model errors and timeouts, with exponential backoff."""
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    max_tokens: Annotated[int, Field(ge=32, le=4096)] = 400
    max_request_chars: Annotated[int, Field(ge=100)] = 4000
    max_response_chars: Annotated[int, Field(ge=100)] = 4000
    agreement: Annotated[float, Field(ge=0, le=1)] | None = None
    """The reflection model's measured verdict agreement with the labels of twins
    (``benchmarks/reflector_agreement.py``); None: not measured. See
    ``learning.min_reflector_agreement``."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_template(self.exchange_template, REFLECTION_FIELDS, "reflection.exchange_template")
        _check_template(self.prompt, set(), "reflection.prompt")
        return self


class LearningPolicy(StrictModel):
    """Memory hygiene and poisoning defences applied on every learnt insight."""

    enabled: bool = True
    queue_size: Annotated[int, Field(ge=1)] = 1000
    merge_threshold: Annotated[float, Field(ge=0, le=1)] = 0.92
    """A new insight this close to one with the same verdict merges into it (support + 1)."""
    conflict_threshold: Annotated[float, Field(ge=0, le=1)] = 0.88
    """A new insight this close to one with the opposite verdict marks both ``conflicted``."""
    quorum: Annotated[int, Field(ge=1)] = 3
    """Distinct authenticated supporters before a learnt insight that relaxes behaviour leaves
    quarantine."""
    capacity_per_tenant: Annotated[int, Field(ge=1)] = 10_000
    ttl_days: Annotated[float, Field(gt=0)] | None = None
    """Learnt insights not updated or retrieved for this long are pruned (None: never)."""
    user_rate_per_hour: Annotated[int, Field(ge=1)] = 30
    tenant_rate_per_hour: Annotated[int, Field(ge=1)] = 2000
    max_copied_words: Annotated[int, Field(ge=2, le=20)] = 5
    """Insight text may not repeat more consecutive words of the user's text or the answer."""
    hit_flush_s: Annotated[float, Field(gt=0)] = 5.0
    min_reflector_agreement: Annotated[float, Field(ge=0, le=1)] = 0.9
    """A reflector whose measured ``reflection.agreement`` is lower (or unmeasured) is not
    trusted alone: its insight goes live only when the tenant's fitted verdict model backs the
    verdict (or by quorum, or a human); otherwise it waits in quarantine, unsafe as well as safe.
    A trusted reflector's insight also goes live when the memory cannot say (too few labelled
    insights to fit a verdict model)."""


class ObservabilityAuditPolicy(StrictModel):
    """The decision audit log: one JSON line per decision and per learning event."""

    enabled: bool = True
    path: str | None = None
    """The log file (``ECHOSAFE_AUDIT_LOG`` overrides). None: ``<store>/audit/audit.jsonl`` for a
    local store; a Redis store writes to its audit stream only."""
    raw_text: bool = False
    """Also record the request's text (redacted: e-mail, URLs, card and phone numbers)."""
    system_prompt: bool = True
    """Record the guard's block (what the model was told; insight text, never the user's)."""
    max_bytes: Annotated[int, Field(ge=4096)] = 50 * 1024 * 1024
    """Rotate the file past this size."""
    backups: Annotated[int, Field(ge=0, le=100)] = 5
    fsync: bool = True
    """fsync every batch of appended lines."""
    redis_stream: bool = True
    """When the store is Redis, also append to its audit stream (XADD, capped)."""
    redis_maxlen: Annotated[int, Field(ge=100)] = 100_000
    queue_size: Annotated[int, Field(ge=1)] = 10_000
    """Records waiting for the writer thread; a full queue drops (counted), never blocks."""


class ObservabilityPolicy(StrictModel):
    """Spans, metrics and the audit log (``docs/observability.md``)."""

    enabled: bool = True
    """Off: nothing is attached to the guard (no cost on the request path)."""
    tracing: bool = True
    """OpenTelemetry spans (a no-op unless an SDK tracer provider is configured)."""
    capture_content: bool = False
    """Put request text (redacted) and the guard's block into spans."""
    metrics: bool = True
    """Prometheus metrics (``/metrics`` on the proxy)."""
    tenant_labels: Annotated[int, Field(ge=0, le=10_000)] = 50
    """Tenants with their own metric label; later ones are counted as ``other``."""
    audit: ObservabilityAuditPolicy = ObservabilityAuditPolicy()


class Policy(StrictModel):
    """A whole policy: taxonomy, prompt rewrite, retrieval, decisions and input limits."""

    version: int = 1
    name: Annotated[str, Field(min_length=1)] = "default"
    mode: Mode = Mode.ADVISE
    block_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.92
    """``enforce`` blocks when a known-unsafe insight is at least this similar."""
    block_confidence: Annotated[float, Field(gt=0.5, le=1.0)] | None = 0.9
    """``enforce`` also blocks a request the verdict model calls unsafe with ``p_unsafe`` at or
    above this (None: only near-duplicates block)."""
    weak_unsafe_min_similarity: Annotated[float, Field(ge=-1.0, le=1.0)] | None = 0.5
    """Unsafe evidence short of ``block_confidence`` counts only when the nearest unsafe insight
    is at least this similar; a weak call from a far insight is read as unsure (the block shows
    both sides and states no verdict). None: every unsafe call counts. Default: chosen end to
    end with the local model on seen sets over 0.42 (leave-one-category-out of the bundled set:
    the lowest value whose kept weak calls were right ≥ 0.85) and 1.0 (docs/discrimination.md).
    A cosine of the default all-mpnet-base-v2 key: another text model needs its own value
    (``benchmarks/discrimination.py`` reports the LOCO choice, as for ``min_similarity``)."""
    on_store_error: StoreErrorPolicy = StoreErrorPolicy.FAIL_OPEN
    block_message: Annotated[str, Field(min_length=1)] = (
        "I can't help with that request. If I misread it, please rephrase what you need."
    )
    """What a blocked request gets instead of a model answer (``enforce`` mode)."""
    raise_on_block: bool = False
    """Integrations raise ``RequestBlockedError`` (the proxy: HTTP 400) instead of answering
    ``block_message`` as a normal assistant message."""
    taxonomy: Taxonomy
    prompt: PromptPolicy
    retrieval: RetrievalPolicy = RetrievalPolicy()
    adjudicator: AdjudicatorPolicy = AdjudicatorPolicy()
    """A chat model's second opinion on weak unsafe evidence (off unless ``model`` is set)."""
    context: ContextPolicy = ContextPolicy()
    images: ImagePolicy = ImagePolicy()
    seed: dict[str, SeedTemplate]
    """Templates for ``memory seed``: one per verdict (unsafe, safe, borderline)."""
    reflection: ReflectionPolicy
    learning: LearningPolicy = LearningPolicy()
    observability: ObservabilityPolicy = ObservabilityPolicy()

    @model_validator(mode="after")
    def _check(self) -> Self:
        need = {"unsafe", "safe", "borderline"}
        if set(self.seed) != need:
            raise ValueError(f"seed must define exactly the verdicts {sorted(need)}")
        if self.block_threshold < self.retrieval.min_similarity:
            raise ValueError("block_threshold must not be below retrieval.min_similarity")
        if self.learning.conflict_threshold > self.learning.merge_threshold:
            raise ValueError("learning.conflict_threshold must not exceed merge_threshold")
        return self
