"""New files and folders are named durably: their folder is fsync'd after they appear.

A crash of the machine (not only of the process) could otherwise lose a new tenant's folder, a
new log or a new audit file, with every fsync'd byte in it. Each test records the folders that
are fsync'd, and whether the new name was already there at that moment.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import echosafe_guard.durable_files as durable
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.observability.file_audit_sink import FileAuditSink
from tests.store_contract import LAYOUT, make_insight, rand_unit

Synced = list[tuple[Path, frozenset[str]]]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Synced:
    """Every folder fsync'd, in order, with the names it held at that moment."""
    seen: Synced = []
    real = os.fsync

    def spy(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.is_dir():
            seen.append((path, frozenset(os.listdir(path))))
        real(fd)

    monkeypatch.setattr(durable.os, "fsync", spy)
    return seen


def names_when_synced(seen: Synced, folder: Path) -> set[str]:
    """The names ``folder`` held, over all the times it was fsync'd."""
    return {name for path, names in seen if path == folder for name in names}


def test_a_new_store_tenant_and_log_are_named_durably(tmp_path: Path, synced: Synced) -> None:
    root = tmp_path / "deep" / "store"
    with LocalStore(root) as store:
        store.bind(LAYOUT)
        store.upsert([make_insight("a", rand_unit(np.random.default_rng(0)))])
    (tenant,) = (root / "tenants").iterdir()
    assert "deep" in names_when_synced(synced, tmp_path)
    assert "store" in names_when_synced(synced, tmp_path / "deep")
    assert "tenants" in names_when_synced(synced, root)
    assert tenant.name in names_when_synced(synced, root / "tenants")
    assert {"log.jsonl", "tenant.json"} <= names_when_synced(synced, tenant)


def test_a_new_audit_file_and_its_rotation_are_named_durably(
    tmp_path: Path, synced: Synced
) -> None:
    folder = tmp_path / "audit"
    sink = FileAuditSink(folder / "audit.jsonl", max_bytes=64, backups=2)
    sink.write([b'{"n": 1}\n'])
    assert "audit" in names_when_synced(synced, tmp_path)
    assert "audit.jsonl" in names_when_synced(synced, folder)
    synced.clear()
    sink.write([b'{"n": 2, "pad": "' + b"x" * 80 + b'"}\n'])  # past max_bytes: rotated first
    assert {"audit.jsonl", "audit.jsonl.1"} <= names_when_synced(synced, folder)
    sink.close()


def test_make_dirs_is_mkdir_p_and_quiet_on_an_existing_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    durable.make_dirs(target)
    durable.make_dirs(target)
    assert target.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        durable.make_dirs(tmp_path / "file" / "sub")
