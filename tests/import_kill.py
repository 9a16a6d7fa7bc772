"""SIGKILL an ``echosafe-guard memory import`` process at chosen moments (store kill tests).

The child runs the real CLI (``echosafe_guard.cli.app``) in its own process. To stop it at an
exact point it counts calls of one function (``os:fsync`` for a LocalStore, ``redis.connection:
Connection.send_packed_command`` for Redis: every round trip) and, at the ``k``-th call, prints
:data:`PAUSED` and sleeps until the test kills it with SIGKILL, before that call runs. A run
without a pause reports how many calls a whole import makes (``CALLS n`` on stderr).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.key.sentence_transformer_embedder import DEFAULT_TEXT_MODEL
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.settings import GuardSettings

PAUSED = "@@paused-before-call"
TENANTS = ("acme", "globex")

CHILD = r"""
import atexit, importlib, sys, time
target, pause_at = sys.argv[1], int(sys.argv[2])
module, _, path = target.partition(":")
*parents, name = path.split(".")
owner = importlib.import_module(module)
for part in parents:
    owner = getattr(owner, part)
real = getattr(owner, name)
calls = 0


def hooked(*args, **kwargs):
    global calls
    calls += 1
    if calls == pause_at:
        sys.stdout.write("@@paused-before-call\n")
        sys.stdout.flush()
        time.sleep(600)
    return real(*args, **kwargs)


setattr(owner, name, hooked)
atexit.register(lambda: sys.stderr.write(f"CALLS {calls}\n"))
from echosafe_guard.cli.app import app

app(sys.argv[3:], prog_name="echosafe-guard")
"""


def cli_env() -> dict[str, str]:
    """The child's environment: offline, no ECHOSAFE_* settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOSAFE_")}
    return env | {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def cli_layout() -> KeyLayout:
    """The key layout of ``--no-images --text-model DEFAULT_TEXT_MODEL`` (no model is loaded)."""
    settings = GuardSettings(text_model=DEFAULT_TEXT_MODEL, images=False)
    return settings.key_builder(wait_for_image_model=True).layout()


def import_args(file: Path, store: str) -> list[str]:
    return [
        "memory",
        "import",
        str(file),
        "--store",
        store,
        "--no-images",
        "--text-model",
        DEFAULT_TEXT_MODEL,
        "--json",
    ]


def vector(layout: KeyLayout, seed: list[int]) -> tuple[float, ...]:
    v = np.random.default_rng(seed).normal(size=layout.dim)
    return tuple(float(x) for x in (v / np.linalg.norm(v)).astype(np.float32))


@dataclass(frozen=True)
class ImportFile:
    """One round's export file: ``new`` ids (per tenant) and ``shared`` ids at ``version``."""

    path: Path
    version: int
    new: dict[str, frozenset[str]]
    shared: dict[str, frozenset[str]]
    first: dict[str, Insight]
    """Per tenant, the first new insight (its vector is searched for)."""


def write_import(
    directory: Path, layout: KeyLayout, version: int, per_tenant: int, shared: int = 4
) -> ImportFile:
    """An export file over :data:`TENANTS`: ``per_tenant`` new insights each, plus ``shared``
    ids per tenant that every round rewrites with guidance ``version {version}``."""
    path = directory / f"import-{version}.jsonl"
    new: dict[str, set[str]] = {t: set() for t in TENANTS}
    same: dict[str, set[str]] = {t: set() for t in TENANTS}
    first: dict[str, Insight] = {}
    with open(path, "w", encoding="utf-8") as fh:
        for t_no, tenant in enumerate(TENANTS):
            for j in range(per_tenant + shared):
                iid = f"r{version}-{j}" if j < per_tenant else f"shared-{j - per_tenant}"
                ins = Insight(
                    id=iid,
                    tenant=tenant,
                    scenario=f"Scenario {j} of round {version}",
                    verdict=Verdict.UNSAFE,
                    guidance=f"Decline politely, version {version}.",
                    category="fraud",
                    provenance=Provenance(source=ProvenanceSource.SEED, ref=f"round {version}"),
                    layout=layout.id,
                    vector=vector(layout, [version, t_no, j]),
                )
                (new if j < per_tenant else same)[tenant].add(iid)
                first.setdefault(tenant, ins)
                fh.write(json.dumps(ins.to_json_dict()) + "\n")
    return ImportFile(
        path,
        version,
        {t: frozenset(v) for t, v in new.items()},
        {t: frozenset(v) for t, v in same.items()},
        first,
    )


@dataclass(frozen=True)
class Run:
    killed: bool
    calls: int | None
    """Calls of the hooked function in a whole run (``None`` when killed)."""
    output: str


def run_import(args: list[str], target: str, pause_at: int = 0, *, timeout: float = 120.0) -> Run:
    """Run the CLI child; with ``pause_at`` k, SIGKILL it just before the k-th call of
    ``target`` (if the run gets that far; else it finishes)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, target, str(pause_at), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    paused = threading.Event()
    out: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line.decode(errors="replace"))
            if line.strip() == PAUSED.encode():
                paused.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    killed = False
    try:
        deadline = time.monotonic() + timeout
        while not paused.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
        killed = paused.is_set()
    finally:
        _reap(proc, kill=killed, timeout=timeout)
    reader.join(30)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if killed:
        assert proc.returncode == -signal.SIGKILL
        return Run(True, None, "".join(out))
    assert proc.returncode == 0, (proc.returncode, "".join(out), err[-3000:])
    calls = [int(x.split()[1]) for x in err.splitlines() if x.startswith("CALLS ")]
    assert calls, err[-3000:]
    return Run(False, calls[-1], "".join(out))


def _reap(proc: subprocess.Popen[bytes], *, kill: bool, timeout: float) -> None:
    """SIGKILL ``proc`` if ``kill``, then wait for it; a child still alive (the caller failed or
    timed out) is killed too, so no test leaves one behind."""
    try:
        if kill:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def run_cli_and_kill(
    args: list[str], started: Callable[[], bool], delay: float, *, timeout: float = 120.0
) -> bool:
    """Run the installed ``echosafe-guard`` console script; once ``started()`` is true, wait
    ``delay`` seconds and SIGKILL it. Returns whether it was killed (else it finished)."""
    exe = Path(sys.executable).with_name("echosafe-guard")
    proc = subprocess.Popen(
        [str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env()
    )
    tried = False
    try:
        deadline = time.monotonic() + timeout
        while not started() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        tried = proc.poll() is None
    finally:
        _reap(proc, kill=tried, timeout=timeout)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    # the child may exit between the poll and the kill: the SIGKILL then hits a zombie whose
    # status is already 0, so a finished run is accepted whenever a kill was tried
    assert proc.returncode in ((-signal.SIGKILL, 0) if tried else (0,)), err[-3000:]
    return proc.returncode == -signal.SIGKILL


@dataclass
class Expected:
    """What the store must hold: exactly the insights of the imports that went in."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TENANTS})
    version: int | None = None
    """The round whose ``shared`` insights the store holds (``None``: none yet)."""

    def check(self, store: InsightStore, f: ImportFile) -> bool:
        """Assert ``store`` holds all of ``f`` or none of it, in both tenants, besides exactly
        the earlier imports, and that it counts and searches them; returns whether ``f`` is in."""
        held = {t: {i.id: i for i in store.iter_insights(t)} for t in TENANTS}
        got = {t: f.new[t] & held[t].keys() for t in TENANTS}
        inside = all(got[t] == f.new[t] for t in TENANTS)
        partial = {t: len(got[t]) for t in TENANTS}
        assert inside or not any(partial.values()), f"round {f.version}: partial import {partial}"
        if inside:
            self.version = f.version
            for t in TENANTS:
                self.ids[t] |= f.new[t]
        for t in TENANTS:
            shared = f.shared[t] if self.version is not None else frozenset()
            assert set(held[t]) == self.ids[t] | shared, f"round {f.version}, tenant {t}"
            assert store.count(t) == len(held[t])  # the index holds what the keys hold
            assert {held[t][i].guidance for i in shared} <= {
                f"Decline politely, version {self.version}."
            }
            assert f.first[t].vector is not None
            query = np.asarray(f.first[t].vector, dtype=np.float32)
            hits = store.search(query, tenant=t, k=1)
            if inside:
                assert hits[0].insight.id == f.first[t].id and hits[0].score > 0.99
            else:
                assert all(h.insight.id != f.first[t].id for h in hits)
        assert store.health().ok
        return inside
