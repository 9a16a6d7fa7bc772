"""New names that survive a crash of the machine, not only of the process.

On POSIX file systems a new file or folder is durable only once the folder that names it has
been fsync'd too: ext4 and XFS can otherwise lose the name (and with it every fsync'd byte of the
file) after a power cut. ``make_dirs`` and ``create_append`` do that for the stores and logs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["create_append", "fsync_dir", "make_dirs"]


def fsync_dir(path: Path) -> None:
    """fsync a folder: what it names (files created, renamed or removed in it) is then durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` that fsyncs the parent of every folder it creates."""
    missing: list[Path] = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        # another process may have made it, and not fsync'd its parent yet
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        fsync_dir(folder.parent)


def create_append(path: Path, mode: int = 0o600) -> int:
    """An ``O_APPEND`` descriptor on ``path``, made durably: a file this call creates has its
    folder fsync'd before the descriptor is returned."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        fsync_dir(path.parent)
    except OSError:
        os.close(fd)
        raise
    return fd
