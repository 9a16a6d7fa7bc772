"""The audit log shared by several processes (``serve``, ``memory review``, ``memory prune`` all
write ``<store>/audit/audit.jsonl``): a writer killed mid-write, or a rotation by another
process, never costs the records a surviving writer appends afterwards.

Found by the ``kill9`` target of ``benchmarks/adversarial.py`` (a writer that lives through the
kills): the sink checked for a torn tail only when it first opened the file, and kept writing
into a file another process had rotated away (into a deleted file once the backups moved on).
"""

from __future__ import annotations

import json
from pathlib import Path

from echosafe_guard.observability import FileAuditSink


def rec(seq: int, pad: int = 0) -> bytes:
    return json.dumps({"seq": seq, "pad": "x" * pad}).encode() + b"\n"


def seqs(path: Path, backups: int = 5) -> list[int]:
    return [r["seq"] for r in FileAuditSink(path, backups=backups).records()]


def test_a_torn_tail_left_by_another_writer_is_not_glued_to_the_survivors_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    survivor = FileAuditSink(path)
    survivor.write([rec(0)])  # its descriptor stays open
    with path.open("ab") as other:  # another process, killed in the middle of a record
        other.write(b'{"seq": 1, "pad": "xx')
    assert seqs(path) == [0]
    survivor.write([rec(2)])
    survivor.close()
    assert seqs(path) == [0, 2]


def test_a_file_rotated_away_by_another_writer_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    survivor = FileAuditSink(path, max_bytes=1024, backups=1, fsync=False)
    survivor.write([rec(0)])  # its descriptor stays open
    other = FileAuditSink(path, max_bytes=1024, backups=1, fsync=False)
    for seq in range(1, 13):  # rotates twice: the survivor's file is renamed, then deleted
        other.write([rec(seq, 200)])
    other.close()
    survivor.write([rec(13)])
    survivor.close()
    got = seqs(path, backups=1)
    assert got[-1] == 13 and got == sorted(got)
