"""The proxy's learning counters on disk, so that ``echosafe-guard doctor`` can show them.

The guardrail runs inside the LiteLLM proxy process; ``doctor`` runs in another. After a
response the guardrail writes the learner's counters (at most once a second, atomically) to
``ECHOSAFE_LEARNING_STATUS`` or ``<cache dir>/learning-status.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from echosafe_guard.integrations.litellm.local_gguf import cache_dir

__all__ = ["learning_status_path", "read_learning_status", "write_learning_status"]

_last = [0.0]
_lock = threading.Lock()
_FAILURES = ("failed", "failed_model", "failed_store", "dropped_invalid")


def learning_status_path() -> Path:
    env = os.environ.get("ECHOSAFE_LEARNING_STATUS")
    return Path(env).expanduser() if env else cache_dir() / "learning-status.json"


def write_learning_status(counters: dict[str, int], *, every_s: float = 1.0) -> bool:
    """Write the counters (throttled); never raises. True when written."""
    now = time.monotonic()
    with _lock:
        if now - _last[0] < every_s:
            return False
        _last[0] = now
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
