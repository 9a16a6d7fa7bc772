"""The benchmarks run (``--quick``) and print their JSON. Their figures are not asserted here:
speed and memory targets live in the benchmarks' own output, never in timed tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a benchmark script. On a timeout the script is sent SIGABRT, so that faulthandler
    (``PYTHONFAULTHANDLER``) writes every thread's stack to its stderr, and the test fails with
    that stack: a hang names where it hung."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONFAULTHANDLER": "1",
        "PYTHONPATH": str(REPO),
    }
    with subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            try:
                stdout, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
            pytest.fail(f"{args[0]} ran past {timeout:.0f} s; its stderr:\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


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


def test_a_hanging_benchmark_fails_with_its_threads_stacks(tmp_path: Path) -> None:
    script = tmp_path / "hangs.py"
    script.write_text(
        "import threading, time\n"
        "def wait_for_a_graph_that_never_comes():\n"
        "    time.sleep(600)\n"
        "threading.Thread(target=wait_for_a_graph_that_never_comes, daemon=True).start()\n"
        "time.sleep(600)\n"
    )
    with pytest.raises(pytest.fail.Exception) as failed:
        _run([str(script)], tmp_path, timeout=3)
    assert "ran past 3 s" in failed.value.msg
    assert "wait_for_a_graph_that_never_comes" in failed.value.msg
