"""``RedisStreamSink``: audit records appended to a Redis stream (``XADD``, capped by
``MAXLEN ~``), next to a Redis store's insights. Also an ``AuditSource`` (``XRANGE``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["RedisStreamSink"]

_FIELD = "r"


class RedisStreamSink:
    """``client``: returns a redis-py client (the store's; called lazily, no I/O before)."""

    def __init__(self, client: Callable[[], Any], key: str, *, maxlen: int = 100_000) -> None:
        self._client = client
        self.key = key
        self.maxlen = maxlen

    def write(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        pipe = self._client().pipeline(transaction=False)
        for line in lines:
            pipe.xadd(self.key, {_FIELD: line.rstrip(b"\n")}, maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def records(self) -> Iterator[dict[str, Any]]:
        client, start = self._client(), "-"
        while True:
            batch = client.xrange(self.key, min=start, max="+", count=1000)
            for _id, fields in batch:
                raw = fields.get(_FIELD.encode()) or fields.get(_FIELD)
                try:
                    rec = json.loads(raw) if raw is not None else None
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    yield rec
            if len(batch) < 1000:
                return
            last = batch[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else str(last))

    def close(self) -> None:
        return None
