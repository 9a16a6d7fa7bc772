"""The audit log: crash safety (kill -9 mid-write), rotation, and ``echosafe-guard audit``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from echosafe_guard.cli.app import app
from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.observability import AuditLog, FileAuditSink, observe
from echosafe_guard.observability.audit_query import insight_report, stats_report
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.seeding import seed_memory
from tests.conftest import FakeTextEmbedder

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import sys
from echosafe_guard.observability.file_audit_sink import FileAuditSink
sink = FileAuditSink(sys.argv[1], max_bytes=1 << 40)
i = 0
print("ready", flush=True)
while True:
    pad = "x" * (50_000 + (i * 7919) % 400_000)
    sink.write([('{"type":"test","seq":%d,"pad":"%s"}\\n' % (i, pad)).encode()])
    i += 1
"""


def test_kill_9_mid_write_leaves_no_torn_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 30
    while (not path.exists() or path.stat().st_size < 5_000_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sink = FileAuditSink(path)
    seqs = [r["seq"] for r in sink.records()]
    assert len(seqs) >= 5 and seqs == list(range(len(seqs)))  # every complete record, in order
    # whatever was torn stays unreadable, and the next writer starts on a fresh line
    sink.write([b'{"type":"test","seq":-1}\n'])
    sink.close()
    again = [r["seq"] for r in FileAuditSink(path).records()]
    assert again == [*seqs, -1]


def test_a_torn_tail_is_skipped_and_never_glued_to_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = FileAuditSink(path)
    sink.write([b'{"seq":0}\n', b'{"seq":1}\n'])
    sink.close()
    with path.open("ab") as f:
        f.write(b'{"seq":2,"pad":"tor')  # a writer killed mid-line
    assert [r["seq"] for r in FileAuditSink(path).records()] == [0, 1]
    sink = FileAuditSink(path)
    sink.write([b'{"seq":3}\n'])
    sink.close()
    assert [r["seq"] for r in FileAuditSink(path).records()] == [0, 1, 3]


def test_rotation_keeps_backups_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a" / "audit.jsonl"
    sink = FileAuditSink(path, max_bytes=4096, backups=3, fsync=False)
    for i in range(400):
        sink.write([json.dumps({"seq": i, "pad": "y" * 60}).encode() + b"\n"])
    sink.close()
    files = sink.files()
    assert [p.name for p in files] == [
        "audit.jsonl.3",
        "audit.jsonl.2",
        "audit.jsonl.1",
        "audit.jsonl",
    ]
    assert all(p.stat().st_size <= 4096 for p in files)
    seqs = [r["seq"] for r in sink.records()]
    assert seqs == list(range(seqs[0], 400)) and len(seqs) > 100


def test_a_full_queue_drops_and_counts_never_blocks(tmp_path: Path) -> None:
    class Slow:
        def write(self, lines: Any) -> None:
            time.sleep(0.2)

        def close(self) -> None:
            return None

    pol = load_policy().observability.audit.model_copy(update={"queue_size": 2})
    log = AuditLog([Slow()], pol)
    t0 = time.perf_counter()
    got = [log.submit({"seq": i}) for i in range(50)]
    assert time.perf_counter() - t0 < 0.1
    assert not all(got) and log.dropped == got.count(False)
    log.close()


def seeded_run(tmp_path: Path) -> tuple[Path, list[Any]]:
    """A seeded memory and 60 requests from the bundled bench; the audit log of that run."""
    guard = Guard(
        store=LocalStore(tmp_path / "store"),
        policy=load_policy(),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )
    seed_memory(guard, "builtin")
    guard.warmup(images=False, tenants=["default"])
    obs = observe(guard, registry=CollectorRegistry())
    assert obs is not None
    rows = (REPO / "echosafe_guard/data/builtin_pairs.jsonl").read_text("utf-8").splitlines()
    preps = []
    for row in rows[::5][:60]:
        text = json.loads(row)["text"] + " Please be specific."  # not a verbatim seed
        preps.append(guard.prepare([{"role": "user", "content": text}]))
    guard.close()
    obs.close()
    return tmp_path / "store" / "audit" / "audit.jsonl", preps


def test_audit_insight_finds_every_request_it_shaped(tmp_path: Path) -> None:
    log, preps = seeded_run(tmp_path)
    assert log.exists()
    shaped: dict[str, list[str]] = defaultdict(list)
    for p in preps:
        for h in p.insights:
            shaped[h.insight.id].append(p.request_hash)
    assert len(shaped) > 10
    records = list(FileAuditSink(log).records())
    for insight_id, hashes in shaped.items():
        got = insight_report(records, insight_id)["requests"]
        assert [r["request_hash"] for r in got] == hashes
    busiest = max(shaped, key=lambda i: len(shaped[i]))
    res = CliRunner().invoke(app, ["audit", "insight", busiest, "--log", str(log), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["request_hash"] for r in out["requests"]] == shaped[busiest]
    # the default log of a local store is found from --store alone
    res = CliRunner().invoke(
        app, ["audit", "insight", busiest, "--store", str(tmp_path / "store"), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["requests"]) == len(shaped[busiest])


def test_audit_request_shows_what_the_model_was_told(tmp_path: Path) -> None:
    log, preps = seeded_run(tmp_path)
    p = next(p for p in preps if p.system_prompt)
    res = CliRunner().invoke(
        app, ["audit", "request", p.request_hash[:20], "--log", str(log), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (d,) = out["decisions"]
    assert out["request_hash"] == p.request_hash
    assert d["system_prompt"] == p.system_prompt and d["decision"] == p.decision.action.value
    assert [i["id"] for i in d["insights"]] == [h.insight.id for h in p.insights]
    assert d["policy"] == {"id": "default", "version": 1} and d["layout"] == p.layout
    assert "text" not in d  # raw text only when the policy says so
    res = CliRunner().invoke(app, ["audit", "stats", "--since", "1h", "--log", str(log), "--json"])
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["decisions"] == len(preps)
    assert sum(stats["by_action"].values()) == len(preps)
    assert stats["latency_ms"]["p50"] > 0
    res = CliRunner().invoke(app, ["audit", "stats", "--since", "1h", "--log", str(log)])
    assert res.exit_code == 0 and "decisions" in res.stdout
    bad = CliRunner().invoke(
        app, ["audit", "stats", "--since", "soon", "--log", str(log), "--json"]
    )
    assert bad.exit_code == 2 and json.loads(bad.stdout)["type"] == "InputError"


def test_stats_window_excludes_older_records() -> None:
    now = time.time()
    recs = [
        {"type": "decision", "time": now - 7200, "decision": "caution", "applied": True},
        {"type": "decision", "time": now - 60, "decision": "allow", "applied": True,
         "timings_ms": {"total_ms": 3.0}, "tenant": "t", "reason": "uncertain", "category": "none"},
        {"type": "learning", "time": now - 30, "event": "dropped", "reason": "rate_user"},
    ]  # fmt: skip
    s = stats_report(recs, since_s=3600, now=now)
    assert s["decisions"] == 1 and s["intervened"] == 0 and s["dropped"] == {"rate_user": 1}
