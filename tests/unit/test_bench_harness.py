"""Tests of benchmarks/harness.py, the shared part of every benchmark script (the scripts
themselves are smoke-run by tests/integration/test_benchmarks_smoke.py)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "harness.py"


@pytest.fixture
def harness() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_harness_under_test", HARNESS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod


def test_check_puts_the_figure_next_to_its_limit(harness: ModuleType) -> None:
    assert harness.check(1.5, 2.0) == {
        "value": 1.5,
        "limit": 2.0,
        "ratio_to_limit": 0.75,
        "pass": True,
    }
    assert harness.check(2.5, 2.0)["pass"] is False
    low = harness.check(0.97, 0.98, higher_is_better=True, binding=False)
    assert low["pass"] is False and low["binding"] is False
    assert harness.check(0.99, 0.98, higher_is_better=True)["pass"] is True


def test_summary_and_percentiles(harness: ModuleType) -> None:
    xs = [float(x) for x in range(1, 101)]
    got = harness.summary(xs)
    assert got["n"] == 100 and got["min"] == 1.0 and got["max"] == 100.0
    assert got["p50"] == pytest.approx(float(np.percentile(xs, 50)))
    assert got["p99"] == pytest.approx(float(np.percentile(xs, 99)), abs=1e-4)
    assert harness.summary([])["n"] == 0 and harness.summary([])["p50"] is None
    assert harness.pct([], 50) is None
    assert harness.median([3.0, 1.0, 2.0]) == 2.0
    assert harness.rel(110.0, 100.0) == pytest.approx(0.1)


def test_timed_ms_times_each_call(harness: ModuleType) -> None:
    calls: list[int] = []
    ms = harness.timed_ms(lambda: calls.append(1), repeats=5)
    assert len(ms) == 5 and len(calls) == 5 and all(m >= 0 for m in ms)


def test_boot_ci_brackets_the_difference_of_medians(harness: ModuleType) -> None:
    rng = np.random.default_rng(0)
    a = list(rng.normal(10, 1, 200))
    b = list(rng.normal(7, 1, 200))
    lo, hi = harness.boot_ci(a, b, np.random.default_rng(1), reps=500)
    assert lo < 3.0 < hi


def test_shared_arguments_and_json_report(
    harness: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ap = harness.parser("A benchmark.\n\nMore text.", quick="smoke")
    ap.add_argument("--n", type=int, default=3)
    out = tmp_path / "r.json"
    args = harness.parse(ap, ["--quick", "--json", "--out", str(out), "--n", "4"])
    assert args.quick and args.json and args.n == 4
    harness.log("progress")  # silenced by --json
    harness.emit({"figure": harness.check(1.0, 2.0)}, args.out)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out) == json.loads(out.read_text())
    args = harness.parse(ap, [])
    assert not args.quick and args.out is None
    harness.log("progress")
    assert "progress" in capsys.readouterr().err
    no_quick = harness.parser(None, quick=None)
    with pytest.raises(SystemExit):
        no_quick.parse_args(["--quick"])


def test_no_benchmark_file_is_over_about_400_lines() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in HARNESS.parent.glob("*.py")}
    assert "harness.py" in sizes and len(sizes) >= 8
    assert {name: n for name, n in sizes.items() if n > 420} == {}
