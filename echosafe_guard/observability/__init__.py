"""Observability: OpenTelemetry spans, Prometheus metrics and the decision audit log.

Fed from :meth:`Prepared.summary`'s data through the guard's ``on_decision`` hook and from the
learning loop's :class:`~echosafe_guard.learning.events.LearningEvent` s. See
``docs/observability.md``. The draft GenAI names are in :mod:`.draft_semconv` (they may change).
"""

from __future__ import annotations

from echosafe_guard.observability.audit_log import AuditLog, decision_record
from echosafe_guard.observability.audit_sink import AuditSink, AuditSource
from echosafe_guard.observability.file_audit_sink import FileAuditSink
from echosafe_guard.observability.metrics import GuardMetrics
from echosafe_guard.observability.observer import (
    AUDIT_ENV,
    Observability,
    audit_path,
    audit_sources,
    observe,
)
from echosafe_guard.observability.redis_stream_sink import RedisStreamSink
from echosafe_guard.observability.tenant_labels import TenantLabels
from echosafe_guard.observability.tracing import Tracing

__all__ = [
    "AUDIT_ENV",
    "AuditLog",
    "AuditSink",
    "AuditSource",
    "FileAuditSink",
    "GuardMetrics",
    "Observability",
    "RedisStreamSink",
    "TenantLabels",
    "Tracing",
    "audit_path",
    "audit_sources",
    "decision_record",
    "observe",
]
