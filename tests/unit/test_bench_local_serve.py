"""The arithmetic of benchmarks/local_serve.py (the script itself needs the local model and two
proxies: it is run by hand or through ``python -m benchmarks all --only local_serve``)."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import pytest

from tests.bench_modules import load_benchmark


@pytest.fixture
def local_serve(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_benchmark(monkeypatch, "local_serve")  # its own imports: harness, proxy_procs


def test_length_matched_ratio_puts_the_guarded_call_at_the_plain_length(
    local_serve: ModuleType,
) -> None:
    ratio = local_serve.length_matched_ratio
    # guarded: 300 ms to the first token, then 10 tokens in 900 ms (100 ms per token after the
    # first); at the plain answer's 20 tokens: 300 + 20 * 100 = 2300 ms, over plain's 2000 ms
    assert ratio(300.0, 1200.0, 10, 20, 2000.0) == pytest.approx(1.15)
    # same length, same speed, same TTFT as plain's 100 + 10 * 100: the ratio is 1
    assert ratio(100.0, 1000.0, 10, 10, 1100.0) == pytest.approx(1.0)
    # a one-token refusal: no per-token time after the first (max(tokens - 1, 1) = 1)
    assert ratio(500.0, 500.0, 1, 50, 1000.0) == pytest.approx(0.5)
    assert ratio(500.0, 600.0, 0, 4, 1000.0) == pytest.approx(0.9)


def test_prompts_alternate_unsafe_and_safe_across_pairs(local_serve: ModuleType) -> None:
    items = [
        SimpleNamespace(pair_id=f"p{i}", label=label, text=f"{label}-{i}")
        for i in range(6)
        for label in ("unsafe", "safe")
    ]
    got, warm = local_serve.pick_prompts(items, 4)
    assert [label for label, _ in got] == ["unsafe", "safe", "unsafe", "safe"]
    assert [text for _, text in got] == ["unsafe-0", "safe-1", "unsafe-2", "safe-3"]
    assert warm == ["unsafe-5", "safe-5"]  # the warm-up pair is never measured
