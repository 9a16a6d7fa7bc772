"""The ``kill9`` target of ``adversarial.py``: SIGKILL during every write path of the LocalStore.

For each write path (``adversarial_kill_paths.py``) a forked child writes in a loop and reports
on a pipe, one atomic line each (``PIPE_BUF``): ``R`` when ready, ``I {op}`` before each write
and ``A {info}`` after it. The parent waits for a few acknowledgements, sleeps a random fraction
of the time one write takes, and SIGKILLs the child, so kills land at random moments inside the
writes (the fsync, a compaction, a rotation). Then it reopens the files and checks them: the
store opens and every insight validates, ids are unique, searches return exactly the live set,
and the state is the acknowledged writes plus the one in flight applied whole or not at all
(``inflight_applied`` / ``inflight_dropped``). It also counts the logs the kill left with a torn
last line (``torn_tails``: the next writer must cut it off) and the temporary files it left.

The children are forked from this process (no interpreter start per kill), so it must hold no
other thread when the target runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from adversarial_kill_base import Op, Out, WritePath
from adversarial_kill_paths import PATHS
from harness import log

__all__ = ["kill9"]

_READY_TIMEOUT_S = 60.0
_MAX_DELAY_S = 2.0


class _Pipe:
    """The child's lines, read without a thread (``select`` with a deadline)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def line(self, deadline: float) -> tuple[str, Any] | None:
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                self.eof = not chunk
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        tag, _, body = raw.decode("utf-8", "replace").partition(" ")
        return tag, (body if tag == "E" else json.loads(body or "{}"))


class _Transcript:
    """What the child said: acknowledged ops, the intent in flight, an error."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.intent: dict[str, Any] | None = None
        self.error = ""

    def take(self, got: tuple[str, Any]) -> None:
        tag, body = got
        if tag == "I":
            if self.intent is not None:
                self.error = "an intent without its acknowledgement before the next one"
            self.intent = body
        elif tag == "A" and self.intent is not None:
            self.ops.append(Op(self.intent, body))
            self.intent = None
        elif tag == "E":
            self.error = str(body)


def _child(path: WritePath, root: Path, rnd: int, fd: int) -> None:
    """The forked child: quiet, writes until it is killed; never returns."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)  # the CLI commands print; this process's stdout is the JSON report
        os.dup2(null, 2)
        path.child(root, rnd, Out(fd))
        Out(fd).error("the writer's loop ended before the kill")
    except BaseException as exc:  # reported to the parent, which counts it as a failure
        with contextlib.suppress(Exception):
            Out(fd).error(f"{type(exc).__name__}: {exc}")
    os._exit(1)


def _round(path: WritePath, root: Path, rnd: int, rng: random.Random) -> tuple[list[Op], str]:
    """One child, killed at a random moment; its ops (the last maybe unacknowledged)."""
    if threading.active_count() != 1:
        raise RuntimeError("kill9 forks its writers: no other thread may run")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(path, root, rnd, w)
    os.close(w)
    pipe, said = _Pipe(r), _Transcript()
    early = ""
    try:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        got = pipe.line(deadline)
        if got is None or got[0] != "R":
            early = f"the writer never got ready: {got}"
        t_ready, want = time.monotonic(), rng.randint(1, 4)
        while not early and len(said.ops) < want and not said.error:
            got = pipe.line(deadline)
            if got is None:
                early = said.error or "no acknowledgement from the writer"
            else:
                said.take(got)
        if not early:
            per_op = (time.monotonic() - t_ready) / max(1, len(said.ops))
            time.sleep(min(_MAX_DELAY_S, rng.uniform(0, 1.5 * per_op)))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        while (got := pipe.line(time.monotonic() + 5)) is not None:
            said.take(got)
        os.close(r)
    ops = said.ops + ([Op(said.intent, None)] if said.intent is not None else [])
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    error = early or said.error or ("" if killed else f"the writer ended by itself ({status})")
    return ops, error


def _torn_and_tmp(root: Path) -> tuple[int, int]:
    """Files whose last line has no newline (what the kill tore), and temporary files left."""
    torn = 0
    for p in [*root.glob("tenants/*/log.jsonl"), *root.glob("audit/*.jsonl*")]:
        with contextlib.suppress(OSError), open(p, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size:
                fh.seek(size - 1)
                torn += fh.read(1) != b"\n"
    return torn, sum(1 for _ in root.rglob(".*.tmp"))


def _run_path(path: WritePath, root: Path, kills: int) -> dict[str, Any]:
    rng = random.Random(f"kill9/{path.name}")
    t0 = time.perf_counter()
    root.mkdir(parents=True)
    path.setup(root)
    row: dict[str, Any] = {
        "kills": 0, "failures": 0, "ops_acked": 0, "inflight_applied": 0,
        "inflight_dropped": 0, "killed_between_writes": 0, "torn_tails": 0, "examples": [],
    }  # fmt: skip

    def fail(msg: str) -> None:
        row["failures"] += 1
        if len(row["examples"]) < 5:
            row["examples"].append(msg[:400])

    for rnd in range(kills):
        path.before_round(root)
        ops, error = _round(path, root, rnd, rng)
        row["kills"] += 1
        row["ops_acked"] += sum(op.ack is not None for op in ops)
        torn, _ = _torn_and_tmp(root)
        row["torn_tails"] += torn
        if error:
            fail(f"round {rnd}: {error}")
        try:
            outcome, problems = path.verify(root, ops)
        except Exception as exc:  # an exception while checking is a finding too
            outcome, problems = "failed", [f"{type(exc).__name__}: {exc}"]
        for p in problems:
            fail(f"round {rnd}: {p}")
        if outcome in ("inflight_applied", "inflight_dropped", "killed_between_writes"):
            row[outcome] += 1
    for p in path.finish(root):
        fail(f"after the last kill: {p}")
    row["tmp_files_left"] = _torn_and_tmp(root)[1]
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def kill9(tmp: Path, kills: int, only: list[str] | None = None) -> dict[str, Any]:
    """``kills`` SIGKILLs per write path; a target row like the others, with one row per path."""
    t0 = time.perf_counter()
    paths: dict[str, Any] = {}
    for path in PATHS:
        if only and path.name not in only:
            continue
        paths[path.name] = row = _run_path(path, tmp / path.name, kills)
        log(
            f"kill9 {path.name}: {row['kills']} kills, {row['failures']} failures, "
            f"{row['ops_acked']} writes acknowledged, in flight applied/dropped "
            f"{row['inflight_applied']}/{row['inflight_dropped']}, torn {row['torn_tails']}, "
            f"{row['seconds']}s"
        )
    examples = [f"{n}: {e}" for n, r in paths.items() for e in r["examples"]][:5]
    return {
        "cases": sum(r["kills"] for r in paths.values()),
        "failures": sum(r["failures"] for r in paths.values()),
        "examples": examples,
        "seconds": round(time.perf_counter() - t0, 2),
        "kills_per_path": kills,
        "paths": paths,
    }


if __name__ == "__main__":  # a quick look at one path: adversarial_kill.py PATH [KILLS]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="echosafe-kill9-") as d:
        names = [a for a in sys.argv[1:2] if a != "all"] or None
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
        print(json.dumps(kill9(Path(d), n, names), indent=2))
