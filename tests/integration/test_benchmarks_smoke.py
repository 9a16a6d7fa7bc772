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


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


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
    out = _run([str(REPO / "benchmarks" / script), "--quick"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert isinstance(result, dict) and keys <= set(result)


def test_adversarial_kills_and_soak(tmp_path: Path) -> None:
    """Two SIGKILLs during each write path of the store and the audit log, and a 4 s soak of
    ``serve`` (about 50 s, most of it the proxy's start). Crash safety and typed answers are
    correctness, so their failures are asserted; the memory figures are the benchmark's."""
    script = str(REPO / "benchmarks" / "adversarial.py")
    args = ["--only", "kill9,soak", "--kills", "2", "--soak-seconds", "4", "--json"]
    out = _run([script, *args], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    kill9, soak = result["targets"]["kill9"], result["targets"]["soak"]
    assert kill9["cases"] == 2 * len(kill9["paths"]) >= 18
    assert kill9["failures"] == 0, kill9["examples"]
    assert soak["cases"] > 0
    assert soak["proxy_alive_same_pids"], soak["examples"]
    assert soak["failures"] == 0, soak["examples"]
