"""``LocalStore``: the embedded, crash-safe default memory — a directory on disk.

Layout of the directory::

    store.json                    format, schema version and key layout (atomic replace)
    lock                          inter-process write lock
    tenants/<name>-<hash>/
        tenant.json               the tenant's name
        snapshot.jsonl            compacted records (atomic replace)
        log.jsonl                 append-only operations since the snapshot, fsync'd per write

Every line is ``{"op": "put", "rec": {...}}`` or ``{"op": "del", "id": ...}``. Replaying a log on
top of a snapshot that already contains it gives the same state, so a crash between any two
steps of a compaction is harmless; a line torn by a crash can only be the last one and is
dropped (and cut off before the next append). Other processes' writes are picked up by checking
file sizes and inodes before each operation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from pydantic import ValidationError

from echosafe_guard.exceptions import (
    KeyLayoutMismatchError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
)
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.base import Vector
from echosafe_guard.memory.insight import (
    Insight,
    ScoredInsight,
    SearchFilter,
    StoreHealth,
    StoreStats,
)
from echosafe_guard.memory.tenant_table import TenantTable
from echosafe_guard.memory.vector_index import AnnSettings

__all__ = ["LOCAL_STORE_SCHEMA", "LocalStore"]

LOCAL_STORE_SCHEMA = 1
_FORMAT = "echosafe-guard/local-store"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _encode(ins: Insight) -> dict[str, Any]:
    if ins.vector is None:
        raise StoreError(f"insight {ins.id!r} has no vector")
    rec = ins.to_json_dict(with_vector=False)
    rec["v"] = base64.b64encode(np.asarray(ins.vector, dtype="<f4").tobytes()).decode("ascii")
    return rec


def _tenant_dirname(tenant: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)[:40]
    return f"{safe}-{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"


class _Files:
    """One tenant's files and what this process has read of them."""

    def __init__(self, root: Path, tenant: str) -> None:
        self.dir = root / "tenants" / _tenant_dirname(tenant)
        self.snapshot = self.dir / "snapshot.jsonl"
        self.log = self.dir / "log.jsonl"
        self.snap_id: tuple[int, int] | None = None
        self.log_ino = 0
        self.log_offset = 0
        self.log_lines = 0


class LocalStore:
    """A directory of per-tenant JSONL files with an in-memory vector index per tenant.

    The constructor does no I/O: the directory is created and read on first use. Safe for many
    threads in one process; several processes may share a directory (writes take a file lock).
    """

    kind = "local"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ann: AnnSettings | None = None,
        compact_min_lines: int = 1000,
    ) -> None:
        self.root = Path(path)
        self._ann = ann or AnnSettings()
        self._compact_min = compact_min_lines
        self._lock = threading.RLock()
        self._opened = False
        self._layout: KeyLayout | None = None
        self._tables: dict[str, TenantTable] = {}
        self._files: dict[str, _Files] = {}
        self._flock: FileLock | None = None

    # -- opening ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self.root)

    def _open(self) -> None:
        if self._opened:
            return
        with self._lock:
            if self._opened:
                return
            try:
                (self.root / "tenants").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"cannot create store directory {self.root}: {exc}"
                ) from exc
            self._flock = FileLock(str(self.root / "lock"), timeout=30)
            self._layout = self._read_meta()
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
                        _atomic_write(self.root / "store.json", json.dumps(meta, indent=1).encode())
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
        with self._lock:
            files = self._files.get(tenant)
            if files is None:
                files = self._files[tenant] = _Files(self.root, tenant)
            table = self._tables.get(tenant)
            snap_id = _ident(files.snapshot)
            log_id = _ident(files.log)
            log_size = files.log.stat().st_size if log_id else 0
            if (
                table is None
                or snap_id != files.snap_id
                or (log_id[1] if log_id else 0) != files.log_ino
                or log_size < files.log_offset
            ):
                table = self._load(tenant, files)
                self._tables[tenant] = table
            elif log_size > files.log_offset:
                self._replay(table, files, files.log, files.log_offset, tail=True)
            return table

    def _load(self, tenant: str, files: _Files) -> TenantTable:
        dim = self._layout.dim if self._layout else None
        table = TenantTable(tenant, dim, self._ann)
        files.snap_id = _ident(files.snapshot)
        if files.snapshot.exists():
            self._replay(table, files, files.snapshot, 0, tail=False)
        log_id = _ident(files.log)
        files.log_ino = log_id[1] if log_id else 0
        files.log_offset = files.log_lines = 0
        if log_id:
            self._replay(table, files, files.log, 0, tail=True)
        return table

    def _replay(
        self, table: TenantTable, files: _Files, path: Path, start: int, *, tail: bool
    ) -> None:
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc}") from exc
        pos = start
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break
            try:
                if last:
                    raise ValueError("line has no newline: torn by an interrupted write")
                op = json.loads(line)
                if op["op"] == "put":
                    rec = dict(op["rec"])
                    vec = np.frombuffer(base64.b64decode(rec.pop("v")), dtype="<f4")
                    if self._layout is not None and vec.shape != (self._layout.dim,):
                        raise ValueError(
                            f"vector has {vec.size} values, the layout {self._layout.dim}"
                        )
                    table.put(Insight.model_validate(rec), vec)
                elif op["op"] == "del":
                    table.delete(str(op["id"]))
                else:
                    raise ValueError(f"unknown op {op['op']!r}")
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                if last and tail:
                    break  # torn tail of the log: the write was never acknowledged
                raise StoreCorruptError(f"{path}: byte {pos}: unreadable record: {exc}") from exc
            pos += len(line) + 1
            if tail:
                files.log_lines += 1
        if tail:
            files.log_offset = pos

    def _append(self, tenant: str, ops: list[dict[str, Any]]) -> None:
        files = self._files[tenant]
        files.dir.mkdir(parents=True, exist_ok=True)
        name_file = files.dir / "tenant.json"
        if not name_file.exists():
            _atomic_write(name_file, json.dumps({"tenant": tenant}).encode())
        payload = b"".join(json.dumps(op, separators=(",", ":")).encode() + b"\n" for op in ops)
        with open(files.log, "ab") as fh:
            if fh.tell() != files.log_offset:
                fh.truncate(files.log_offset)  # drop a torn tail before appending after it
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        ident = _ident(files.log)
        files.log_ino = ident[1] if ident else 0
        files.log_offset += len(payload)
        files.log_lines += len(ops)

    def _maybe_compact(self, tenant: str, table: TenantTable) -> None:
        files = self._files[tenant]
        if files.log_lines < max(self._compact_min, len(table)):
            return
        body = b"".join(
            json.dumps({"op": "put", "rec": _encode(ins)}, separators=(",", ":")).encode() + b"\n"
            for ins in table.iter(with_vector=True)
        )
        _atomic_write(files.snapshot, body)
        files.snap_id = _ident(files.snapshot)
        # A new, empty log file (new inode), never an in-place truncation: a reader in another
        # process must not resume an old offset inside the new log.
        _atomic_write(files.log, b"")
        ident = _ident(files.log)
        files.log_ino = ident[1] if ident else 0
        files.log_offset = files.log_lines = 0

    def _write(self, tenant: str, ops: list[dict[str, Any]], apply: Any) -> Any:
        assert self._flock is not None
        with self._lock, self._flock:
            table = self._table(tenant)  # pick up other processes' writes first
            result = apply(table)
            if ops:
                self._append(tenant, ops)
                self._maybe_compact(tenant, table)
            return result

    # -- the InsightStore API --------------------------------------------------------------

    def upsert(self, insights: Sequence[Insight]) -> None:
        self._open()
        if not insights:
            return
        if self._layout is None:
            raise StoreError("bind the store to a key layout before writing (store.bind(layout))")
        by_tenant: dict[str, list[Insight]] = {}
        for ins in insights:
            if ins.layout != self._layout.id:
                raise KeyLayoutMismatchError(
                    f"insight {ins.id!r} has key layout {ins.layout!r}, "
                    f"the store {self._layout.id!r}"
                )
            if ins.vector is None or len(ins.vector) != self._layout.dim:
                raise StoreError(f"insight {ins.id!r} needs a {self._layout.dim}-d vector")
            by_tenant.setdefault(ins.tenant, []).append(ins)
        for tenant, group in by_tenant.items():
            ops = [{"op": "put", "rec": _encode(i)} for i in group]

            def apply(table: TenantTable, group: list[Insight] = group) -> None:
                for ins in group:
                    table.put(ins.without_vector(), np.asarray(ins.vector, dtype=np.float32))

            self._write(tenant, ops, apply)

    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None:
        return self._table(tenant).get(insight_id, with_vector=with_vector)

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        table = self._table(tenant)
        present = [i for i in dict.fromkeys(ids) if table.get(i) is not None]
        if not present:
            return 0
        ops = [{"op": "del", "id": i} for i in present]
        return int(self._write(tenant, ops, lambda t: sum(t.delete(i) for i in present)))

    def search(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        table = self._table(tenant)
        if self._layout is not None and np.shape(vector) != (self._layout.dim,):
            raise KeyLayoutMismatchError(
                f"query vector has shape {np.shape(vector)}, "
                f"the store's layout {self._layout.dim}-d"
            )
        return table.search(vector, k=k, min_score=min_score, filters=filters or SearchFilter())

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

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        for t in [tenant] if tenant is not None else self.tenants():
            table = self._table(t)
            with self._lock:
                items = list(table.iter(with_vector=with_vector))
            yield from items

    def stats(self) -> StoreStats:
        counts: dict[str, Counter[str]] = {k: Counter() for k in ("t", "v", "c", "s")}
        for ins in self.iter_insights():
            counts["t"][ins.tenant] += 1
            counts["v"][ins.verdict.value] += 1
            counts["c"][ins.category] += 1
            counts["s"][ins.status.value] += 1
        return StoreStats(
            kind=self.kind,
            location=self.location,
            layout=self._layout.id if self._layout else None,
            total=sum(counts["t"].values()),
            by_tenant=dict(counts["t"]),
            by_verdict=dict(counts["v"]),
            by_category=dict(counts["c"]),
            by_status=dict(counts["s"]),
        )

    def health(self) -> StoreHealth:
        try:
            n = sum(1 for _ in self.iter_insights())
        except StoreError as exc:
            return StoreHealth(ok=False, kind=self.kind, location=self.location, detail=str(exc))
        lay = self._layout.describe() if self._layout else "no layout yet (empty store)"
        return StoreHealth(
            ok=True, kind=self.kind, location=self.location, detail=f"{n} insights; {lay}"
        )

    def close(self) -> None:
        with self._lock:
            self._tables.clear()
            self._files.clear()
            self._opened = False

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async twins: file I/O and numpy search run off the event loop ------------------------

    async def aupsert(self, insights: Sequence[Insight]) -> None:
        await asyncio.to_thread(self.upsert, insights)

    async def aget(
        self, tenant: str, insight_id: str, *, with_vector: bool = False
    ) -> Insight | None:
        return await asyncio.to_thread(self.get, tenant, insight_id, with_vector=with_vector)

    async def adelete(self, tenant: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.delete, tenant, ids)

    async def asearch(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        return await asyncio.to_thread(
            self.search, vector, tenant=tenant, k=k, min_score=min_score, filters=filters
        )

    async def aclose(self) -> None:
        self.close()


def _ident(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, inode) of a file, or None if it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino)
