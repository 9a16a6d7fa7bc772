"""Medium 8 and the lifecycle items: a background HNSW build is stopped and joined at close and
at exit; reflection has its own deadline; close() drains or reports; hostile JSON is counted."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from echosafe_guard.guard import Guard
from echosafe_guard.learning.exchange import Exchange, InsightDraft
from echosafe_guard.learning.learner import Learner
from echosafe_guard.memory.local.vector_index import AnnSettings, VectorIndex
from tests.scripted_llm import ScriptedLLM, register
from tests.security.helpers import UNSAFE, draft, learn, make_guard

DIM = 64


def _index(n: int) -> VectorIndex:
    idx = VectorIndex(DIM, AnnSettings(ann_threshold=1000, threads=1))
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    idx.add(vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    return idx


def test_close_stops_and_joins_a_background_build() -> None:
    idx = _index(40_000)
    idx.search(np.ones(DIM, np.float32), 5)  # past the threshold: the build starts
    t0 = time.monotonic()
    assert idx.close(timeout=30)
    assert time.monotonic() - t0 < 10  # stopped between two chunks, not run to the end
    assert not [t for t in threading.enumerate() if t.name == "echosafe-ann-build"]
    rows, _ = idx.search(np.ones(DIM, np.float32), 5)  # exact search still serves
    assert len(rows) == 5


def test_exiting_while_a_build_runs_is_clean() -> None:
    """`screen` on a tenant of >= 4,096 insights aborted at exit (rc 134, 5 of 5 runs)."""
    code = """
import numpy as np
from echosafe_guard.memory.local.vector_index import AnnSettings, VectorIndex
idx = VectorIndex(64, AnnSettings(ann_threshold=1000))
v = np.random.default_rng(0).standard_normal((60000, 64)).astype(np.float32)
idx.add(v / np.linalg.norm(v, axis=1, keepdims=True))
idx.search(v[0], 5)
print("building", idx._building)
"""
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "building True" in out.stdout
    assert "terminate called" not in out.stderr
    assert time.monotonic() - t0 < 60


class _SlowReflector:
    """A custom reflector that ignores any timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def reflect(self, exchange: Exchange) -> InsightDraft:
        time.sleep(self.seconds)
        return InsightDraft.model_validate_json(draft())

    async def areflect(self, exchange: Exchange) -> InsightDraft:
        return self.reflect(exchange)


def _learner(tmp_path: Path, seconds: float, **reflection: Any) -> tuple[Learner, Guard]:
    guard = make_guard(tmp_path)
    base = guard.policy
    pol = base.model_copy(
        update={"reflection": base.reflection.model_copy(update={"backoff_s": 0.0, **reflection})}
    )
    return Learner(pol, guard.bound_store(), _SlowReflector(seconds)), guard


def _exchange(guard: Guard, n: int) -> Exchange:
    prep = guard.prepare([{"role": "user", "content": f"{UNSAFE} {n}"}])
    assert prep.context is not None
    return Exchange.of(
        tenant="default",
        context=prep.context,
        key=prep.key,
        layout=prep.layout,
        request_hash=prep.request_hash,
        response="no",
        user=f"u{n}",
        session=None,
        model="m",
    )


def test_the_reflection_deadline_holds_for_a_provider_that_ignores_it(tmp_path: Path) -> None:
    learner, guard = _learner(tmp_path, 4.0, timeout_s=0.2, max_attempts=1)
    t0 = time.monotonic()
    assert learner.submit(_exchange(guard, 0))
    assert learner.drain(10)
    assert time.monotonic() - t0 < 3.0
    assert learner.counters["failed_model"] == 1
    learner.close(0.1)
    guard.close()


def test_close_drains_or_reports_what_it_left(tmp_path: Path) -> None:
    learner, guard = _learner(tmp_path, 0.3)
    for n in range(5):
        assert learner.submit(_exchange(guard, n))
    assert not learner.close(timeout=0.1)
    assert learner.counters["unprocessed_at_close"] >= 4
    learner2, _ = _learner(tmp_path / "b", 0.05)
    for n in range(4):
        learner2.submit(_exchange(guard, n))
    assert learner2.close()  # no timeout: everything accepted is processed
    assert learner2.counters["new"] + learner2.counters["merged"] == 4
    guard.close()


def test_deeply_nested_reflection_json_is_repaired_or_counted(tmp_path: Path) -> None:
    llm: ScriptedLLM = register()
    deep = '{"a": ' * 200_000 + "1" + "}" * 200_000
    llm.script.extend([deep, deep])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE, user="a")
    guard.close()
    assert len(llm.calls) == 2  # one repair turn
    assert guard.learner.counters["dropped_invalid"] == 1
    assert guard.learner.counters["failed"] == 0


def test_tenant_tables_are_evicted_least_recently_used_first(tmp_path: Path) -> None:
    """100k tenants kept +426 MB of tables: the tables are now an LRU (files stay on disk)."""
    from echosafe_guard.memory.insight import Insight
    from echosafe_guard.memory.local.local_store import LocalStore
    from tests.security.helpers import TINY_LAYOUT, tiny_record

    store = LocalStore(tmp_path / "s", max_tenants_in_memory=3)
    store.bind(TINY_LAYOUT)

    def one(tenant: str) -> Insight:
        return tiny_record(0, tenant=tenant).model_copy(update={"id": "i1"})

    for n in range(10):
        store.upsert([one(f"t{n}")])
        assert store.tenants_in_memory <= 3
    for n in range(10):  # evicted tenants load again from their files
        assert store.get(f"t{n}", "i1") is not None
        assert store.count(f"t{n}") == 1
    assert store.tenants_in_memory <= 3
    store.close()


def test_a_write_interrupted_mid_batch_keeps_all_of_it_or_none(tmp_path: Path) -> None:
    """Imports were not atomic: a kill mid-import left partial tenants."""
    from echosafe_guard.memory.insight import Insight, ProvenanceSource
    from echosafe_guard.memory.local.local_store import LocalStore
    from tests.security.helpers import TINY_LAYOUT, tiny_record

    layout = TINY_LAYOUT

    def rec(n: int) -> Insight:
        return tiny_record(n, ProvenanceSource.IMPORT)

    store = LocalStore(tmp_path / "s")
    store.bind(layout)
    store.upsert([rec(0)])
    (log,) = list((tmp_path / "s").rglob("log.jsonl"))
    before = log.stat().st_size
    store.upsert([rec(n) for n in range(1, 51)])  # one import of 50 into one tenant
    store.close()
    after = log.stat().st_size
    with open(log, "r+b") as fh:  # a kill -9 in the middle of that write
        fh.truncate(before + (after - before) * 2 // 3)
    again = LocalStore(tmp_path / "s")
    assert again.count("acme") == 1  # the whole import or nothing, never a part
    again.upsert([rec(99)])  # the torn tail is cut off before the next write
    assert again.count("acme") == 2
    again.close()
