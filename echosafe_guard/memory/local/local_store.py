"""``LocalStore``: the embedded, crash-safe default memory — a directory on disk.

Layout of the directory::

    store.json                    format, schema version and key layout (atomic replace)
    lock                          inter-process write lock
    txn.json                      only during a write to several tenants: its journal
    tenants/<name>-<hash>/
        tenant.json               the tenant's name
        snapshot.jsonl            compacted records (atomic replace)
        log.jsonl                 append-only operations since the snapshot, fsync'd per write

Every line is ``{"op": "put", "rec": {...}}`` or ``{"op": "del", "id": ...}``. Replaying a log on
top of a snapshot that already contains it gives the same state, so a crash between any two
steps of a compaction is harmless; a line torn by a crash can only be the last one and is
dropped (and cut off before the next append). Other processes' writes are picked up by checking
file sizes and inodes before each operation.

A write is all or nothing, even if its process is killed: one tenant's part of it is one log
line; a write to several tenants is first recorded whole in ``txn.json`` (atomic replace, the
commit point), then appended tenant by tenant, then the journal is removed. A journal left by a
killed writer is rolled forward (appending a put twice is harmless) when the store opens and
before the next write, under the file lock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from pydantic import ValidationError

from echosafe_guard.durable_files import fsync_dir, make_dirs
from echosafe_guard.exceptions import (
    KeyLayoutMismatchError,
    StoreCorruptError,
    StoreUnavailableError,
)
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.base import StoreCapabilities, Vector, check_insights, check_query
from echosafe_guard.memory.insight import Insight, ScoredInsight, SearchFilter
from echosafe_guard.memory.local.tenant_log import (
    TenantLog,
    atomic_write,
    decode_ops,
    encode_record,
)
from echosafe_guard.memory.local.tenant_table import TenantTable
from echosafe_guard.memory.local.vector_index import AnnSettings
from echosafe_guard.memory.store_base import StoreBase

__all__ = ["LOCAL_STORE_SCHEMA", "LocalStore"]

LOCAL_STORE_SCHEMA = 1
_FORMAT = "echosafe-guard/local-store"
_TXN = "txn.json"
_TXN_FORMAT = "echosafe-guard/local-write"

log = logging.getLogger("echosafe_guard.store")

_Write = tuple[str, list[dict[str, Any]], Any]
"""One tenant's part of a write: the tenant, its log ops, and how to apply them to its table."""


class LocalStore(StoreBase):
    """A directory of per-tenant JSONL files with an in-memory vector index per tenant.

    The constructor does no I/O: the directory is created and read on first use. Safe for many
    threads in one process; several processes may share a directory (writes take a file lock).
    ``asearch`` is ``search`` on a worker thread, and the in-memory index is rebuilt on every
    open, so there is nothing to ``reindex``.
    """

    kind = "local"
    capabilities = StoreCapabilities(native_async=False, reindex=False)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ann: AnnSettings | None = None,
        compact_min_lines: int = 1000,
        max_tenants_in_memory: int = 1024,
    ) -> None:
        self.root = Path(path)
        self._ann = ann or AnnSettings()
        self._compact_min = compact_min_lines
        self._lock = threading.RLock()
        self._write_lock = threading.RLock()
        self._opened = False
        self._layout: KeyLayout | None = None
        self._tables: OrderedDict[str, TenantTable] = OrderedDict()
        """Least recently used first; past ``max_tenants_in_memory`` the oldest is dropped (its
        files stay: it is loaded again on its next use)."""
        self._logs: dict[str, TenantLog] = {}
        self._max_tenants = max(1, max_tenants_in_memory)
        self._flock: FileLock | None = None

    # -- opening ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self.root)

    def _open(self) -> None:
        if self._opened:
            return
        with self._write_lock:
            with self._lock:
                if self._opened:
                    return
                try:
                    make_dirs(self.root / "tenants")
                except OSError as exc:
                    raise StoreUnavailableError(
                        f"cannot create store directory {self.root}: {exc}"
                    ) from exc
                self._flock = FileLock(str(self.root / "lock"), timeout=30)
                self._layout = self._read_meta()
            if (self.root / _TXN).exists():
                try:
                    with self._flock.acquire(timeout=0):
                        self._finish_journal()
                except Timeout:
                    pass  # a live writer holds the lock: the journal is its own, not a crash's
            self._opened = True

    def _read_meta(self) -> KeyLayout | None:
        """The layout recorded in ``store.json`` (None for a store never bound)."""
        meta = self.root / "store.json"
        if not meta.exists():
            return None
        try:
            data = json.loads(meta.read_text("utf-8"))
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise StoreCorruptError(f"{meta}: not an echosafe-guard store")
            if data.get("schema") != LOCAL_STORE_SCHEMA:
                raise StoreCorruptError(
                    f"{meta}: store schema {data.get('schema')}, this version reads "
                    f"{LOCAL_STORE_SCHEMA}"
                )
            lay = data.get("layout")
            return KeyLayout.model_validate(lay) if lay else None
        except (OSError, ValueError, ValidationError) as exc:
            raise StoreCorruptError(f"{meta}: cannot be read: {exc}") from exc

    def layout(self) -> KeyLayout | None:
        self._open()
        if self._layout is None:  # another process may have bound the store since we opened it
            with self._lock:
                if self._layout is None:
                    self._layout = self._read_meta()
        return self._layout

    def bind(self, layout: KeyLayout) -> None:
        """Record ``layout`` for a new store; for an existing one, refuse any other layout."""
        self._open()
        with self._lock:
            if self._layout is None:
                assert self._flock is not None
                with self._flock:
                    # Another process may have bound the store since we opened it.
                    self._layout = self._read_meta()
                    if self._layout is None:
                        meta = {
                            "format": _FORMAT,
                            "schema": LOCAL_STORE_SCHEMA,
                            "layout": layout.model_dump(),
                        }
                        atomic_write(self.root / "store.json", json.dumps(meta, indent=1).encode())
                        self._layout = layout
            if self._layout.id != layout.id:
                raise KeyLayoutMismatchError(
                    f"store {self.root} was built with key layout {self._layout.describe()}, "
                    f"not {layout.describe()}; use the same embedders, or another store "
                    "(memory export/import re-embeds nothing: re-seed it)"
                )

    # -- per-tenant files ------------------------------------------------------------------

    def _table(self, tenant: str) -> TenantTable:
        """The tenant's up-to-date table (reloaded if another process changed its files)."""
        self._open()
        return self._load(tenant)

    def _load(self, tenant: str) -> TenantTable:
        with self._lock:
            files = self._logs.get(tenant)
            if files is None:
                files = self._logs[tenant] = TenantLog(self.root, tenant)
            table = self._tables.get(tenant)
            if table is not None:
                self._tables.move_to_end(tenant)
            dim = self._layout.dim if self._layout else None
            if table is not None and files.writing:
                return table  # this process is the writer: the table is current
            if table is None or files.stale():
                table = files.load(TenantTable(tenant, dim, self._ann), dim)
                self._tables[tenant] = table
                self._evict(keep=tenant)
                if table.index is not None and len(table) >= self._ann.ann_threshold:
                    table.index.build_ann(background=True)  # before the first search needs it
            elif files.grew():
                files.catch_up(table, dim)
            return table

    def _evict(self, keep: str) -> None:
        """Drop the least recently used tenant tables past the cap (never ``keep``, never one
        being written)."""
        self._tables.move_to_end(keep)
        for name in list(self._tables):
            if len(self._tables) <= self._max_tenants:
                return
            log = self._logs.get(name)
            if name == keep or (log is not None and log.writing):
                continue
            old = self._tables.pop(name)
            self._logs.pop(name, None)
            if old.index is not None:
                old.index.close(timeout=0)

    @property
    def tenants_in_memory(self) -> int:
        """How many tenant tables are held in memory (at most ``max_tenants_in_memory``)."""
        return len(self._tables)

    def _write(self, tenant: str, ops: list[dict[str, Any]], apply: Any) -> Any:
        """Append ``ops`` durably, then apply them in memory. Searches never wait for the fsync:
        while this process writes a tenant, its table is already current (other processes are
        held off by the file lock)."""
        assert self._flock is not None
        with self._write_lock, self._flock:
            self._finish_journal()
            return self._append(tenant, ops, apply)

    def _write_many(self, writes: list[_Write]) -> None:
        """A write to several tenants, all or nothing: journal, appends, journal removed."""
        assert self._flock is not None
        with self._write_lock, self._flock:
            self._finish_journal()
            path = self.root / _TXN
            journal = {
                "format": _TXN_FORMAT,
                "writes": [{"tenant": tenant, "ops": ops} for tenant, ops, _ in writes],
            }
            try:
                atomic_write(path, json.dumps(journal, separators=(",", ":")).encode())
            except OSError as exc:
                raise StoreUnavailableError(f"cannot write {path}: {exc}") from exc
            for tenant, ops, apply in writes:
                self._append(tenant, ops, apply)
            self._end_journal(path)

    def _append(self, tenant: str, ops: list[dict[str, Any]], apply: Any) -> Any:
        """Append to one tenant's log and apply (the caller holds the write locks)."""
        table = self._load(tenant)  # pick up other processes' writes first
        files = self._logs[tenant]
        files.writing = True
        try:
            files.append(ops)
            result = apply(table)
            files.maybe_compact(table, self._compact_min)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write {files.dir}: {exc}") from exc
        finally:
            files.writing = False
        return result

    def _end_journal(self, path: Path) -> None:
        try:
            path.unlink()
            fsync_dir(path.parent)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot remove {path}: {exc}") from exc

    def _finish_journal(self) -> None:
        """Roll forward a write to several tenants that a killed writer left (the caller holds
        the write locks). Every op is checked before anything is appended."""
        path = self.root / _TXN
        if not path.exists():
            return
        dim = self._layout.dim if self._layout else None
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != _TXN_FORMAT:
                raise ValueError("not a write journal of this store")
            writes = [
                (str(w["tenant"]), list(w["ops"]), decode_ops(list(w["ops"]), dim))
                for w in data["writes"]
            ]
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            raise StoreCorruptError(f"{path}: cannot be read: {exc}") from exc
        for tenant, ops, apply in writes:
            self._append(tenant, ops, apply)
        self._end_journal(path)
        log.warning(
            "%s: completed a write of %d insights to %d tenants left by a killed writer",
            self.root,
            sum(len(ops) for _, ops, _ in writes),
            len(writes),
        )

    # -- the InsightStore API --------------------------------------------------------------

    def upsert(self, insights: Sequence[Insight]) -> None:
        self._open()
        if not insights:
            return
        check_insights(insights, self._layout)
        by_tenant: dict[str, list[Insight]] = {}
        for ins in insights:
            by_tenant.setdefault(ins.tenant, []).append(ins)
        writes: list[_Write] = []
        for tenant, group in by_tenant.items():
            ops = [{"op": "put", "rec": encode_record(i)} for i in group]

            def apply(table: TenantTable, group: list[Insight] = group) -> None:
                for ins in group:
                    table.put(ins.without_vector(), np.asarray(ins.vector, dtype=np.float32))

            writes.append((tenant, ops, apply))
        if len(writes) == 1:
            self._write(*writes[0])
        else:
            self._write_many(writes)

    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None:
        return self._table(tenant).get(insight_id, with_vector=with_vector)

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        table = self._table(tenant)
        present = [i for i in dict.fromkeys(ids) if table.get(i) is not None]
        if not present:
            return 0
        ops = [{"op": "del", "id": i} for i in present]
        return int(self._write(tenant, ops, lambda t: sum(t.delete(i) for i in present)))

    def _search(
        self, vector: Vector, tenant: str, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]:
        table = self._table(tenant)
        if self._layout is not None:
            check_query(vector, self._layout)
        return table.search(vector, k=k, min_score=min_score, filters=filters)

    def count(self, tenant: str) -> int:
        return len(self._table(tenant))

    def tenants(self) -> list[str]:
        self._open()
        out = []
        for d in sorted((self.root / "tenants").glob("*/tenant.json")):
            try:
                data = json.loads(d.read_text("utf-8"))
                if not isinstance(data, dict) or not isinstance(data.get("tenant"), str):
                    raise ValueError("expected an object with a 'tenant' string")
                out.append(data["tenant"])
            except (OSError, ValueError) as exc:
                raise StoreCorruptError(f"{d}: cannot be read: {exc}") from exc
        return sorted(out)

    def _iter_tenant(self, tenant: str, with_vector: bool) -> Iterator[Insight]:
        table = self._table(tenant)
        with self._lock:
            items = list(table.iter(with_vector=with_vector))
        yield from items

    def _probe(self) -> str:
        n = sum(1 for _ in self.iter_insights())
        layout = self.layout()
        lay = layout.describe() if layout else "no layout yet (empty store)"
        return f"{n} insights; {lay}"

    def close(self) -> None:
        with self._lock:
            for table in self._tables.values():
                if table.index is not None:  # join any background HNSW build
                    table.index.close()
            self._tables.clear()
            self._logs.clear()
            self._opened = False
