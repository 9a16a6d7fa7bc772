"""MicroBatcher: concurrent calls share forwards, rows go back to the right caller, errors too."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.exceptions import ConfigError, EmbedderError
from echosafe_guard.key.micro_batcher import MicroBatcher
from echosafe_guard.settings import GuardSettings
from tests.conftest import FakeTextEmbedder


class SlowEmbedder(FakeTextEmbedder):
    """Records each forward's size; each forward takes ``delay`` seconds; may fail on a word."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__()
        self.delay = delay
        self.sizes: list[int] = []

    def embed(self, items: Sequence[str]) -> npt.NDArray[np.float32]:
        self.sizes.append(len(items))
        time.sleep(self.delay)
        if any("boom" in t for t in items):
            raise EmbedderError("boom")
        return super().embed(items)


def test_concurrent_calls_are_coalesced_and_rows_match() -> None:
    inner = SlowEmbedder()
    mb = MicroBatcher(inner, max_batch=8, max_wait_ms=5)
    texts = [f"request number {i} about topic {i % 3}" for i in range(24)]
    got: dict[int, npt.NDArray[np.float32]] = {}

    def call(i: int) -> None:
        got[i] = mb.embed([texts[i]])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    want = FakeTextEmbedder().embed(texts)
    for i in range(len(texts)):
        assert got[i].shape == (1, inner.dim)
        np.testing.assert_allclose(got[i][0], want[i], atol=1e-6)
    assert max(inner.sizes) > 1 and max(inner.sizes) <= 8
    assert len(inner.sizes) < len(texts) and mb.calls == len(texts)
    assert mb.model_id == inner.model_id and mb.dim == inner.dim


def test_lone_call_is_not_delayed_and_large_calls_bypass() -> None:
    inner = SlowEmbedder(delay=0.0)
    mb = MicroBatcher(inner, max_batch=4, max_wait_ms=500)
    t0 = time.perf_counter()
    mb.embed(["just one"])
    assert time.perf_counter() - t0 < 0.4  # no wait for company when not under load
    out = mb.embed([f"t{i}" for i in range(10)])
    assert out.shape == (10, inner.dim) and inner.sizes[-1] == 10
    assert mb.embed([]).shape == (0, inner.dim)


def test_an_error_reaches_its_callers_and_the_worker_lives() -> None:
    mb = MicroBatcher(SlowEmbedder(delay=0.0), max_batch=4)
    with pytest.raises(EmbedderError, match="boom"):
        mb.embed(["boom here"])
    assert mb.embed(["fine"]).shape[0] == 1


def test_async_callers_share_forwards() -> None:
    inner = SlowEmbedder()
    mb = MicroBatcher(inner, max_batch=16, max_wait_ms=5)

    async def main() -> list[npt.NDArray[np.float32]]:
        return await asyncio.gather(*(mb.aembed([f"async text {i}"]) for i in range(12)))

    rows = asyncio.run(main())
    want = FakeTextEmbedder().embed([f"async text {i}" for i in range(12)])
    np.testing.assert_allclose(np.concatenate(rows), want, atol=1e-6)
    assert len(inner.sizes) < 12


def test_settings() -> None:
    with pytest.raises(ConfigError):
        MicroBatcher(FakeTextEmbedder(), max_batch=0)
    keys = GuardSettings.from_env({"ECHOSAFE_EMBED_MAX_BATCH": "8"}).key_builder()
    assert isinstance(keys.text, MicroBatcher) and keys.text.max_batch == 8
    keys = GuardSettings.from_env({"ECHOSAFE_EMBED_MAX_BATCH": "1"}).key_builder()
    assert not isinstance(keys.text, MicroBatcher)
