"""benchmarks/discrimination.py's embedding cache: rows are saved padded to the widest model and
must stack with newly embedded vectors when only some texts of a call are cached."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.bench_modules import load_benchmark


@pytest.fixture
def disc(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        # the module sets these when unset: keep them as they were after the test
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    return load_benchmark(monkeypatch, "discrimination")


class _Fixed:
    """Stands in for an encoder: a constant vector of the model's width per text."""

    def __init__(self, dim: int, value: float) -> None:
        self.dim, self.value, self.calls = dim, value, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        return np.full((len(texts), self.dim), self.value, np.float32)


def test_a_partly_cached_call_stacks_cached_and_new_vectors(
    disc: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "emb.npz"
    first = disc.Encoders(["minilm", "mpnet"], cache)
    first.models = {"minilm": _Fixed(384, 1.0), "mpnet": _Fixed(disc.DIMS["mpnet"], 2.0)}
    first.embed("minilm", ["a"])
    first.embed("mpnet", ["a"])
    first.save()  # the minilm row is saved padded to mpnet's width

    again = disc.Encoders(["minilm", "mpnet"], cache)
    fresh = _Fixed(384, 3.0)
    again.models = {"minilm": fresh, "mpnet": _Fixed(disc.DIMS["mpnet"], 4.0)}
    got = again.load_cached("minilm", ["a", "b"])
    assert got.shape == (2, 384) and fresh.calls == 1  # "a" came from the cache
    assert np.all(got[0] == 1.0) and np.all(got[1] == 3.0)
    assert again.load_cached("mpnet", ["a"]).shape == (1, disc.DIMS["mpnet"])
