"""``AuditSink``: where the audit writer appends its JSON lines (a file, a Redis stream)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["AuditSink", "AuditSource"]


@runtime_checkable
class AuditSink(Protocol):
    def write(self, lines: Sequence[bytes]) -> None:
        """Append complete JSON lines (each ends with ``\\n``), durably, in order. Called from
        the audit writer's thread only. Raises ``OSError`` (or a store error) on failure."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AuditSource(Protocol):
    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record, oldest first; a torn or unreadable line is skipped."""
        ...
