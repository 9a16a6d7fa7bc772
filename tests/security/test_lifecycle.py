"""Medium 8 and the lifecycle items: a background HNSW build is stopped and joined at close and
at exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np

from echosafe_guard.memory.local.vector_index import AnnSettings, VectorIndex

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
