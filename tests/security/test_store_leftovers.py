"""A LocalStore writer killed between writing a temporary file and renaming it (a compaction's
snapshot, a new tenant's ``tenant.json``) left the file behind for good: every such crash kept
up to a snapshot's size on disk. Found by the ``kill9`` target of ``benchmarks/adversarial.py``
(``tmp_files_left``). The next writer of the tenant removes them: it holds the store's lock, so
no live writer owns one."""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.memory.local.local_store import LocalStore
from tests.security.helpers import TINY_LAYOUT, tiny_record

LAYOUT = TINY_LAYOUT
rec = tiny_record


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_one(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s") as store:
        store.bind(LAYOUT)
        store.upsert([rec(0)])
    (tenant,) = (tmp_path / "s" / "tenants").iterdir()
    left = [tenant / ".snapshot.jsonl.4242.1.tmp", tenant / ".tenant.json.4242.1.tmp"]
    for path in left:  # what a writer killed mid-compaction or mid-creation leaves
        path.write_bytes(b'{"op":"put","rec":{"id":"i1"')
    with LocalStore(tmp_path / "s") as store:
        assert store.count("acme") == 1  # reading leaves them (a reader holds no lock)
        assert all(p.exists() for p in left)
        store.upsert([rec(1)])
        assert not any(p.exists() for p in left)
        assert store.count("acme") == 2
