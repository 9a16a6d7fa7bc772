"""``aprepare`` never blocks the event loop, also on a tenant's first request against Redis.

A tenant's first request used to fit the intent re-ranker inline (``count``, ``iter_insights``
over up to 400 insights through the sync Redis client) on the event loop. Now every per-tenant fit
(the default ``rerank: probe`` verdict model, as the intent re-ranker) is queued to a worker
thread (``retrieval/tenant_fits.py``) and the request is answered meanwhile without it.

Every callback the loop runs (a task step) is timed. On Linux the time the loop's thread spent
waiting for a CPU (``/proc/self/task/<tid>/schedstat``) is left out: it measures what the code
does on the loop, not how loaded the test machine is.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from echosafe_guard import Guard, Prepared, seed_memory
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.retrieval.probe_verdict_model import ProbeVerdictModel
from echosafe_guard.settings import open_store
from tests.conftest import FakeTextEmbedder

pytestmark = pytest.mark.integration

LIMIT_S = 0.020
UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"


def cpu_wait_clock() -> Callable[[], float]:
    """Seconds this thread has waited for a CPU so far (0 where the kernel does not say)."""
    path = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    if not path.exists():
        return lambda: 0.0
    return lambda: int(path.read_text().split()[1]) / 1e9


def watch_callbacks(monkeypatch: pytest.MonkeyPatch, slow: list[str]) -> None:
    """Record every loop callback that blocks the loop longer than ``LIMIT_S``."""
    run = asyncio.events.Handle._run
    waited = cpu_wait_clock()

    def timed(handle: asyncio.Handle) -> None:
        t0, w0 = time.perf_counter(), waited()
        try:
            run(handle)
        finally:
            blocked = time.perf_counter() - t0 - (waited() - w0)
            if blocked > LIMIT_S:
                slow.append(f"{blocked * 1000:.1f} ms in {handle!r}")

    monkeypatch.setattr(asyncio.events.Handle, "_run", timed)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_a_tenants_first_aprepare_never_blocks_the_event_loop(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"{redis_url}?prefix=loop{uuid.uuid4().hex[:10]}")
    guard = Guard(store=store, policy=load_policy(), keys=KeyBuilder(FakeTextEmbedder(), None))
    report = seed_memory(guard, "builtin", tenant="fresh")
    assert 100 <= report.insights <= 400  # few enough that the old guard fitted them inline
    guard.warmup(images=False)
    slow: list[str] = []

    async def main() -> Prepared:
        # Another tenant first: the async client and its first connection exist afterwards.
        await guard.aprepare(user("Where can I buy a train ticket?"), tenant="warm-up")
        slow.clear()
        first = await guard.aprepare(user(UNSAFE), tenant="fresh")
        await guard.aprepare(user(UNSAFE), tenant="fresh")
        return first

    watch_callbacks(monkeypatch, slow)
    first = asyncio.run(main())
    monkeypatch.undo()
    assert not slow, f"event loop blocked > {LIMIT_S * 1000:.0f} ms: {slow}"
    assert first.insights and first.decision.reason != "store_unavailable"
    vm = guard.retriever.verdicts  # the default policy's rerank: probe
    assert isinstance(vm, ProbeVerdictModel) and guard.retriever.reranker is None
    assert vm.wait_idle()
    state = vm.state("fresh")  # fitted off the loop meanwhile
    assert state is not None and state.probe is not None
    guard.close()
    store.close()
