"""Questions asked of the audit log (``echosafe-guard audit``): an insight's requests and
history, what one request was told, and counts over a time window."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from echosafe_guard.exceptions import InputError

__all__ = ["insight_report", "parse_since", "request_report", "stats_report"]

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    """``30m``, ``1h``, ``7d`` -> seconds."""
    m = _SINCE.match(text)
    if not m:
        raise InputError(f"--since {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 1h")
    return float(m.group(1)) * _UNIT[m.group(2)]


def insight_report(records: Iterable[dict[str, Any]], insight_id: str) -> dict[str, Any]:
    """Every request the insight shaped (it was among the insights shown) and its history."""
    shaped: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for r in records:
        kind = r.get("type")
        if kind == "decision":
            for rank, ins in enumerate(r.get("insights") or []):
                if ins.get("id") == insight_id:
                    shaped.append(
                        {
                            "time": r.get("time"),
                            "tenant": r.get("tenant"),
                            "request_hash": r.get("request_hash"),
                            "decision": r.get("decision"),
                            "reason": r.get("reason"),
                            "rank": rank,
                            "score": ins.get("score"),
                            "verdict": ins.get("verdict"),
                            "applied": r.get("applied"),
                        }
                    )
                    break
        elif kind == "learning" and r.get("insight_id") == insight_id:
            history.append(r)
    return {"insight_id": insight_id, "requests": shaped, "history": history}


def request_report(records: Iterable[dict[str, Any]], request_hash: str) -> dict[str, Any]:
    """The decisions for a request hash (or a unique prefix of one) and its learning events."""
    decisions: list[dict[str, Any]] = []
    learning: list[dict[str, Any]] = []
    for r in records:
        h = str(r.get("request_hash") or "")
        if not h.startswith(request_hash):
            continue
        (decisions if r.get("type") == "decision" else learning).append(r)
    hashes = {str(r.get("request_hash")) for r in decisions + learning}
    if len(hashes) > 1:
        raise InputError(f"request hash prefix {request_hash!r} matches {len(hashes)} requests")
    return {"request_hash": hashes.pop() if hashes else request_hash, "decisions": decisions,
            "learning": learning}  # fmt: skip


def stats_report(
    records: Iterable[dict[str, Any]], *, since_s: float, now: float
) -> dict[str, Any]:
    """Decisions by action, reason, tenant and category; interventions; latency; learning."""
    start = now - since_s
    by: dict[str, Counter[str]] = {k: Counter() for k in ("action", "reason", "tenant", "category")}
    learning: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    totals: list[float] = []
    n = intervened = 0
    for r in records:
        t = r.get("time")
        if not isinstance(t, (int, float)) or t < start:
            continue
        if r.get("type") == "decision":
            n += 1
            by["action"][str(r.get("decision"))] += 1
            by["reason"][str(r.get("reason"))] += 1
            by["tenant"][str(r.get("tenant"))] += 1
            by["category"][str(r.get("category"))] += 1
            intervened += r.get("decision") != "allow" and bool(r.get("applied"))
            total = (r.get("timings_ms") or {}).get("total_ms")
            if isinstance(total, (int, float)):
                totals.append(float(total))
        elif r.get("type") == "learning":
            learning[str(r.get("event"))] += 1
            if r.get("event") == "dropped":
                dropped[str(r.get("reason"))] += 1
    q = statistics.quantiles(totals, n=100) if len(totals) >= 2 else totals * 99
    return {
        "since_s": since_s,
        "decisions": n,
        "intervened": intervened,
        "intervention_rate": round(intervened / n, 4) if n else 0.0,
        "by_action": dict(by["action"].most_common()),
        "by_reason": dict(by["reason"].most_common()),
        "by_tenant": dict(by["tenant"].most_common()),
        "by_category": dict(by["category"].most_common()),
        "latency_ms": {
            "p50": round(q[49], 3) if q else None,
            "p95": round(q[94], 3) if q else None,
            "mean": round(statistics.fmean(totals), 3) if totals else None,
        },
        "learning": dict(learning.most_common()),
        "dropped": dict(dropped.most_common()),
    }
