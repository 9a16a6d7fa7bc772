"""``HitRecorder``: counts retrievals off the request path and writes them in batches.

The guard hands each request's insight ids to :meth:`HitRecorder.record`, which only adds to a
counter under a lock (safe on the event loop). One daemon thread, started on the first hit,
writes ``hits`` and ``last_hit`` every ``flush_s``; :meth:`close` writes what is left. It needs
the store only, never the learner or its reflector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from echosafe_guard.exceptions import EchoSafeError
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import utcnow

__all__ = ["HitRecorder"]

log = logging.getLogger("echosafe_guard.learning")


class HitRecorder:
    """Thread-safe. Constructing it does no I/O and starts no thread."""

    def __init__(
        self, store: InsightStore, *, flush_s: float, write_lock: threading.Lock | None = None
    ) -> None:
        self.store = store
        self.flush_s = flush_s
        self.write_lock = write_lock or threading.Lock()
        """Held across each read-modify-write, shared with the learner's writes (a hit count
        written back must never undo a status the learner set meanwhile)."""
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.errors = 0

    def record(self, tenant: str, ids: Sequence[str]) -> None:
        """Count one retrieval of each id; never blocks on I/O. Ignored once closed."""
        if not ids or self._stop.is_set():
            return
        with self._lock:
            for iid in ids:
                self._hits[(tenant, iid)] = self._hits.get((tenant, iid), 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="echosafe-hits", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> None:
        """Write the counted hits now (on this thread). Store errors are logged, not raised."""
        with self._lock:
            hits, self._hits = self._hits, {}
        if not hits:
            return
        now = utcnow()
        updated = []
        try:
            with self.write_lock:
                for (tenant, iid), n in hits.items():
                    ins = self.store.get(tenant, iid, with_vector=True)
                    if ins is not None:
                        updated.append(
                            ins.model_copy(update={"hits": ins.hits + n, "last_hit": now})
                        )
                self.store.upsert(updated)
            self.written += len(updated)
        except EchoSafeError as exc:
            self.errors += 1
            log.warning("could not record retrieval hits: %s", exc)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.flush()
