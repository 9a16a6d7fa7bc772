"""Import a script of ``benchmarks/`` by path, for the tests of its arithmetic (the folder is not
a package the tests can import from, and its scripts import their siblings by plain name)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(monkeypatch: pytest.MonkeyPatch, script: str) -> ModuleType:
    """``benchmarks/<script>.py`` as a fresh module (its siblings importable while the test runs);
    the module is dropped from ``sys.modules`` when the test ends."""
    monkeypatch.syspath_prepend(str(BENCH))
    name = f"bench_{script}_under_test"
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{script}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, mod)
    spec.loader.exec_module(mod)
    return mod
