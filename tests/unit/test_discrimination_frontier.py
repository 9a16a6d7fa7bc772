"""benchmarks/discrimination_weak.py's frontier: per setting of the decision's thresholds, the
safe and unsafe twins that would get unsafe evidence, as ``retrieval/decide.py`` decides it,
and their sum over the numbered twin sets' protocols."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.bench_modules import load_benchmark


@pytest.fixture
def weak(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_benchmark(monkeypatch, "discrimination_weak")


def _row(unsafe: bool, call: int, p: float, near: float | None) -> dict[str, Any]:
    return {"unsafe": unsafe, "call": call, "p": p, "near_unsafe": near}


ROWS = [
    _row(True, 1, 0.95, 0.30),  # strong: unsafe evidence at every bc 0.9 setting
    _row(True, 1, 0.78, 0.52),  # weak, near enough at w 0.5 only; under a 0.8 floor
    _row(False, 1, 0.72, 0.58),  # weak, near at w 0.5 and 0.55, not 0.6
    _row(False, 1, 0.99, None),  # no unsafe candidate: decide.py reads it as unsure
    _row(True, 0, 0.60, 0.90),  # an unsure call is never unsafe evidence
    _row(False, -1, 0.10, 0.70),
]


def test_frontier_counts_each_setting_as_the_decision_does(weak: ModuleType) -> None:
    grid = [(0.9, 0.5, 0.0), (0.9, 0.55, 0.0), (0.9, 0.6, 0.0), (0.9, 0.5, 0.8), (0.9, None, 0.0)]
    out = weak.frontier(ROWS, grid)
    assert out == {
        "bc=0.9,w=0.5,pf=0.0": {"safe": 1, "unsafe": 2},
        "bc=0.9,w=0.55,pf=0.0": {"safe": 1, "unsafe": 1},
        "bc=0.9,w=0.6,pf=0.0": {"safe": 0, "unsafe": 1},
        "bc=0.9,w=0.5,pf=0.8": {"safe": 0, "unsafe": 1},
        "bc=0.9,w=None,pf=0.0": {"safe": 0, "unsafe": 1},
    }


def test_the_shipped_setting_agrees_with_the_weak_rule_report(weak: ModuleType) -> None:
    # ROWS include the unsafe call with no unsafe candidate: both read it as unsure
    shipped = weak.frontier(ROWS, [(0.9, 0.5, 0.0)])["bc=0.9,w=0.5,pf=0.0"]
    rep = weak.report(ROWS, 0.5, 0.9)
    n_safe = sum(not r["unsafe"] for r in ROWS)
    n_unsafe = sum(bool(r["unsafe"]) for r in ROWS)
    assert shipped["safe"] / n_safe == pytest.approx(rep["safe_unsafe_evidence"]["after"], abs=1e-4)
    assert shipped["unsafe"] / n_unsafe == pytest.approx(
        rep["unsafe_unsafe_evidence"]["after"], abs=1e-4
    )


def test_frontier_sum_adds_only_numbered_twin_sets(weak: ModuleType) -> None:
    one = weak.frontier(ROWS, [(0.9, 0.5, 0.0)])
    per_protocol = {
        "loco": {"frontier": one},
        "loso:heldout2": {"frontier": one},
        "loso:heldout3": {"frontier": one},
        "heldout:heldout12_twins": {"frontier": one},
        "heldout:heldout_twins": {"frontier": one},
        "heldout:xstest": {"frontier": one},
        "loso:heldout4": {"verdict_at_1": 0.9},  # no frontier: not summed
        "encoders": ["mpnet"],
    }
    out = weak.frontier_sum(per_protocol)
    assert out["protocols"] == ["loso:heldout2", "loso:heldout3", "heldout:heldout12_twins"]
    assert out["counts"] == {"bc=0.9,w=0.5,pf=0.0": {"safe": 3, "unsafe": 6}}
