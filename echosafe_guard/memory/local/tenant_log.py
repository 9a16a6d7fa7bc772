"""One tenant's files in a ``LocalStore``: a snapshot, an append-only log, and crash safety.

Every line is ``{"op": "put", "rec": {...}}``, ``{"op": "del", "id": ...}`` or, for a write of
several, ``{"op": "batch", "ops": [...]}`` (all or nothing after a crash). Replaying a log on
top of a snapshot that already contains it gives the same state, so a crash between any two
steps of a compaction is harmless. A line torn by a crash can only be the last one; it is dropped
and cut off before the next append. Compaction replaces both files atomically (new inodes), so a
reader in another process never resumes an old offset inside a new log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from echosafe_guard.durable_files import create_append, fsync_dir, make_dirs
from echosafe_guard.exceptions import StoreCorruptError, StoreError, StoreUnavailableError
from echosafe_guard.memory.insight import Insight
from echosafe_guard.memory.local.tenant_table import TenantTable

__all__ = ["TenantLog", "atomic_write", "decode_ops", "encode_record"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def encode_record(ins: Insight) -> dict[str, Any]:
    """An insight as a log record: its JSON without the vector, plus the float32 vector base64."""
    if ins.vector is None:
        raise StoreError(f"insight {ins.id!r} has no vector")
    rec = ins.to_json_dict(with_vector=False)
    rec["v"] = base64.b64encode(np.asarray(ins.vector, dtype="<f4").tobytes()).decode("ascii")
    return rec


def _decoded(op: dict[str, Any], dim: int | None) -> Any:
    """A checked log op as a function of the table (raises ``ValueError`` etc. when bad)."""
    if op["op"] == "put":
        rec = dict(op["rec"])
        vec = np.frombuffer(base64.b64decode(rec.pop("v")), dtype="<f4")
        if dim is not None and vec.shape != (dim,):
            raise ValueError(f"vector has {vec.size} values, the layout {dim}")
        ins = Insight.model_validate(rec)
        return lambda table: table.put(ins, vec)
    if op["op"] == "del":
        iid = str(op["id"])
        return lambda table: table.delete(iid)
    raise ValueError(f"unknown op {op['op']!r}")


def decode_ops(ops: list[dict[str, Any]], dim: int | None) -> Callable[[TenantTable], None]:
    """Decode and check log ops now (raises ``ValueError`` etc. when one is bad); returns a
    function applying them all to a table."""
    steps = [_decoded(o, dim) for o in ops]

    def apply(table: TenantTable) -> None:
        for step in steps:
            step(table)

    return apply


def _line(op: dict[str, Any]) -> bytes:
    return json.dumps(op, separators=(",", ":")).encode() + b"\n"


def _ident(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, inode) of a file, or None if it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino)


class TenantLog:
    """A tenant's folder, and how much of its files this process has applied."""

    def __init__(self, root: Path, tenant: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)[:40]
        self.tenant = tenant
        self.dir = root / "tenants" / f"{safe}-{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"
        self.snapshot = self.dir / "snapshot.jsonl"
        self.log = self.dir / "log.jsonl"
        self._snap_id: tuple[int, int] | None = None
        self._log_id: tuple[int, int] | None = None
        self._offset = 0
        self.lines = 0
        self.writing = False
        """Set by the store while this process appends (see ``LocalStore._write``)."""
        self._swept = False

    def stale(self) -> bool:
        """True when the files were replaced (by a compaction elsewhere) or shrank."""
        log_id = _ident(self.log)
        if _ident(self.snapshot) != self._snap_id:
            return True
        if (log_id[1] if log_id else None) != (self._log_id[1] if self._log_id else None):
            return True
        return log_id is not None and self.log.stat().st_size < self._offset

    def grew(self) -> bool:
        return _ident(self.log) is not None and self.log.stat().st_size > self._offset

    def load(self, table: TenantTable, dim: int | None) -> TenantTable:
        """Fill an empty table from the snapshot and the whole log."""
        self._snap_id = _ident(self.snapshot)
        if self._snap_id is not None:
            self._replay(table, self.snapshot, 0, dim, tail=False)
        self._log_id = _ident(self.log)
        self._offset = self.lines = 0
        if self._log_id is not None:
            self._replay(table, self.log, 0, dim, tail=True)
        return table

    def catch_up(self, table: TenantTable, dim: int | None) -> None:
        """Apply what other processes appended since we last read."""
        self._replay(table, self.log, self._offset, dim, tail=True)

    def _replay(
        self, table: TenantTable, path: Path, start: int, dim: int | None, *, tail: bool
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
                ops = op["ops"] if op["op"] == "batch" else [op]
                decode_ops(ops, dim)(table)  # all decoded, then applied
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                if last and tail:
                    break  # torn tail of the log: the write was never acknowledged
                raise StoreCorruptError(f"{path}: byte {pos}: unreadable record: {exc}") from exc
            pos += len(line) + 1
            if tail:
                self.lines += len(ops)  # ops, as append counts them (compaction's measure)
        if tail:
            self._offset = pos

    def append(self, ops: list[dict[str, Any]]) -> None:
        """Append and fsync; a torn tail left by a crash is cut off first (and, on this
        process's first write, the temporary files of a writer killed mid-replace removed)."""
        make_dirs(self.dir)  # a new tenant's folder is named durably in ``tenants/``
        if not self._swept:
            # Temporary files of a writer killed before its rename (a compaction's snapshot can
            # be large). Every writer holds the store's file lock, so none of them is live.
            for tmp in self.dir.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
            self._swept = True
        name_file = self.dir / "tenant.json"
        if not name_file.exists():
            atomic_write(name_file, json.dumps({"tenant": self.tenant}).encode())
        # Several ops are one line: a crash keeps all of them or none (a torn last line is
        # dropped), so a write (an import, a seed) is atomic per tenant.
        payload = _line({"op": "batch", "ops": ops}) if len(ops) > 1 else _line(ops[0])
        with open(create_append(self.log), "ab") as fh:  # a new log is named durably too
            if fh.tell() != self._offset:
                fh.truncate(self._offset)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        self._log_id = _ident(self.log)
        self._offset += len(payload)
        self.lines += len(ops)

    def maybe_compact(self, table: TenantTable, min_lines: int) -> None:
        """Rewrite the snapshot from ``table`` once the log outgrows it, then start a new log."""
        if self.lines < max(min_lines, len(table)):
            return
        body = b"".join(
            _line({"op": "put", "rec": encode_record(ins)}) for ins in table.iter(with_vector=True)
        )
        atomic_write(self.snapshot, body)
        self._snap_id = _ident(self.snapshot)
        atomic_write(self.log, b"")
        self._log_id = _ident(self.log)
        self._offset = self.lines = 0
