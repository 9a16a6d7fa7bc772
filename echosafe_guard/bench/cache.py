"""On-disk cache of model responses and judgements, so an interrupted ``eval`` resumes.

One small JSON file per entry under ``<out>/cache/<kind>/<aa>/<sha256>.json``, written to a
temporary file and renamed (a crash never leaves half an entry). The key is the SHA-256 of a
canonical JSON of what decides the result: the model id, the exact messages sent (images
included, as data URLs) and the generation settings; for judgements the judge, prompt, completion
and expected label. An unreadable entry counts as a miss and is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from echosafe_guard.exceptions import ConfigError

__all__ = ["ResultCache", "cache_key"]


def cache_key(payload: Any) -> str:
    """SHA-256 of ``payload`` as canonical JSON."""
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResultCache:
    """A directory of cached results of one kind (``responses``, ``judgements``)."""

    def __init__(self, root: Path, kind: str) -> None:
        self.dir = Path(root) / kind

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(value, fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"cannot write the eval cache under {self.dir}: {exc}") from exc
