"""``Tracing``: OpenTelemetry spans for each decision and for learning (opentelemetry-api only).

The stages of ``prepare`` time themselves (:class:`~echosafe_guard.prepared.Timings`), so the
spans are emitted after the fact from those timings: one ``prepare`` span ending when the
decision was made, with one child per stage laid out in order (normalize, embed text, embed
image, search, re-rank, rewrite). Nothing is threaded through the stages; a gap between stages
(the thread hop of ``aprepare``) is not shown. The ``prepare`` span is a child of the caller's
current span (e.g. LiteLLM's request span). Reflection and store writes get their own spans from
the learning events. Without an SDK tracer provider every call is a no-op (checked once per
decision). No request text goes into a span unless ``capture_content`` is on, and then redacted.
"""

from __future__ import annotations

import time
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from echosafe_guard.learning.events import LearningEvent, LearningEventKind
from echosafe_guard.learning.sanitize import redact
from echosafe_guard.observability import draft_semconv as draft
from echosafe_guard.prepared import Prepared

__all__ = [
    "GEN_AI_DATA_SOURCE_ID",
    "GEN_AI_EMBEDDINGS_DIMENSION_COUNT",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_RETRIEVAL_QUERY_TEXT",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "Tracing",
    "top_category",
]

# Names that exist in the (incubating) GenAI semantic conventions.
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
_EMBEDDINGS, _RETRIEVAL = "embeddings", "retrieval"
_NS = 1_000_000  # ns per ms


def top_category(prep: Prepared) -> str:
    """The decision's risk category: the category of the first insight shown (``none``)."""
    return prep.insights[0].insight.category if prep.insights else "none"


class Tracing:
    def __init__(
        self,
        *,
        policy_id: str,
        policy_version: int,
        store_id: str,
        capture_content: bool = False,
        tracer: Tracer | None = None,
    ) -> None:
        self.policy_id = policy_id
        self.policy_version = policy_version
        self.store_id = store_id
        self.capture_content = capture_content
        self._tracer = tracer

    @property
    def tracer(self) -> Tracer:
        """The given tracer, else the global provider's (looked up each time: a provider set
        after start-up is used)."""
        return self._tracer or trace.get_tracer("echosafe_guard")

    def decision(self, prep: Prepared, end_ns: int | None = None) -> None:
        t = prep.timings
        end = end_ns if end_ns is not None else time.time_ns()
        start = end - int(t.total_ms * _NS)
        tracer = self.tracer
        root = tracer.start_span(
            "apply_guardrail echosafe", kind=SpanKind.INTERNAL, start_time=start
        )
        if not root.is_recording():  # no SDK: nothing more to build
            return
        d = prep.decision
        attrs: dict[str, Any] = {
            GEN_AI_OPERATION_NAME: draft.OP_APPLY_GUARDRAIL,
            draft.GUARDRAIL_NAME: "echosafe",
            draft.GUARDRAIL_VERDICT_TYPE: d.action.value,
            draft.GUARDRAIL_VERDICT_REASON: d.reason,
            draft.GUARDRAIL_MODE: d.mode.value,
            draft.GUARDRAIL_APPLIED: d.applied,
            draft.SECURITY_RISK_CATEGORY: top_category(prep),
            draft.SECURITY_POLICY_ID: self.policy_id,
            draft.SECURITY_POLICY_VERSION: self.policy_version,
            "echosafe.tenant": prep.tenant,
            "echosafe.request_hash": prep.request_hash,
            "echosafe.key.layout": prep.layout,
            "echosafe.insight.ids": [h.insight.id for h in prep.insights],
            "echosafe.insight.scores": [round(h.score, 6) for h in prep.insights],
            "echosafe.insight.verdicts": [h.insight.verdict.value for h in prep.insights],
        }
        if d.p_unsafe is not None:
            attrs[draft.GUARDRAIL_VERDICT_SCORE] = round(d.p_unsafe, 4)
        if d.call is not None:
            attrs["echosafe.call"] = d.call.value
        if self.capture_content:
            if prep.context is not None:
                attrs[GEN_AI_RETRIEVAL_QUERY_TEXT] = redact(prep.context.text)
            if prep.system_prompt:
                attrs[GEN_AI_SYSTEM_INSTRUCTIONS] = prep.system_prompt
        root.set_attributes(attrs)
        ctx = trace.set_span_in_context(root)
        stages: list[tuple[str, float, dict[str, Any]]] = [
            ("echosafe.normalize", t.normalize_ms, {}),
            (f"{_EMBEDDINGS} text", t.embed_text_ms, {GEN_AI_OPERATION_NAME: _EMBEDDINGS}),
        ]
        if prep.image_part.value == "live":
            stages.append(
                (f"{_EMBEDDINGS} image", t.embed_image_ms, {GEN_AI_OPERATION_NAME: _EMBEDDINGS})
            )
        if prep.key is not None:
            stages[1][2][GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = int(prep.key.shape[-1])
        search = {
            GEN_AI_OPERATION_NAME: _RETRIEVAL,
            GEN_AI_DATA_SOURCE_ID: self.store_id,
            draft.MEMORY_STORE_ID: self.store_id,
            draft.MEMORY_RECORD_COUNT: len(prep.insights),
            "echosafe.tenant": prep.tenant,
        }
        stages.append((f"{_RETRIEVAL} echosafe", t.search_ms - t.rerank_ms, search))
        stages.append(("echosafe.rerank", t.rerank_ms, {}))
        if t.adjudicate_ms > 0:
            stages.append(("echosafe.adjudicate", t.adjudicate_ms, {}))
        stages.append(("echosafe.rewrite", t.rewrite_ms, {}))
        at = start
        for name, ms, extra in stages:
            stop = min(at + int(max(ms, 0.0) * _NS), end)
            span = tracer.start_span(name, context=ctx, attributes=extra, start_time=at)
            span.end(end_time=stop)
            at = stop
        root.end(end_time=end)

    def learning(self, ev: LearningEvent) -> None:
        """A span for a reflection and for an admission's store writes."""
        if ev.duration_ms is None:
            return
        if ev.kind is LearningEventKind.REFLECTED:
            name, op = "echosafe.reflect", None
        elif ev.kind in (LearningEventKind.CREATED, LearningEventKind.MERGED):
            name, op = f"{draft.OP_UPDATE_MEMORY} echosafe", draft.OP_UPDATE_MEMORY
        else:
            return
        end = int(ev.time * 1e9)
        attrs: dict[str, Any] = {
            "echosafe.tenant": ev.tenant,
            "echosafe.learning.event": ev.kind.value,
        }
        if op is not None:
            attrs |= {GEN_AI_OPERATION_NAME: op, draft.MEMORY_STORE_ID: self.store_id}
        if ev.request_hash:
            attrs["echosafe.request_hash"] = ev.request_hash
        if ev.insight_id:
            attrs["echosafe.insight.id"] = ev.insight_id
        start = end - int(ev.duration_ms * _NS)
        span = self.tracer.start_span(name, attributes=attrs, start_time=start)
        span.end(end_time=end)
