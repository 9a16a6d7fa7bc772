"""``memory import`` into a LocalStore is all or nothing, even when its process is SIGKILLed.

One tenant's part of a write is one log line; a write to several tenants is journalled in
``txn.json`` first and rolled forward by the next open or write. The import (the real CLI in its
own process, two tenants) is killed just before each ``fsync`` it makes in turn (data written
before it is in the page cache, so it survives the kill of the process), and, with the
installed console script, as soon as its journal appears. After every kill the store must
open and search, and hold, in both tenants, either none of the file's insights or all of them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from filelock import FileLock

from echosafe_guard.exceptions import StoreCorruptError
from echosafe_guard.memory.insight import Insight
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.memory.local.tenant_log import encode_record
from tests.import_kill import (
    TENANTS,
    Expected,
    ImportFile,
    cli_layout,
    import_args,
    run_cli_and_kill,
    run_import,
    write_import,
)

FSYNC = "os:fsync"
PER_TENANT = 200


def reopen_and_check(root: Path, expected: Expected, f: ImportFile) -> bool:
    with LocalStore(root) as store:
        assert store.layout() in (None, cli_layout())  # opening rolls a journal forward
        assert not (root / "txn.json").exists()
        inside = expected.check(store, f)
    with LocalStore(root) as store:
        assert expected.check(store, f) == inside
    return inside


def kill_before_each_fsync(root: Path, tmp_path: Path, first: int, rounds: int) -> Counter[str]:
    """Import rounds ``first``, ``first + 1``, ... into ``root``, killing round ``first + k``
    before its ``k + 1``-th fsync, until a round finishes (at most ``rounds``)."""
    layout = cli_layout()
    expected = Expected()
    if first:
        with LocalStore(root) as store:
            expected.check(store, write_import(tmp_path, layout, first - 1, PER_TENANT))
    seen: Counter[str] = Counter()
    for k in range(1, rounds + 1):
        f = write_import(tmp_path, layout, first + k - 1, PER_TENANT)
        run = run_import(import_args(f.path, str(root)), FSYNC, pause_at=k)
        journal = (root / "txn.json").exists()
        seen["finished" if not run.killed else "journal" if journal else "no journal"] += 1
        seen["went in"] += reopen_and_check(root, expected, f)
        f.path.unlink()
        if not run.killed:
            break
    return seen


def test_import_killed_before_each_fsync_is_all_or_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    f = write_import(tmp_path, cli_layout(), 0, PER_TENANT)
    whole = run_import(import_args(f.path, str(root)), FSYNC)
    assert whole.calls is not None and '"imported": 408' in whole.output
    seen = kill_before_each_fsync(root, tmp_path, 1, rounds=20)
    # the kills hit the write before its commit point and after it, between the tenants
    assert seen["no journal"] >= 1 and seen["journal"] >= 3, seen
    assert seen["finished"] == 1 and seen["went in"] == seen["journal"] + 1, seen


def test_first_import_into_a_new_store_killed_before_each_fsync(tmp_path: Path) -> None:
    """The first import also creates the store and the tenants' folders."""
    seen = Counter[str]()
    for k in range(1, 20):
        root = tmp_path / f"store{k}"
        f = write_import(tmp_path, cli_layout(), 0, 20)
        run = run_import(import_args(f.path, str(root)), FSYNC, pause_at=k)
        journal = (root / "txn.json").exists()
        seen["finished" if not run.killed else "journal" if journal else "no journal"] += 1
        reopen_and_check(root, Expected(), f)
        if not run.killed:
            break
    assert seen["journal"] >= 3 and seen["finished"] == 1, seen


def test_import_killed_as_its_journal_appears(tmp_path: Path) -> None:
    root = tmp_path / "store"
    layout = cli_layout()
    expected = Expected()
    for version in range(2):
        f = write_import(tmp_path, layout, version, PER_TENANT)
        run_cli_and_kill(
            import_args(f.path, str(root)), started=(root / "txn.json").exists, delay=0.0
        )
        reopen_and_check(root, expected, f)


def test_a_damaged_journal_is_reported_not_half_applied(tmp_path: Path) -> None:
    root = tmp_path / "store"
    layout = cli_layout()
    run_import(import_args(write_import(tmp_path, layout, 0, 3).path, str(root)), FSYNC)
    f = write_import(tmp_path, layout, 1, 3)
    run = run_import(import_args(f.path, str(root)), FSYNC, pause_at=3)  # journalled, no append
    assert run.killed and (root / "txn.json").exists()
    journal = json.loads((root / "txn.json").read_text())
    journal["writes"][1]["ops"][0]["rec"]["verdict"] = "maybe"
    (root / "txn.json").write_text(json.dumps(journal))
    logs = {p: p.read_bytes() for p in root.glob("tenants/*/log.jsonl")}
    store = LocalStore(root)
    assert store.health().ok is False
    with pytest.raises(StoreCorruptError, match=r"txn\.json"):
        store.count("acme")
    assert {p: p.read_bytes() for p in root.glob("tenants/*/log.jsonl")} == logs


def test_open_does_not_wait_for_a_live_writers_journal(tmp_path: Path) -> None:
    root = tmp_path / "store"
    layout = cli_layout()
    f = write_import(tmp_path, layout, 0, 2)
    with LocalStore(root) as store:
        store.bind(layout)
    insights = [Insight.model_validate_json(line) for line in f.path.read_text().splitlines()]
    journal = {
        "format": "echosafe-guard/local-write",
        "writes": [
            {
                "tenant": t,
                "ops": [{"op": "put", "rec": encode_record(i)} for i in insights if i.tenant == t],
            }
            for t in TENANTS
        ],
    }
    (root / "txn.json").write_text(json.dumps(journal))
    writer = FileLock(str(root / "lock"))
    with writer:  # a live writer in the middle of its write
        t0 = time.monotonic()
        with LocalStore(root) as store:
            assert store.layout() == layout and store.count("acme") == 0
        assert time.monotonic() - t0 < 5 and (root / "txn.json").exists()
    with LocalStore(root) as store:  # the writer is gone: its journal is rolled forward
        assert store.count("acme") == store.count("globex") == 2 + 4  # new + shared
    assert not (root / "txn.json").exists()
