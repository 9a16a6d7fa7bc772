"""``GuardMetrics``: the guard's Prometheus metrics (prometheus-client).

All metrics are prefixed ``echosafe_``; tenants are bounded by :class:`TenantLabels`.

* ``echosafe_decisions_total{action,reason,tenant,category}``
* ``echosafe_stage_seconds{stage}`` (normalize, embed_text, embed_image, search, rerank,
  adjudicate (only requests put to the adjudicator), rewrite, total)
* ``echosafe_fail_open_total{tenant}``, ``echosafe_store_errors_total{path}`` (``request``:
  fail-open searches; ``learning``: failed writes)
* ``echosafe_learning_events_total{event,reason,tenant}`` (queued, reflected, dropped by
  reason, created, merged, quarantined, conflicted, approved, evicted, ...)
* ``echosafe_write_buffer_depth``, ``echosafe_learning_queue_depth`` (read at scrape time)
* ``echosafe_insights{tenant}`` (refreshed in the background, never on a scrape or a request)
* ``echosafe_audit_dropped_total`` (records the audit writer could not take)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from echosafe_guard.learning.events import LearningEvent, LearningEventKind
from echosafe_guard.observability.tenant_labels import OTHER, TenantLabels
from echosafe_guard.prepared import Prepared

__all__ = ["GuardMetrics", "InsightCounts"]

_STAGE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
_STAGES = (
    "normalize",
    "embed_text",
    "embed_image",
    "search",
    "rerank",
    "adjudicate",
    "rewrite",
    "total",
)
_shared: dict[int, GuardMetrics] = {}
_shared_lock = threading.Lock()


class InsightCounts(Collector):
    """``echosafe_insights{tenant}`` from a cache. A scrape never does I/O: when the cache is
    older than ``max_age_s`` it starts one background refresh and answers the cached values."""

    def __init__(self, labels: TenantLabels, max_age_s: float = 30.0) -> None:
        self.labels = labels
        self.max_age_s = max_age_s
        self.count: Callable[[str], int] | None = None
        self.tenants: Callable[[], list[str]] | None = None
        self._values: dict[str, int] = {}
        self._at = 0.0
        self._running = threading.Lock()

    def refresh(self) -> None:
        """Count now (blocking; the store's I/O): every tenant of the store, bounded labels."""
        count, tenants = self.count, self.tenants
        if count is None or tenants is None:
            return
        out: dict[str, int] = {}
        for tenant in tenants():
            label = self.labels.label(tenant)
            out[label] = out.get(label, 0) + count(tenant)
        self._values, self._at = out, time.monotonic()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception:  # a failing store shows as stale counts, never as a failed scrape
            self._at = time.monotonic()
        finally:
            self._running.release()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if time.monotonic() - self._at > self.max_age_s and self._running.acquire(blocking=False):
            threading.Thread(target=self._refresh_quietly, daemon=True).start()
        g = GaugeMetricFamily(
            "echosafe_insights", "Insights in the store per tenant.", labels=["tenant"]
        )
        for tenant, n in sorted(self._values.items()):
            g.add_metric([tenant], n)
        yield g


class GuardMetrics:
    """The metrics, registered once per registry (:meth:`shared` for the process default)."""

    def __init__(self, registry: CollectorRegistry, tenant_labels: int = 50) -> None:
        self.registry = registry
        self.tenants = TenantLabels(tenant_labels)
        r = registry
        self.decisions = Counter(
            "echosafe_decisions", "Guard decisions.",
            ["action", "reason", "tenant", "category"], registry=r,
        )  # fmt: skip
        self.stage_seconds = Histogram(
            "echosafe_stage_seconds", "Time per prepare stage.", ["stage"],
            buckets=_STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.fail_open = Counter(
            "echosafe_fail_open", "Requests let through without insights (store failed).",
            ["tenant"], registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "echosafe_store_errors", "Store failures.", ["path"], registry=r
        )
        self.learning = Counter(
            "echosafe_learning_events", "Learning loop events.",
            ["event", "reason", "tenant"], registry=r,
        )  # fmt: skip
        self.audit_dropped = Counter(
            "echosafe_audit_dropped", "Audit records dropped (writer queue full).", registry=r
        )
        self.write_buffer = Gauge(
            "echosafe_write_buffer_depth", "Store writes buffered (Redis write buffer).",
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "echosafe_learning_queue_depth", "Exchanges waiting for reflection.", registry=r
        )
        self.insights = InsightCounts(self.tenants)
        r.register(self.insights)
        self._stage = {s: self.stage_seconds.labels(s) for s in _STAGES}
        self._dec: dict[tuple[str, str, str, str], Counter] = {}

    @classmethod
    def shared(cls, tenant_labels: int = 50) -> GuardMetrics:
        """The metrics in prometheus-client's default registry (what ``/metrics`` serves)."""
        with _shared_lock:
            got = _shared.get(id(REGISTRY))
            if got is None:
                got = _shared[id(REGISTRY)] = cls(REGISTRY, tenant_labels)
            return got

    def decision(self, prep: Prepared, category: str) -> None:
        d, t = prep.decision, prep.timings
        tenant = self.tenants.label(prep.tenant)
        key = (d.action.value, d.reason, tenant, category)
        child = self._dec.get(key)
        if child is None:
            child = self._dec.setdefault(key, self.decisions.labels(*key))
        child.inc()
        st = self._stage
        st["total"].observe(t.total_ms / 1000)
        st["normalize"].observe(t.normalize_ms / 1000)
        st["embed_text"].observe(t.embed_text_ms / 1000)
        if prep.image_part.value == "live":
            st["embed_image"].observe(t.embed_image_ms / 1000)
        st["search"].observe(max(t.search_ms - t.rerank_ms, 0.0) / 1000)
        st["rerank"].observe(t.rerank_ms / 1000)
        if t.adjudicate_ms > 0:
            st["adjudicate"].observe(t.adjudicate_ms / 1000)
        st["rewrite"].observe(t.rewrite_ms / 1000)
        if d.reason == "store_unavailable":
            self.fail_open.labels(tenant).inc()
            self.store_errors.labels("request").inc()

    def learning_event(self, ev: LearningEvent) -> None:
        tenant = self.tenants.label(ev.tenant) if ev.tenant else OTHER
        self.learning.labels(ev.kind.value, ev.reason or "", tenant).inc()
        if ev.kind is LearningEventKind.DROPPED and ev.reason == "store":
            self.store_errors.labels("learning").inc()
