"""``echosafe-guard audit``: read the decision audit log back.

* ``audit insight ID``: every request the insight shaped, and its history (created, merged,
  quarantined, approved, evicted, ...);
* ``audit request HASH``: what the model was told for a request (a unique hash prefix works);
* ``audit stats --since 1h``: decisions by action, reason, tenant and category, interventions,
  latency and learning events.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import CollectorRegistry
from rich.table import Table

from echosafe_guard.cli.common import (
    JsonOpt,
    PolicyOpt,
    StoreOpt,
    build_guard,
    console,
    emit_json,
    handle_errors,
)
from echosafe_guard.exceptions import ConfigError
from echosafe_guard.guard import Guard
from echosafe_guard.learning.events import LearningEvent, LearningEventKind
from echosafe_guard.observability.audit_query import (
    insight_report,
    parse_since,
    request_report,
    stats_report,
)
from echosafe_guard.observability.file_audit_sink import FileAuditSink
from echosafe_guard.observability.observer import Observability, audit_sources, observe

__all__ = ["audit_app", "cli_observe", "removal_events"]

audit_app = typer.Typer(help="Read the decision audit log.", no_args_is_help=True)
LogOpt = Annotated[
    Path | None,
    typer.Option("--log", help="Audit log file [env ECHOSAFE_AUDIT_LOG; default from policy]."),
]


@contextmanager
def cli_observe(guard: Guard) -> Iterator[Observability | None]:
    """Observability for one CLI command: the audit log as the policy says (metrics in a private
    registry: a command has nobody scraping it); drained at the end."""
    obs = observe(guard, registry=CollectorRegistry())
    try:
        yield obs
    finally:
        if obs is not None:
            obs.close()


def removal_events(obs: Observability, tenant: str, expired: list[str], evicted: list[str]) -> None:
    """``memory prune``'s removals as learning events (the hygiene's ``on_removed``)."""
    for kind, ids in ((LearningEventKind.EXPIRED, expired), (LearningEventKind.EVICTED, evicted)):
        for insight_id in ids:
            obs.learning_event(LearningEvent(kind, tenant, insight_id, reason="prune"))


def _records(log: Path | None, store: str | None, policy: str | None) -> Iterator[dict[str, Any]]:
    if log is not None:
        yield from FileAuditSink(log).records()
        return
    guard = build_guard(store=store, policy=policy)
    sources = audit_sources(guard.policy.observability.audit, guard.store)
    if not sources:
        raise ConfigError("no audit log for this store: pass --log or set observability.audit.path")
    for src in sources:
        yield from src.records()


def _fmt_time(t: object) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if isinstance(t, float) else "?"


@audit_app.command("insight")
def insight(
    insight_id: Annotated[str, typer.Argument(help="Insight id.")],
    log: LogOpt = None,
    store: StoreOpt = None,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The requests an insight shaped, and its history."""
    with handle_errors(as_json):
        rep = insight_report(_records(log, store, policy), insight_id)
        if as_json:
            emit_json(rep)
            return
        console.print(f"insight {insight_id}: shaped {len(rep['requests'])} request(s)")
        table = Table("time", "tenant", "request", "decision", "reason", "rank", "score")
        for r in rep["requests"]:
            table.add_row(
                _fmt_time(r["time"]), str(r["tenant"]), str(r["request_hash"]),
                str(r["decision"]), str(r["reason"]), str(r["rank"]), f"{r['score']:.3f}",
            )  # fmt: skip
        console.print(table)
        hist = Table("time", "event", "request", "reason", "status")
        for e in rep["history"]:
            hist.add_row(
                _fmt_time(e.get("time")), str(e.get("event")), str(e.get("request_hash") or ""),
                str(e.get("reason") or ""), str(e.get("status") or ""),
            )  # fmt: skip
        console.print(hist)


@audit_app.command("request")
def request(
    request_hash: Annotated[str, typer.Argument(help="Request hash (or a unique prefix).")],
    log: LogOpt = None,
    store: StoreOpt = None,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the model was told for a request: decision, insights, the guard's block."""
    with handle_errors(as_json):
        rep = request_report(_records(log, store, policy), request_hash)
        if as_json:
            emit_json(rep)
            return
        console.print(f"request {rep['request_hash']}: {len(rep['decisions'])} decision(s)")
        for d in rep["decisions"]:
            console.print(
                f"[bold]{_fmt_time(d.get('time'))}[/] tenant {d.get('tenant')}: "
                f"{d.get('decision')} ({d.get('reason')}, mode {d.get('mode')}, "
                f"applied {d.get('applied')}), policy {d.get('policy')}"
            )
            for i in d.get("insights") or []:
                console.print(
                    f"  {i['id']}  {i['verdict']:<10} {i['category']:<20} {i['score']:.3f}"
                )
            if d.get("system_prompt"):
                console.print(d["system_prompt"], markup=False, highlight=False)
        for e in rep["learning"]:
            console.print(
                f"learning: {e.get('event')} {e.get('insight_id') or ''} {e.get('reason') or ''}"
            )


@audit_app.command("stats")
def stats(
    since: Annotated[str, typer.Option("--since", help="Window, e.g. 30m, 1h, 7d.")] = "1h",
    log: LogOpt = None,
    store: StoreOpt = None,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decisions, interventions, latency and learning over a time window."""
    with handle_errors(as_json):
        rep = stats_report(
            _records(log, store, policy), since_s=parse_since(since), now=time.time()
        )
        if as_json:
            emit_json(rep)
            return
        console.print(
            f"last {since}: {rep['decisions']} decisions, {rep['intervened']} intervened "
            f"({rep['intervention_rate']:.1%}); latency p50 {rep['latency_ms']['p50']} ms, "
            f"p95 {rep['latency_ms']['p95']} ms"
        )
        table = Table("by", "value", "count")
        for by in ("by_action", "by_reason", "by_tenant", "by_category", "learning", "dropped"):
            for value, n in rep[by].items():
                table.add_row(by.removeprefix("by_"), value, str(n))
        console.print(table)
