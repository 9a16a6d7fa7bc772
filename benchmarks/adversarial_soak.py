"""The ``soak`` target of ``adversarial.py``: ``echosafe-guard serve`` under a hostile mix.

The proxy runs as the tests start it (``tests/integration/test_litellm_proxy.py``): enforce
mode, learning on, a scripted upstream (``adversarial_soak_cases.UPSTREAM``: answers, streams,
reflections), the tiny image tower and the MiniLM text key (``ECHOSAFE_TEXT_MODEL`` to change
it), a store seeded with 40 builtin items while the proxy boots. Then ``clients`` threads send
for ``seconds`` a mix of valid requests, streams (some left after the first chunk), images,
bad images (bombs by header, truncated, not images, bad base64, URLs off the allow-list),
malformed bodies (bad JSON, wrong shapes and roles, lone surrogates, 5,000-deep nesting, an
unknown model), huge bodies (megabytes of text, 5,000 turns, up to eight images at the caps)
and requests without or with a wrong key, after a short warm-up of the same mix.

Checks: every response is an answer or a typed error (a JSON ``error``: a 4xx, or a 5xx LiteLLM
gives for a body it cannot handle, counted apart as ``server_errors`` with their messages); an
untyped body, no response, or a traceback through this project's code in the proxy's log is a
failure. A connection the proxy drops is retried once on a new one (as an SDK client does) and
counted in ``connection_resets``. The proxy's processes are the same ones at the end and still
answer. The resident memory of the proxy's process group (``serve`` and its LiteLLM) after the
warm-up, half-way, at its peak and at the end: ``growth`` (end - start) and ``late_growth``
(end - half-way: a leak keeps growing once the caches have filled). Its open file descriptors
after the warm-up and at the end, the clients closed. The latency of plain requests (p50, p99)
in the first and the second half: the p99 must not drift up (``P99_DRIFT_LIMIT``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from adversarial_soak_cases import KINDS, UPSTREAM, send
from harness import REPO, TINY_CLIP, check, log
from proxy_procs import BINDIR, KEY, free_port, start_proxy, wait_ready

__all__ = ["soak"]

TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RSS_GROWTH_LIMIT_MB = 200.0
"""After the warm-up: caches, ONNX Runtime's arena and the allocator's high-water marks fill."""
RSS_LATE_GROWTH_LIMIT_MB = 32.0
"""In the second half of the soak, when what fills has filled: a leak keeps growing."""
FD_GROWTH_LIMIT = 4
P99_DRIFT_LIMIT = 1.5
"""p99 latency of plain requests in the second half of the soak / in the first half."""
OUTCOMES = ("answer", "aborted", "typed_error", "server_error", "failure")


def _group_started(pgid: int) -> set[tuple[int, int]]:
    """(pid, start time in clock ticks) of each process in group ``pgid``: a pid reused by a
    new process after a crash does not pass for the old one."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                found.add((int(stat.parent.name), int(fields[19])))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _changes(pgid: int, started: set[tuple[int, int]]) -> tuple[list[int], list[str]]:
    """The processes of the start that are gone or replaced (a crash), and the command lines of
    processes that joined the group since: a short-lived child of theirs (a library's own
    subprocess) is listed, not counted as a crash. Read while the proxy still runs."""
    now = _group_started(pgid)
    lost = sorted(pid for pid, _ in started - now)
    return lost, [_cmdline(pid) for pid, _ in sorted(now - started)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += int(next(x for x in fh if x.startswith("VmRSS:")).split()[1])
        except (OSError, StopIteration):
            continue
    return total / 1024


def _fds(pids: list[int]) -> int:
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return n


def _setup(tmp: Path) -> dict[str, str]:
    (tmp / "soak_upstream.py").write_text(UPSTREAM)
    clip = tmp / "echosafe-soak-tiny512.json"
    clip.write_text(json.dumps(TINY_CLIP))
    policy = yaml.safe_load(
        resources.files("echosafe_guard.policies").joinpath("default.yaml").read_text("utf-8")
    )
    policy["mode"] = "enforce"
    policy["reflection"]["model"] = "soakup/reflector"
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    config = {
        "model_list": [{"model_name": "default", "litellm_params": {"model": "soakup/answer"}}],
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "soakup", "custom_handler": "soak_upstream.handler"}
            ]
        },
    }
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    pairs = resources.files("echosafe_guard.data").joinpath("builtin_pairs.jsonl")
    (tmp / "seed.jsonl").write_text("\n".join(pairs.read_text("utf-8").splitlines()[:40]) + "\n")
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "ECHOSAFE_CACHE_DIR")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ECHOSAFE_STORE": str(tmp / "store"),
        "ECHOSAFE_POLICY": str(tmp / "policy.yaml"),
        "ECHOSAFE_TEXT_MODEL": os.environ.get("ECHOSAFE_TEXT_MODEL", TEXT_MODEL),
        "ECHOSAFE_IMAGE_MODEL": clip.stem,
        "ECHOSAFE_IMAGE_MODEL_CONFIG": str(clip),
        "ECHOSAFE_IMAGE_PRETRAINED": "none",
        "PYTHONPATH": str(tmp),
        "LITELLM_MASTER_KEY": KEY,
    }


class _Load:
    """``clients`` threads sending the mix until a deadline; outcomes counted per kind. A
    request whose connection drops is sent once more on a new one (what an SDK client does);
    the drop is counted with the kind of request the connection carried before."""

    def __init__(self, url: str, seed: str) -> None:
        self.url, self.seed = url, seed
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.statuses: Counter[int] = Counter()
        self.resets: Counter[str] = Counter()
        self.server_errors: Counter[str] = Counter()
        self.examples: list[str] = []
        self.latencies: list[tuple[float, float]] = []  # (sent at, seconds): plain requests
        self.lock = threading.Lock()

    def _client(self, n: int, deadline: float) -> None:
        rng = random.Random(f"{self.seed}/{n}")
        names, weights = list(KINDS), [w for w, _ in KINDS.values()]
        client, prev = httpx.Client(base_url=self.url, timeout=60), "none"
        try:
            while time.monotonic() < deadline:
                kind = rng.choices(names, weights)[0]
                req = KINDS[kind][1](rng)
                t = time.monotonic()
                outcome, status, detail = send(client, req, KEY)
                if kind == "valid" and outcome in ("answer", "typed_error"):
                    with self.lock:
                        self.latencies.append((t, time.monotonic() - t))
                if outcome == "reset":
                    with self.lock:
                        self.resets[f"after {prev}"] += 1
                    client.close()
                    client = httpx.Client(base_url=self.url, timeout=60)
                    outcome, status, detail = send(client, req, KEY)
                    outcome = "failure" if outcome == "reset" else outcome
                with self.lock:
                    self.outcomes[(kind, outcome)] += 1
                    self.statuses[status] += 1
                    if outcome == "server_error":
                        self.server_errors[f"{kind}: {detail[:160]}"] += 1
                    if outcome == "failure" and len(self.examples) < 5:
                        self.examples.append(f"{kind} (after {prev}): HTTP {status}: {detail}")
                prev = kind
        finally:
            client.close()

    def run(self, seconds: float, clients: int) -> None:
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self._client, args=(n, deadline), daemon=True)
            for n in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)

    def halves(self) -> dict[str, Any]:
        """p50 and p99 (ms) of plain requests in each half of the run, and the p99 drift."""
        if not self.latencies:
            return {}
        start = min(t for t, _ in self.latencies)
        mid = start + (max(t for t, _ in self.latencies) - start) / 2
        out: dict[str, Any] = {}
        for name, part in (("first", [d for t, d in self.latencies if t < mid]),
                           ("second", [d for t, d in self.latencies if t >= mid])):  # fmt: skip
            ms = np.asarray(part or [0.0]) * 1000
            p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
            out[f"{name}_half"] = {"n": len(part), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
        first, second = out["first_half"]["p99_ms"], out["second_half"]["p99_ms"]
        out["p99_drift"] = check(second / first if first else 0.0, P99_DRIFT_LIMIT, digits=3)
        return out

    def count(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.outcomes.items() if o == outcome)


def _our_tracebacks(log_text: str) -> list[str]:
    """The last line of each traceback in the proxy's log that passes through this project's
    code (the guard, the guardrail): a crash of ours, whatever the response said."""
    ours = (str(REPO / "echosafe_guard"), str(REPO / "integrations"))
    found, block = [], list[str]()
    for line in [*log_text.splitlines(), ""]:
        if line.startswith("Traceback"):
            block = [line]
        elif block and (line.startswith((" ", "During handling", "The above")) or not line):
            block.append(line)
        elif block:
            if any(o in b for b in block for o in ours):
                found.append(line[:300])
            block = []
    return found


def _alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/liveliness", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def soak(tmp: Path, seconds: float, clients: int = 4) -> dict[str, Any]:
    """The target's row: requests as its cases, failures, and the memory and descriptor checks."""
    warmup_s = min(3.0, seconds / 2)
    t0 = time.perf_counter()
    env = _setup(tmp)
    port = free_port()
    cmd = [str(BINDIR / "echosafe-guard"), "serve", "--config", "cfg.yaml"]
    url = f"http://127.0.0.1:{port}"
    proxy = start_proxy("soak", [*cmd, "--port", str(port), "--json"], tmp, env, url)
    seeding = subprocess.run(  # while the proxy boots (the store is shared between processes)
        [str(BINDIR / "echosafe-guard"), "memory", "seed", "seed.jsonl", "--json"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    try:
        wait_ready([proxy])
        boot_s = round(time.perf_counter() - t0, 1)
        if seeding.returncode != 0:
            raise RuntimeError(f"seeding failed: {seeding.stdout[-500:]} {seeding.stderr[-1500:]}")
        warm = _Load(proxy.url, "soak/warmup")
        warm.run(warmup_s, clients)
        time.sleep(1.0)
        started = _group_started(proxy.proc.pid)
        pids = sorted(pid for pid, _ in started)
        rss0, fd0 = _rss_mb(pids), _fds(pids)
        load, peak, stop = _Load(proxy.url, "soak"), [rss0], threading.Event()

        def sample() -> None:  # every half second: the peak, and the value half-way
            while not stop.wait(0.5):
                peak.append(_rss_mb(pids))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load.run(seconds, clients)
        stop.set()
        sampler.join()
        time.sleep(2.0)  # the clients are closed: let the proxy drop their connections
        answers = _alive(proxy.url)
        lost, extra = _changes(proxy.proc.pid, started)
        alive = answers and not lost
        rss1, fd1 = _rss_mb(pids), _fds(pids)
    finally:
        t_stop = time.perf_counter()
        proxy.stop()
        log(f"soak: proxy stopped in {time.perf_counter() - t_stop:.1f} s")
    crashes = _our_tracebacks(proxy.logpath.read_text("utf-8", "replace"))
    failures = warm.count("failure") + load.count("failure") + (not alive) + len(crashes)
    requests = sum(load.outcomes.values())
    log(
        f"soak: {requests} requests in {seconds:.0f}s from {clients} clients, {failures} "
        f"failures; RSS {rss0:.0f} -> peak {max(peak):.0f} -> {rss1:.0f} MB; fds {fd0} -> {fd1}"
    )
    growth = check(rss1 - rss0, RSS_GROWTH_LIMIT_MB, digits=1)
    late = check(rss1 - peak[len(peak) // 2], RSS_LATE_GROWTH_LIMIT_MB, digits=1)
    fd_growth = check(fd1 - fd0, FD_GROWTH_LIMIT)
    latency = load.halves()
    drift_ok = bool(latency.get("p99_drift", {}).get("pass", False))
    rss = {
        "start": round(rss0, 1),
        "half_way": round(peak[len(peak) // 2], 1),
        "peak": round(max(peak), 1),
        "end": round(rss1, 1),
        "growth": growth,
        "late_growth": late,
    }
    return {
        "cases": requests + sum(warm.outcomes.values()),
        "failures": failures,
        "examples": (
            warm.examples
            + load.examples
            + crashes
            + ([] if answers else ["the proxy did not answer /health/liveliness in 10 s"])
            + [f"process gone or replaced: {pid}" for pid in lost]
        )[:5],
        "seconds": round(time.perf_counter() - t0, 2),
        "soak_s": seconds,
        "clients": clients,
        "boot_s": boot_s,
        "requests_per_s": round(requests / seconds, 1),
        "outcomes": {o: load.count(o) for o in OUTCOMES},
        "tracebacks_through_our_code": len(crashes),
        "connection_resets": dict(load.resets),
        "server_errors": dict(load.server_errors.most_common()),
        "by_kind": {
            k: {o: n for (kk, o), n in sorted(load.outcomes.items()) if kk == k} for k in KINDS
        },
        "http_status": {str(s): n for s, n in sorted(load.statuses.items())},
        "proxy_alive_same_pids": alive,
        "proxy_answers": answers,
        "processes_lost": len(lost),
        "processes_extra": extra,
        "rss_mb": rss,
        "fds": {"start": fd0, "end": fd1, "growth": fd_growth},
        "latency": latency,
        "bounded": growth["pass"] and late["pass"] and fd_growth["pass"] and drift_ok,
    }


if __name__ == "__main__":  # a quick look: adversarial_soak.py [SECONDS]
    import sys

    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    if len(sys.argv) > 2:  # a folder to keep (the proxy's log)
        print(json.dumps(soak(Path(sys.argv[2]), secs), indent=2))
    else:
        with tempfile.TemporaryDirectory(prefix="echosafe-soak-") as d:
            print(json.dumps(soak(Path(d), secs), indent=2))
