"""The embedded store: ``LocalStore`` and its internals (tenant files, tables, vector index)."""

from echosafe_guard.memory.local.local_store import LocalStore

__all__ = ["LocalStore"]
