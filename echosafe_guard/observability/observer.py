"""``Observability``: spans, metrics and the audit log, fed from the guard's two hooks.

    guard = Guard(...)
    obs = observe(guard)        # reads the policy's ``observability:`` section; None when off
    ...
    obs.close()                 # drains the audit writer (call it after ``guard.close()``)

``observe`` sets ``guard.on_decision`` (keeping a hook already there) and
``guard.on_learning_event``. With ``observability.enabled: false`` nothing is attached, so the
request path pays nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from echosafe_guard.learning.events import LearningEvent
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.observability.audit_log import AuditLog, decision_record
from echosafe_guard.observability.audit_sink import AuditSink, AuditSource
from echosafe_guard.observability.file_audit_sink import FileAuditSink
from echosafe_guard.observability.metrics import GuardMetrics
from echosafe_guard.observability.redis_stream_sink import RedisStreamSink
from echosafe_guard.observability.tracing import Tracing, top_category
from echosafe_guard.policy.models import ObservabilityAuditPolicy, Policy
from echosafe_guard.prepared import Prepared

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from echosafe_guard.guard import Guard

__all__ = ["AUDIT_ENV", "Observability", "audit_path", "audit_sources", "observe"]

log = logging.getLogger("echosafe_guard.observability")
AUDIT_ENV = "ECHOSAFE_AUDIT_LOG"


def audit_path(policy: ObservabilityAuditPolicy, store: InsightStore | None) -> Path | None:
    """The audit file: ``ECHOSAFE_AUDIT_LOG``, else the policy's ``audit.path``, else
    ``<store>/audit/audit.jsonl`` for a local store (None for a Redis store)."""
    if os.environ.get(AUDIT_ENV):
        return Path(os.environ[AUDIT_ENV])
    if policy.path:
        return Path(policy.path)
    root = getattr(store, "root", None)
    return Path(root) / "audit" / "audit.jsonl" if isinstance(root, (str, Path)) else None


def _redis_sink(
    policy: ObservabilityAuditPolicy, store: InsightStore | None
) -> RedisStreamSink | None:
    from echosafe_guard.memory.redis.redis_store import RedisStore

    if not isinstance(store, RedisStore):
        return None
    return RedisStreamSink(
        lambda: store.client, f"{store.prefix}:audit", maxlen=policy.redis_maxlen
    )


def audit_sources(
    policy: ObservabilityAuditPolicy, store: InsightStore | None
) -> list[AuditSource]:
    """Where the audit log can be read back: the file, else a Redis store's stream."""
    path = audit_path(policy, store)
    if path is not None:
        return [FileAuditSink(path, backups=policy.backups)]
    sink = _redis_sink(policy, store)
    return [sink] if sink is not None else []


class Observability:
    """Thread-safe. Build it with :func:`observe` (or directly, for tests and custom sinks)."""

    def __init__(
        self,
        policy: Policy,
        *,
        store_id: str = "",
        sinks: list[AuditSink] | None = None,
        metrics: GuardMetrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        o = policy.observability
        self.policy_id, self.policy_version = policy.name, policy.version
        self.audit_policy = o.audit
        self.metrics = metrics if o.metrics else None
        self.tracing = (
            Tracing(
                policy_id=policy.name,
                policy_version=policy.version,
                store_id=store_id,
                capture_content=o.capture_content,
                tracer=tracer,
            )
            if o.tracing
            else None
        )
        on_drop = self.metrics.audit_dropped.inc if self.metrics is not None else None
        self._learning_seen = False
        self.audit = (
            AuditLog(sinks, o.audit, on_drop=on_drop) if o.audit.enabled and sinks else None
        )

    def decision(
        self, prep: Prepared, *, user: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """Record one decision (cheap: counters, spans when recording, one queued record)."""
        category = top_category(prep)
        if self.metrics is not None:
            self.metrics.decision(prep, category)
        if self.tracing is not None:
            self.tracing.decision(prep)
        if self.audit is not None:
            a = self.audit_policy
            self.audit.submit(  # built on the writer thread (Prepared is immutable)
                functools.partial(
                    decision_record,
                    prep,
                    at=time.time(),
                    policy_id=self.policy_id,
                    policy_version=self.policy_version,
                    category=category,
                    user=user,
                    raw_text=a.raw_text,
                    system_prompt=a.system_prompt,
                    extra=dict(extra) if extra else None,
                )
            )

    def on_decision(self, prep: Prepared) -> None:
        self.decision(prep)

    def learning_event(self, ev: LearningEvent) -> None:
        self._learning_seen = True
        if self.metrics is not None:
            self.metrics.learning_event(ev)
        if self.tracing is not None:
            self.tracing.learning(ev)
        if self.audit is not None and ev.kind.value != "queued":
            self.audit.learning(ev)

    @property
    def active(self) -> bool:
        """Whether any part is on (an inactive one is never attached)."""
        return self.metrics is not None or self.tracing is not None or self.audit is not None

    def attach(self, guard: Guard, *, decisions: bool = True) -> None:
        """Feed this from ``guard``'s hooks (``decisions=False``: the caller records decisions
        itself, e.g. with the user, see the LiteLLM guardrail)."""
        if decisions:
            before = guard.on_decision
            if before is None:
                guard.on_decision = self.on_decision
            else:

                def both(prep: Prepared, first: Callable[[Prepared], object] = before) -> None:
                    first(prep)
                    self.on_decision(prep)

                guard.on_decision = both
        guard.on_learning_event = self.learning_event

    def watch_store(self, guard: Guard) -> None:
        """Gauges read at scrape time: the insight counts (refreshed in the background), the
        learning queue and a Redis store's write buffer."""
        m = self.metrics
        if m is None:
            return
        m.insights.count = guard.store.count
        m.insights.tenants = lambda: list(guard.store.tenants())

        def queued() -> float:  # the learner exists once an exchange was queued (never built here)
            return float(guard.learner.pending) if self._learning_seen else 0.0

        def buffered() -> float:  # a Redis store's write buffer (a property; others have none)
            pending = getattr(guard.store, "pending_writes", 0)
            return float(pending) if isinstance(pending, int) else 0.0

        m.queue_depth.set_function(queued)
        m.write_buffer.set_function(buffered)

    def flush(self) -> None:
        if self.audit is not None:
            self.audit.flush()

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()


def observe(
    guard: Guard,
    *,
    registry: CollectorRegistry | None = None,
    tracer: Tracer | None = None,
    sinks: list[AuditSink] | None = None,
    decisions: bool = True,
) -> Observability | None:
    """Attach observability to ``guard`` as its policy's ``observability:`` section says
    (None, and nothing attached, when it is off). Loads the policy; opens no store.

    ``registry``: the Prometheus registry (default: prometheus-client's, which ``/metrics``
    serves). ``sinks``: the audit sinks (default: the file of :func:`audit_path` and, for a
    Redis store, its stream)."""
    policy = guard.policy
    o = policy.observability
    if not o.enabled:
        return None
    store = guard.store  # resolved, not opened: constructing a store does no I/O
    if sinks is None:
        sinks = []
        path = audit_path(o.audit, store)
        if path is not None:
            a = o.audit
            sinks.append(
                FileAuditSink(path, max_bytes=a.max_bytes, backups=a.backups, fsync=a.fsync)
            )
        redis = _redis_sink(o.audit, store) if o.audit.redis_stream else None
        if redis is not None:
            sinks.append(redis)
    metrics = None
    if o.metrics:
        metrics = (
            GuardMetrics.shared(o.tenant_labels)
            if registry is None
            else GuardMetrics(registry, o.tenant_labels)
        )
    obs = Observability(
        policy, store_id=str(getattr(store, "location", "")), sinks=sinks, metrics=metrics,
        tracer=tracer,
    )  # fmt: skip
    if obs.active:
        obs.attach(guard, decisions=decisions)
        obs.watch_store(guard)
    return obs
