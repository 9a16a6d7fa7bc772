"""``FileAuditSink``: JSON lines appended to a file, fsync'd, rotated by size.

* Each batch is one ``write`` on an ``O_APPEND`` descriptor, then ``fsync``: a process killed
  mid-write leaves at most one torn last line, with no newline.
* Every write first ends such a torn tail with a newline (under the lock: also one left by
  another process sharing the log while this one kept its descriptor open), so the next record
  starts on its own line; readers skip any line that is not complete JSON (:meth:`records`).
* Past ``max_bytes`` the file is renamed to ``.1`` (``.1`` to ``.2``, ... up to ``backups``)
  under an inter-process file lock, so several processes can share one log; a process whose
  file was rotated away by another opens the current one before it writes again.
* New files, folders and renames are named durably: their folder is fsync'd
  (``echosafe_guard.durable_files``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from echosafe_guard.durable_files import create_append, fsync_dir, make_dirs

__all__ = ["FileAuditSink", "read_lines"]


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of one file: lines ending in a newline that parse as a JSON object."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    with f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # a torn tail (a writer killed mid-write)
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec


class FileAuditSink:
    """Also an ``AuditSource``: :meth:`records` reads the rotated files, then the current one.
    Constructing it does no I/O."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 50 << 20, backups: int = 5,
        fsync: bool = True,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self._fd: int | None = None
        self._lock = FileLock(str(self.path) + ".lock")

    def _open(self) -> int:
        """This process's descriptor of the current file, under the lock. Another process may
        have rotated the file since (then it is opened again, never written after the rename)
        or been killed mid-write (then its torn tail is ended with a newline first, so the
        next record starts on its own line)."""
        fd = self._fd
        if fd is not None and not self._is_current(fd):
            os.close(fd)
            fd = self._fd = None
        if fd is None:
            fd = self._fd = create_append(self.path)  # a new file is named durably
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
        return fd

    def _is_current(self, fd: int) -> bool:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev)

    def _rotate_if_needed(self, fd: int, incoming: int) -> int:
        """Under the lock, ``fd`` being the current file's."""
        size = os.fstat(fd).st_size
        if size == 0 or size + incoming <= self.max_bytes:
            return fd
        if self.backups:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            fsync_dir(self.path.parent)
        else:
            os.truncate(self.path, 0)
        return self._open()

    def write(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        if self._fd is None:  # before the lock, whose file would create the folder
            make_dirs(self.path.parent)
        with self._lock:  # several processes may share the log
            fd = self._rotate_if_needed(self._open(), len(data))
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        if self.fsync:
            os.fsync(fd)

    def files(self) -> list[Path]:
        """The log's files, oldest first."""
        rotated = [self.path.with_name(f"{self.path.name}.{i}") for i in range(self.backups, 0, -1)]
        return [p for p in (*rotated, self.path) if p.exists()]

    def records(self) -> Iterator[dict[str, Any]]:
        for p in self.files():
            yield from read_lines(p)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
