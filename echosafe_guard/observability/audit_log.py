"""``AuditLog``: one JSON line per decision and per learning event, written off the request path.

``decision`` and ``learning`` build the record and queue it (never blocking: a full queue drops
and counts); one writer thread appends batches to every sink (a file, a Redis stream). ``close``
drains the queue. A record never holds the user's text unless the policy's ``audit.raw_text`` is
on, and then redacted; users are hashed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from echosafe_guard.learning.events import LearningEvent
from echosafe_guard.learning.exchange import hash_actor
from echosafe_guard.learning.sanitize import redact
from echosafe_guard.observability.audit_sink import AuditSink
from echosafe_guard.policy.models import ObservabilityAuditPolicy
from echosafe_guard.prepared import Prepared

__all__ = ["AuditLog", "decision_record"]

log = logging.getLogger("echosafe_guard.observability")
_STOP = object()
_BATCH = 512


def decision_record(
    prep: Prepared,
    *,
    at: float | None = None,
    policy_id: str,
    policy_version: int,
    category: str,
    user: str | None = None,
    raw_text: bool = False,
    system_prompt: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit record of one decision (JSON-ready)."""
    d = prep.decision
    rec: dict[str, Any] = {
        "type": "decision",
        "time": round(at if at is not None else time.time(), 6),
        "tenant": prep.tenant,
        "user": hash_actor("user", user) if user else None,
        "request_hash": prep.request_hash,
        "decision": d.action.value,
        "reason": d.reason,
        "mode": d.mode.value,
        "applied": d.applied,
        "blocked": prep.blocked,
        "call": d.call.value if d.call is not None else None,
        "p_unsafe": round(d.p_unsafe, 4) if d.p_unsafe is not None else None,
        "category": category,
        "insights": [
            {
                "id": h.insight.id,
                "score": round(h.score, 6),
                "verdict": h.insight.verdict.value,
                "category": h.insight.category,
                "status": h.insight.status.value,
            }
            for h in prep.insights
        ],
        "policy": {"id": policy_id, "version": policy_version},
        "layout": prep.layout,
        "image_part": prep.image_part.value,
        "timings_ms": prep.timings.as_dict(),
        "notes": list(d.notes),
    }
    if system_prompt:
        rec["system_prompt"] = prep.system_prompt
    if raw_text and prep.context is not None:
        rec["text"] = redact(prep.context.text)
    if extra:
        rec |= extra
    return rec


class AuditLog:
    """Thread-safe. ``on_drop`` is called when a record is dropped (a full queue)."""

    def __init__(
        self,
        sinks: Sequence[AuditSink],
        policy: ObservabilityAuditPolicy,
        *,
        on_drop: Callable[[], object] | None = None,
        batch_s: float = 0.05,
    ) -> None:
        self.sinks = list(sinks)
        self.batch_s = batch_s
        """The writer gathers records this long after the first one of a batch: fewer wake-ups
        and fsyncs, and its work (under the GIL) in short bursts rather than on every request."""
        self._stopping = threading.Event()
        self.policy = policy
        self.on_drop = on_drop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=policy.queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0
        self.failed = 0

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="echosafe-audit", daemon=True
                    )
                    self._thread.start()

    def submit(self, record: dict[str, Any] | Callable[[], dict[str, Any]]) -> bool:
        """Queue one record, or a function building it on the writer thread (keeps the
        request path cheap; it must only read immutable data); never blocks. False when it
        was dropped."""
        if self._closed:
            return False
        self._start()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return False
        return True

    def learning(self, ev: LearningEvent) -> bool:
        return self.submit(ev.as_dict())

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            if batch[0] is not _STOP and self.batch_s > 0:
                self._stopping.wait(self.batch_s)
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            got = len(batch)
            if any(r is _STOP for r in batch):
                batch = [r for r in batch if r is not _STOP]
                stop = True
            lines = []
            for r in batch:
                try:
                    rec = r() if callable(r) else r
                    text = json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str)
                except Exception:
                    self.failed += 1
                    log.exception("an audit record could not be built")
                    continue
                lines.append(text.encode() + b"\n")
            for sink in self.sinks:
                try:
                    sink.write(lines)
                except Exception:  # an audit failure never breaks the guard
                    self.failed += len(lines)
                    log.exception("audit sink %s failed; %d records lost", sink, len(lines))
            for _ in range(got):
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued record is written."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what was queued, stop the writer, close the sinks."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(_STOP)
            self._thread.join(60)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing audit sink %s failed", sink)
