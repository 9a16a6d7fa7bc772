"""Crash safety of ``LocalStore``: torn and corrupted logs, SIGKILLed writers, compaction.

The store's files (see ``echosafe_guard/memory/local/local_store.py``)::

    store.json, lock, tenants/<name>-<hash>/{tenant.json, snapshot.jsonl, log.jsonl}
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import echosafe_guard.memory.local.tenant_log as tenant_log_mod
from echosafe_guard.exceptions import StoreCorruptError
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.memory.local.local_store import LocalStore

DIM = 8
LAYOUT = KeyLayout(text_model="fake", text_dim=DIM, image_model="none", image_dim=0)
TENANT = "acme"


def unit_vec(seed: int | list[int]) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_insight(iid: str, vector: npt.ArrayLike, *, guidance: str = "Refuse.") -> Insight:
    return Insight(
        id=iid,
        tenant=TENANT,
        scenario=f"scenario of {iid}",
        verdict=Verdict.UNSAFE,
        guidance=guidance,
        category="weapons",
        provenance=Provenance(source=ProvenanceSource.SEED),
        layout=LAYOUT.id,
        vector=tuple(float(x) for x in np.asarray(vector, dtype=np.float32)),
    )


def vec_of(ins: Insight) -> npt.NDArray[np.float32]:
    assert ins.vector is not None
    return np.asarray(ins.vector, dtype=np.float32)


def tenant_dir(root: Path) -> Path:
    dirs = list((root / "tenants").glob("*/"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def log_path(root: Path) -> Path:
    return tenant_dir(root) / "log.jsonl"


def live_records(store: LocalStore) -> dict[str, Insight]:
    return {i.id: i for i in store.iter_insights(TENANT, with_vector=True)}


def assert_log_is_clean(path: Path) -> None:
    """Every line of the log is a complete JSON operation ending in a newline."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    for line in data.splitlines():
        op = json.loads(line)
        assert op["op"] in {"put", "del", "batch"}
        if op["op"] == "batch":  # a write of several: all of it or none after a crash
            assert op["ops"] and all(o["op"] in {"put", "del"} for o in op["ops"])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def seeded(root: Path) -> dict[str, Insight]:
    """Five insights written one upsert at a time, store closed again."""
    with LocalStore(root) as store:
        store.bind(LAYOUT)
        written = {f"ok{n}": make_insight(f"ok{n}", unit_vec(n)) for n in range(5)}
        for ins in written.values():
            store.upsert([ins])
    return written


# -- (a) a torn last line --------------------------------------------------------------------

TORN_TAILS: dict[str, bytes] = {
    "half-a-record": b'{"op":"put","rec":{"id":"torn","tenant":"acme","scen',
    # a complete record whose newline never made it: the write was not acknowledged
    "no-newline": json.dumps(
        {"op": "put", "rec": tenant_log_mod.encode_record(make_insight("torn", unit_vec(99)))},
        separators=(",", ":"),
    ).encode(),
    "binary-garbage": b"\x00\xff\xfe{garbage",
}


@pytest.mark.parametrize("tail", list(TORN_TAILS))
def test_torn_last_line_is_dropped_and_cut_off(
    root: Path, seeded: dict[str, Insight], tail: str
) -> None:
    log = log_path(root)
    clean_size = log.stat().st_size
    with open(log, "ab") as fh:
        fh.write(TORN_TAILS[tail])

    store = LocalStore(root)
    assert store.health().ok is True
    got = live_records(store)
    assert set(got) == set(seeded)
    for iid, ins in seeded.items():
        assert got[iid] == ins
    assert store.get(TENANT, "torn") is None

    new = make_insight("after", unit_vec(7))
    store.upsert([new])
    # the torn bytes were cut off before appending, not left in the middle of the log
    assert_log_is_clean(log)
    assert log.read_bytes().count(b"\n") == len(seeded) + 1
    assert log.stat().st_size > clean_size
    store.close()

    with LocalStore(root) as again:
        got = live_records(again)
        assert set(got) == {*seeded, "after"}
        assert got["after"] == new
        hits = again.search(unit_vec(7), tenant=TENANT, k=1)
        assert [h.insight.id for h in hits] == ["after"]


def test_torn_tail_seen_by_an_already_open_store(root: Path, seeded: dict[str, Insight]) -> None:
    store = LocalStore(root)
    assert len(live_records(store)) == 5  # loaded before the crash
    with open(log_path(root), "ab") as fh:
        fh.write(TORN_TAILS["half-a-record"])
    assert set(live_records(store)) == set(seeded)
    store.upsert([make_insight("after", unit_vec(8))])
    assert_log_is_clean(log_path(root))
    store.close()
    with LocalStore(root) as again:
        assert set(live_records(again)) == {*seeded, "after"}


# -- (b) corruption in the middle --------------------------------------------------------------


def _put_line(n: int, **changes: str) -> bytes:
    """A ``put`` line for a fresh insight, with fields of the stored record replaced."""
    rec = tenant_log_mod.encode_record(make_insight(f"bad{n}", unit_vec(n)))
    rec.update(changes)
    return json.dumps({"op": "put", "rec": rec}).encode()


CORRUPT_LINES: dict[str, bytes] = {
    "half-json": b'{"op":"put","rec":{"id":"x"',
    "not-json": b"this is not json",
    "unknown-op": b'{"op":"frobnicate","id":"ok1"}',
    "json-list": b"[1, 2, 3]",
    "json-null": b"null",
    "missing-rec": b'{"op":"put"}',
    "invalid-record": _put_line(1, verdict="maybe"),
    "bad-base64": _put_line(2, v="!!not base64!!"),
    "short-vector": _put_line(
        3, v=base64.b64encode(np.ones(DIM - 3, dtype="<f4").tobytes()).decode()
    ),
    "non-utf8": b"\xff\xfe\xfd",
}


@pytest.mark.parametrize("corruption", list(CORRUPT_LINES))
def test_corrupt_line_in_the_middle_raises_naming_the_file(
    root: Path, seeded: dict[str, Insight], corruption: str
) -> None:
    log = log_path(root)
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 5
    lines[2] = CORRUPT_LINES[corruption] + b"\n"
    log.write_bytes(b"".join(lines))

    store = LocalStore(root)
    with pytest.raises(StoreCorruptError) as excinfo:
        store.get(TENANT, "ok0")
    assert str(log) in str(excinfo.value)
    with pytest.raises(StoreCorruptError, match=r"log\.jsonl"):
        store.search(unit_vec(0), tenant=TENANT, k=3)
    health = store.health()
    assert health.ok is False
    assert str(log) in health.detail


def test_corrupt_last_complete_line_is_not_mistaken_for_a_torn_tail(
    root: Path, seeded: dict[str, Insight]
) -> None:
    """A last line that *has* its newline was fully written: garbage there is corruption."""
    log = log_path(root)
    with open(log, "ab") as fh:
        fh.write(b"garbage\n")
    with pytest.raises(StoreCorruptError, match=r"log\.jsonl"):
        LocalStore(root).get(TENANT, "ok0")


def test_corrupt_snapshot_raises_naming_the_file(root: Path) -> None:
    with LocalStore(root, compact_min_lines=3) as store:
        store.bind(LAYOUT)
        for n in range(3):
            store.upsert([make_insight(f"s{n}", unit_vec(n))])
    snap = tenant_dir(root) / "snapshot.jsonl"
    assert snap.read_bytes().count(b"\n") == 3
    # the snapshot is replaced atomically, so even a torn last line there is corruption
    snap.write_bytes(snap.read_bytes()[:-20])
    with pytest.raises(StoreCorruptError) as excinfo:
        LocalStore(root).get(TENANT, "s0")
    assert str(snap) in str(excinfo.value)


def test_record_with_a_multiple_of_dim_floats_is_corruption(
    root: Path, seeded: dict[str, Insight]
) -> None:
    log = log_path(root)
    lines = log.read_bytes().splitlines(keepends=True)
    op = json.loads(lines[2])
    op["rec"]["v"] = base64.b64encode(np.ones(2 * DIM, dtype="<f4").tobytes()).decode()
    lines[2] = json.dumps(op).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    store = LocalStore(root)
    with pytest.raises(StoreCorruptError):
        store.search(unit_vec(0), tenant=TENANT, k=5)


@pytest.mark.parametrize("content", ["[]", "null", '"text"'])
def test_store_json_not_an_object_is_corruption(root: Path, content: str) -> None:
    root.mkdir(parents=True)
    (root / "store.json").write_text(content)
    store = LocalStore(root)
    assert store.health().ok is False
    with pytest.raises(StoreCorruptError, match=r"store\.json"):
        store.layout()


def test_store_json_not_json_is_corruption(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "store.json").write_text("{not json")
    store = LocalStore(root)
    with pytest.raises(StoreCorruptError, match=r"store\.json"):
        store.layout()
    assert LocalStore(root).health().ok is False


def test_tenant_json_not_an_object_is_corruption(root: Path, seeded: dict[str, Insight]) -> None:
    (tenant_dir(root) / "tenant.json").write_text("[]")
    store = LocalStore(root)
    assert store.health().ok is False
    with pytest.raises(StoreCorruptError, match=r"tenant\.json"):
        store.tenants()


# -- (c) SIGKILL of a writing process ------------------------------------------------------------

CHILD = r"""
import sys
import numpy as np
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.memory.local.local_store import LocalStore

root, rnd = sys.argv[1], int(sys.argv[2])
layout = KeyLayout(text_model="fake", text_dim=8, image_model="none", image_dim=0)
store = LocalStore(root, compact_min_lines=16)  # compactions happen often: kills hit them too
store.bind(layout)


def insight(i):
    v = np.random.default_rng([rnd, i]).normal(size=8)
    v = (v / np.linalg.norm(v)).astype(np.float32)
    return Insight(
        id=f"r{rnd}-{i}", tenant="acme", scenario="x" * (1 + i % 300), verdict=Verdict.UNSAFE,
        guidance=f"guidance {i}", category="weapons",
        provenance=Provenance(source=ProvenanceSource.SEED), layout=layout.id,
        vector=tuple(float(x) for x in v),
    )


print("ready", flush=True)
for i in range(100_000):
    store.upsert([insight(i)])
    print(f"r{rnd}-{i}", flush=True)
    if i:  # rewrite the previous one unchanged: the log outgrows the table, so it compacts
        store.upsert([insight(i - 1)])
"""


def child_vector(rnd: int, i: int) -> npt.NDArray[np.float32]:
    return unit_vec([rnd, i])


def run_and_kill(root: Path, rnd: int, kill_after: int, delay: float) -> list[str]:
    """Run a writer child, SIGKILL it after ``kill_after`` acks + ``delay``; return its acks."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(rnd)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[bytes] = []
    enough = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if len(lines) > kill_after:  # "ready" + kill_after acknowledged ids
                enough.set()
        enough.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert enough.wait(timeout=30), "writer child produced no acknowledgements"
        time.sleep(delay)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        t.join(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert lines[0] == b"ready\n"
    # only complete lines are acknowledgements
    return [ln.decode().strip() for ln in lines[1:] if ln.endswith(b"\n")]


def test_sigkill_during_writes_loses_no_acknowledged_insight(root: Path) -> None:
    with LocalStore(root) as store:
        store.bind(LAYOUT)
        store.upsert([make_insight("before", unit_vec(1000))])

    rng = random.Random(1234)
    acked_all: list[str] = []
    extra: list[str] = ["before"]
    for rnd in range(5):
        acked = run_and_kill(root, rnd, kill_after=rng.randint(1, 40), delay=rng.uniform(0, 0.02))
        assert len(acked) >= 1
        acked_all += acked

        with LocalStore(root) as store:
            assert store.health().ok is True
            got = live_records(store)
            assert len(got) >= len(acked_all) + len(extra)
            for iid, ins in got.items():
                # every record read back validates and is the one that was written
                assert Insight.model_validate(ins.model_dump()) == ins
                assert ins.vector is not None
                assert len(ins.vector) == DIM
                if iid.startswith("r"):
                    r, i = (int(x) for x in iid[1:].split("-"))
                    assert ins.guidance == f"guidance {i}"
                    np.testing.assert_array_equal(vec_of(ins), child_vector(r, i))
            missing = [i for i in [*acked_all, *extra] if i not in got]
            assert missing == []
            # nothing beyond what the child attempted: at most one unacknowledged write
            assert len(got) <= len(acked_all) + len(extra) + rnd + 1

            # the store still takes writes after the crash
            new = make_insight(f"after-{rnd}", unit_vec(2000 + rnd))
            store.upsert([new])
            extra.append(new.id)
            hits = store.search(unit_vec(2000 + rnd), tenant=TENANT, k=1)
            assert [h.insight.id for h in hits] == [new.id]

        with LocalStore(root) as again:  # and the write is readable after a reopen
            got = live_records(again)
            assert got[f"after-{rnd}"] == new
            assert_log_is_clean(log_path(root))


# -- (d) compaction ------------------------------------------------------------------------------


def test_compaction_keeps_exactly_the_live_set(root: Path) -> None:
    store = LocalStore(root, compact_min_lines=10)
    store.bind(LAYOUT)
    written = {f"c{n:02d}": make_insight(f"c{n:02d}", unit_vec(n)) for n in range(50)}
    for ins in written.values():
        store.upsert([ins])
        log = log_path(root)
        n_lines = log.read_bytes().count(b"\n")
        # after every write the log is either just compacted or below the threshold
        assert n_lines < max(10, len(live_records(store)))
    gone = [f"c{n:02d}" for n in range(0, 50, 3)]
    for iid in gone[:8]:
        assert store.delete(TENANT, [iid]) == 1
    assert store.delete(TENANT, gone[8:]) == len(gone) - 8
    live = {k: v for k, v in written.items() if k not in gone}
    assert len(live) == 50 - 17

    snap = tenant_dir(root) / "snapshot.jsonl"
    assert snap.exists()
    n_log = log.read_bytes().count(b"\n")
    assert n_log < max(10, len(live))
    assert n_log < 50 + len(gone) - 20  # far fewer lines than operations
    assert_log_is_clean(log)
    assert live_records(store) == live
    store.close()

    with LocalStore(root) as again:
        assert live_records(again) == live
        for iid in gone:
            assert again.get(TENANT, iid) is None
        for iid, ins in list(live.items())[:5]:
            hits = again.search(vec_of(ins), tenant=TENANT, k=1)
            assert [h.insight.id for h in hits] == [iid]


@pytest.fixture
def capture_old_logs(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records the log's bytes each time a snapshot is about to be installed by a compaction."""
    captured: list[bytes] = []
    real = tenant_log_mod.atomic_write

    def spy(path: Path, data: bytes) -> None:
        if path.name == "snapshot.jsonl":
            captured.append((path.parent / "log.jsonl").read_bytes())
        real(path, data)

    monkeypatch.setattr(tenant_log_mod, "atomic_write", spy)
    return captured


def test_crash_between_snapshot_and_log_truncation(
    root: Path, capture_old_logs: list[bytes]
) -> None:
    store = LocalStore(root, compact_min_lines=10)
    store.bind(LAYOUT)
    for n in range(7):
        store.upsert([make_insight(f"k{n}", unit_vec(n))])
    store.upsert([make_insight("k1", unit_vec(100), guidance="replaced")])  # 8 lines
    store.delete(TENANT, ["k2"])  # 9 lines
    assert capture_old_logs == []
    store.delete(TENANT, ["k3"])  # 10 lines >= max(10, 5): compaction
    assert len(capture_old_logs) == 1
    old_log = capture_old_logs[0]
    assert old_log.count(b"\n") == 10
    expected = live_records(store)
    assert set(expected) == {"k0", "k1", "k4", "k5", "k6"}
    store.close()
    log = log_path(root)
    assert log.read_bytes() == b""

    # the crash: the snapshot was replaced, the log never truncated
    log.write_bytes(old_log)
    with LocalStore(root) as again:
        assert live_records(again) == expected
        got = again.get(TENANT, "k1", with_vector=True)
        assert got is not None
        assert got.guidance == "replaced"
        np.testing.assert_array_equal(vec_of(got), unit_vec(100))
        # and the store goes on from there
        again.upsert([make_insight("k7", unit_vec(7))])
        again.delete(TENANT, ["k0"])
    expected = {k: v for k, v in expected.items() if k != "k0"}
    expected["k7"] = make_insight("k7", unit_vec(7))
    with LocalStore(root) as third:
        got_all = live_records(third)
        assert set(got_all) == set(expected)
        assert got_all["k7"].without_vector().guidance == "Refuse."
        np.testing.assert_array_equal(vec_of(got_all["k7"]), unit_vec(7))


def test_reader_between_compaction_steps_of_another_writer(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = LocalStore(root, compact_min_lines=10)
    writer.bind(LAYOUT)
    reader = LocalStore(root)
    real = tenant_log_mod.atomic_write

    def reader_looks_mid_compaction(path: Path, data: bytes) -> None:
        real(path, data)
        if path.name == "snapshot.jsonl":
            reader.get(TENANT, "w0")  # new snapshot, not yet truncated log

    monkeypatch.setattr(tenant_log_mod, "atomic_write", reader_looks_mid_compaction)
    for n in range(10):  # the 10th write compacts
        writer.upsert([make_insight(f"w{n}", unit_vec(n))])
    monkeypatch.setattr(tenant_log_mod, "atomic_write", real)
    for n in range(10, 20):  # longer records: the new log outgrows the old one
        writer.upsert([make_insight(f"w{n}", unit_vec(n), guidance="long guidance " * 40)])

    assert set(live_records(reader)) == {f"w{n}" for n in range(20)}
