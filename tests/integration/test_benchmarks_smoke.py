"""The benchmarks run (``--quick``) and print their JSON. Their figures are not asserted here:
speed and memory targets live in the benchmarks' own output, never in timed tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "keys"),
    [
        ("prepare.py", {"targets", "machine"}),
        ("embedder.py", {"forward", "concurrency"}),
        ("store_scale.py", set()),
        ("learning.py", {"throughput", "poisoning"}),
        ("proxy_overhead.py", {"goals"}),
        ("retrieval_relevance.py", {"before", "after", "methods", "end_to_end", "protocol"}),
        ("eval_walltime.py", {"wall_s_median", "speedup_8_vs_1", "ccr"}),
        ("observability.py", {"targets", "hook_us", "delta_vs_none_ms"}),
    ],
)
def test_benchmark_quick_prints_json(script: str, keys: set[str], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert isinstance(result, dict) and keys <= set(result)
