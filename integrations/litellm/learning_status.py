"""The proxy's learning counters on disk, so that ``echosafe-guard doctor`` can show them.

The guardrail runs inside the LiteLLM proxy process; ``doctor`` runs in another. A
:class:`StatusWriter` thread (started by the guardrail at the first learnt exchange) writes the
learner's counters whenever they change, atomically, to ``ECHOSAFE_LEARNING_STATUS`` or
``<cache dir>/learning-status.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .local_gguf import cache_dir

__all__ = [
    "StatusWriter",
    "learning_status_path",
    "read_learning_status",
    "write_learning_status",
]

_FAILURES = ("failed", "failed_model", "failed_store", "dropped_invalid")


def learning_status_path() -> Path:
    env = os.environ.get("ECHOSAFE_LEARNING_STATUS")
    return Path(env).expanduser() if env else cache_dir() / "learning-status.json"


def write_learning_status(counters: dict[str, int]) -> bool:
    """Write the counters; never raises. True when written."""
    path = learning_status_path()
    body = {"pid": os.getpid(), "updated": time.time(), "counters": counters}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body), "utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def read_learning_status() -> dict[str, Any] | None:
    """The last status written by a proxy, with ``failures`` summed; None when there is none."""
    try:
        data = json.loads(learning_status_path().read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    counters = data.get("counters") or {}
    data["failures"] = sum(int(counters.get(k, 0)) for k in _FAILURES)
    return data


class StatusWriter:
    """A daemon thread writing ``counters_of()`` whenever it changed (checked every
    ``every_s``). :meth:`start` is idempotent."""

    def __init__(self, counters_of: Callable[[], dict[str, int]], every_s: float = 1.0) -> None:
        self._counters_of = counters_of
        self._every_s = every_s
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last: dict[str, int] | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="echosafe-learning-status", daemon=True
                )
                self._thread.start()

    def write_if_changed(self) -> bool:
        counters = dict(self._counters_of())
        if counters == self._last:
            return False
        self._last = counters
        return write_learning_status(counters)

    def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # never kill the proxy over a status file
                self.write_if_changed()
            time.sleep(self._every_s)
