"""benchmarks/discrimination.py's memory: ``--add`` joins bundled sets to the memory, each with
its own leave-one-set-out fold, and ``--heldout`` takes a bundled set's name."""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np
import pytest

from echosafe_guard.paired import DEFAULT_MEMORY, DEFAULT_MEMORY_SETS, read_paired_jsonl
from tests.bench_modules import load_benchmark


@pytest.fixture
def disc(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    return load_benchmark(monkeypatch, "discrimination")


def _size(name: str) -> int:
    return len(read_paired_jsonl(name)[1])


def test_added_sets_follow_the_default_memory_with_their_own_loso_fold(disc: ModuleType) -> None:
    base, base_sets = disc.memory_items(DEFAULT_MEMORY)
    items, sets = disc.memory_items(DEFAULT_MEMORY, ["heldout5", "heldout6", "heldout5"])
    assert items[: len(base)] == base  # the default memory first, unchanged
    assert len(items) == len(base) + _size("heldout5") + _size("heldout6")  # each set once
    assert list(sets) == [*base_sets, "heldout5", "heldout6"]
    assert list(base_sets) == [s for s in DEFAULT_MEMORY_SETS if s != "builtin"]
    h6 = sets["heldout6"]
    assert [items[i].id for i in h6] == [it.id for it in read_paired_jsonl("heldout6")[1]]
    folds = dict(disc.folds_loso(len(items), sets))
    (mem_idx, q_idx), *more = folds["loso:heldout6"]
    assert not more and np.array_equal(q_idx, h6)
    assert len(mem_idx) == len(items) - len(h6) and not set(mem_idx) & set(h6)


def test_builtin_memory_has_no_loso_fold_and_adds_one_per_set(disc: ModuleType) -> None:
    items, sets = disc.memory_items("builtin")
    assert len(items) == _size("builtin") and sets == {}
    items, sets = disc.memory_items("builtin", ["heldout2"])
    assert list(sets) == ["heldout2"] and len(items) == _size("builtin") + _size("heldout2")


def test_a_bundled_set_name_is_a_heldout_query_set(disc: ModuleType) -> None:
    name, items = disc.load_heldout("heldout6")
    assert name == "heldout6_twins"
    assert [it.id for it in items] == [it.id for it in read_paired_jsonl("heldout6")[1]]
