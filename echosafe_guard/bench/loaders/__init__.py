"""Benchmark loaders: external benchmarks read into paired-bench items.

:func:`load_bench` is the entry point; :data:`LOADERS` lists the formats, one loader class per
module (``xstest_loader.XSTestLoader``, ...), each following the
:class:`~echosafe_guard.bench.loaders.base.BenchLoader` Protocol.
"""

from __future__ import annotations

from echosafe_guard.bench.loaders.base import BenchLoader, LoadedBench, SkippedRow
from echosafe_guard.bench.loaders.jsonl_loader import JsonlLoader
from echosafe_guard.bench.loaders.mmsafetybench_loader import MMSafetyBenchLoader
from echosafe_guard.bench.loaders.mmsafetybench_pp_loader import MMSafetyBenchPPLoader
from echosafe_guard.bench.loaders.mossbench_loader import MOSSBenchLoader
from echosafe_guard.bench.loaders.mssbench_loader import MSSBenchLoader
from echosafe_guard.bench.loaders.registry import LOADERS, get_loader, load_bench
from echosafe_guard.bench.loaders.siuo_loader import SIUOLoader
from echosafe_guard.bench.loaders.vlsbench_loader import VLSBenchLoader
from echosafe_guard.bench.loaders.xstest_loader import XSTestLoader

# Plain sorted() order, as tests/unit/test_public_api.py checks (ruff's isort-style order would
# put the constant LOADERS first).
__all__ = [  # noqa: RUF022
    "BenchLoader",
    "JsonlLoader",
    "LOADERS",
    "LoadedBench",
    "MMSafetyBenchLoader",
    "MMSafetyBenchPPLoader",
    "MOSSBenchLoader",
    "MSSBenchLoader",
    "SIUOLoader",
    "SkippedRow",
    "VLSBenchLoader",
    "XSTestLoader",
    "get_loader",
    "load_bench",
]
