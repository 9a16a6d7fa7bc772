"""The two LiteLLM proxies of benchmarks/proxy_overhead.py as processes: start, wait until
ready, CPU time, stop (each in its own session, so the whole group is ended)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from harness import log

BINDIR = Path(sys.executable).parent
KEY = "sk-echosafe-bench-0123456789"
HEADER = "x-echosafe-decision"


# -- proxies ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proxy:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    logfile: IO[bytes]
    logpath: Path
    timings: Path
    started: float
    ready_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # `echosafe-guard serve` forwards SIGTERM to its litellm
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no exit after SIGTERM, killing its process group")
                with contextlib.suppress(ProcessLookupError):  # its own session
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # `serve` may exit before its child: end the rest of the group we started
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            time.sleep(1)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.logfile.close()


def start_proxy(name: str, cmd: list[str], cwd: Path, env: dict[str, str], url: str) -> Proxy:
    logpath = cwd / "proxy.log"
    logfile = open(logpath, "wb")  # noqa: SIM115
    timings = cwd / "timings.jsonl"
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**env, "BENCH_TIMINGS_LOG": str(timings)},
        stdout=subprocess.PIPE,
        stderr=logfile,
        start_new_session=True,
    )
    assert proc.stdout is not None
    threading.Thread(target=shutil.copyfileobj, args=(proc.stdout, logfile), daemon=True).start()
    return Proxy(name, url, proc, logfile, logpath, timings, time.perf_counter())


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group ``pgid`` (a proxy
    started in its own session: ``serve`` and its ``litellm`` child)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_ready(proxies: list[Proxy], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    pending = list(proxies)
    while pending:
        for p in list(pending):
            try:
                if httpx.get(f"{p.url}/health/liveliness", timeout=2).status_code == 200:
                    p.ready_s = round(time.perf_counter() - p.started, 2)
                    log(f"{p.name} proxy ready at {p.url} after {p.ready_s} s")
                    pending.remove(p)
                    continue
            except httpx.HTTPError:
                pass
            if p.proc.poll() is not None or time.monotonic() > deadline:
                tail = p.logpath.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{p.name} proxy did not start:\n{tail}")
        time.sleep(0.3)
