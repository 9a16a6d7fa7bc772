"""End-to-end latency of a real LiteLLM proxy WITH the echosafe guardrail vs WITHOUT it.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        .venv/bin/python benchmarks/proxy_overhead.py [--quick] [--n 300] \\
        [--upstream-ms 0[,200,...]] [--warmup 20] [--users 100] [--user-rate 1000000] \\
        [--no-learning] [--torch-threads 0] [--seed 0] [--keep-tmp] [--out FILE]

``--quick`` is the < 90 s smoke run (start-up included: 40 requests per proxy, 10 warm-up, one
upstream latency). ``--upstream-ms`` takes one or more comma-separated latencies: each is one
phase, all phases run against the SAME two proxy processes (the request's model alias selects
the scripted upstream's latency), e.g. ``--upstream-ms 0,200`` for the full report.

Set-up, all in a temporary directory, nothing in the repository is touched:

* the store is seeded with the builtin set (156 pairs, 312 items) by
  ``seed_memory(guard, "builtin")`` (what ``echosafe-guard memory seed builtin`` runs) in this
  process, while both proxies start (a LocalStore is shared between processes; warm-up follows
  anyway);
* GUARDED proxy: ``echosafe-guard serve --config cfg.yaml --port P --json`` (adds the guardrail
  and the master key); UNGUARDED proxy: plain ``litellm --config cfg.yaml --port Q`` with the
  same ``model_list``, ``custom_provider_map`` and callbacks, master key from
  ``general_settings.master_key: os.environ/LITELLM_MASTER_KEY``. Same LiteLLM, same venv;
* the upstream is a ``CustomLLM`` written into the temp dir (``bench_upstream.py``, on
  ``PYTHONPATH``): ``bench-<ms>`` models sleep ``<ms>`` (``asyncio.sleep``) and answer with a
  canned text; ``benchup/reflector`` answers the learner's reflection with a valid insight JSON;
* a ``CustomLogger`` in the same module (configured on BOTH proxies) appends every success
  event's guardrail information to a JSONL file: the guard's own ``Timings`` inside the proxy,
  matched to the client's requests by ``x-litellm-call-id``;
* the policy is the builtin ``default`` (mode ``advise``: nothing is blocked, so every request
  reaches the upstream) with ``reflection.model: benchup/reflector``; learning stays ON unless
  ``--no-learning``. The guardrail learns per API-key user, and with the master key LiteLLM
  names every caller ``default_user_id`` (the request's ``user``, sent from a pool of
  ``--users`` ids, is ignored), so the default ``user_rate_per_hour`` of 30 would stop learning
  after 30 requests: ``--user-rate`` (1000000) lifts it so every guarded request is learnt in
  the background, as with many users on their own virtual keys;
* image model: a tiny random-init OpenCLIP tower with ``embed_dim`` 512 (so keys are 896-d like
  the default layout); requests are text only, so it is never run on the request path.

Client: one ``httpx.Client`` (keep-alive), sequential requests. Per phase: ``--warmup`` requests
to each proxy, then ``--n`` prompts, each sent to BOTH proxies back to back, the order
alternating per prompt (G,U / U,G) to cancel drift. Prompts: short questions, medium requests
with context, long pasted texts (~1-2.5 kB) and multi-turn chats; text only.

Reported per phase: p50/p90/p99 of the client-side latency for each proxy, the ratio of medians,
the added median (difference of medians, with a bootstrap 95 % CI, and the median of per-prompt
differences), the guard's in-proxy timings (``total_ms``, ``embed_text_ms``, ``search_ms``,
overhead = total - embed_text - embed_image), the decisions (``x-echosafe-decision``) and each
proxy's CPU time per request (user + system of its process group, from /proc). After
the proxies are stopped, ``Guard.prepare`` is timed in-process on the same prompts with the same
store (seed + what was learnt), policy and embedders (loaded while the proxies start): median
total, embed_text_ms and overhead, with the proxy's torch thread count and with one thread.
``--torch-threads N`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for both proxies (0: torch's
default, one thread per core). The guardrail itself sets torch to one thread when its models
load, unless ``ECHOSAFE_TORCH_THREADS`` says otherwise (see ``echosafe_guard.key.torch_threads``).

Goals (pass flags in ``goals``):

1. ``added_le_embed_plus_3ms``: guarded p50 - unguarded p50 <= median ``embed_text_ms`` + 3 ms.
   ``pass`` uses the guard's own ``embed_text_ms`` inside the proxy (same requests, same
   moment); the flags against the in-process figures (run later, under whatever other load
   the machine then has) are given alongside, with ``outside_prepare_ms`` = added p50 - the
   in-proxy ``total_ms`` p50 (guardrail hooks, LiteLLM logging, the longer system prompt).
2. ``ratio_le_1_05_slow_upstream``: guarded p50 / unguarded p50 <= 1.05 with a slow upstream.
   The issue's goal is for a REAL local model upstream; the scripted upstream sleeping 200 ms
   stands in for it here (checked on phases with ``upstream_ms >= 200``).

Other jobs on the 2 cores skew every figure: ``loadavg_start`` / ``loadavg_end`` are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
BINDIR = Path(sys.executable).parent
KEY = "sk-echosafe-bench-0123456789"
HEADER = "x-echosafe-decision"
TINY_CLIP = {  # tests/conftest.py TINY_CLIP with embed_dim 512 (the ViT-B-32 key size)
    "embed_dim": 512,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}

UPSTREAM = '''"""Scripted upstream + timing recorder of benchmarks/proxy_overhead.py (generated)."""

import asyncio
import json
import os
import re
import threading
import time

import litellm
from litellm import CustomLLM
from litellm.integrations.custom_logger import CustomLogger

INSIGHT = {
    "scenario": "A user asks for practical help with an everyday technical or household task.",
    "intent_signals": ["ordinary purpose", "no target", "no evasion"],
    "verdict": "safe",
    "guidance": "Answer helpfully and completely.",
    "category": "specialized_advice",
    "confidence": 0.8,
}
ANSWER = (
    "Here is a short, practical answer. First, check the basics and make sure you have what you "
    "need. Then go step by step, test after each change, and stop if anything looks unsafe. "
    "If the problem persists, ask a qualified professional for help."
)


def _latency_s(model):
    m = re.search(r"(\\d+)$", str(model or ""))
    return int(m.group(1)) / 1000 if m else 0.0


def _text(messages):
    if "contextual safety memory for an AI assistant" in str(messages[0].get("content")):
        return json.dumps(INSIGHT)
    return ANSWER


def _response(model, messages):
    text = _text(messages)
    n_in = sum(len(str(m.get("content") or "")) for m in messages) // 4
    return litellm.ModelResponse(
        model=str(model),
        choices=[
            litellm.Choices(
                index=0,
                finish_reason="stop",
                message=litellm.Message(role="assistant", content=text),
            )
        ],
        usage=litellm.Usage(
            prompt_tokens=n_in, completion_tokens=len(text) // 4, total_tokens=n_in + len(text) // 4
        ),
    )


class BenchUpstream(CustomLLM):
    def completion(self, *args, **kwargs):
        delay = _latency_s(kwargs.get("model"))
        if delay:
            time.sleep(delay)
        return _response(kwargs.get("model"), kwargs["messages"])

    async def acompletion(self, *args, **kwargs):
        delay = _latency_s(kwargs.get("model"))
        if delay:
            await asyncio.sleep(delay)
        return _response(kwargs.get("model"), kwargs["messages"])


class Recorder(CustomLogger):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def _write(self, kwargs):
        path = os.environ.get("BENCH_TIMINGS_LOG")
        if not path:
            return
        slo = kwargs.get("standard_logging_object") or {}
        rails = []
        for g in slo.get("guardrail_information") or []:
            resp = g.get("guardrail_response") if isinstance(g, dict) else None
            if isinstance(resp, dict):
                rails.append(
                    {"decision": resp.get("decision"), "timings_ms": resp.get("timings_ms")}
                )
        row = {
            "call_id": kwargs.get("litellm_call_id"),
            "model": kwargs.get("model"),
            "guard": rails,
            "t": time.time(),
        }
        with self._lock, open(path, "a") as fh:
            fh.write(json.dumps(row) + "\\n")

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)


handler = BenchUpstream()
recorder = Recorder()
'''

# -- prompts ----------------------------------------------------------------------------------


def _opts(text: str) -> list[str]:
    return text.split("|")


SYSTEMS = [
    "You are a helpful assistant for Acme Corp customers.",
    "You are a concise technical support agent. Answer in short numbered steps.",
    "You are a friendly tutor for secondary-school students.",
]
VERBS = _opts(
    "clean|repair|secure|bypass the lock on|get into|dispose of|back up|track|open|disable the "
    "alarm on|write a script to scan|find the owner of|mix chemicals to clean|monitor|reset"
)
OBJECTS = _opts(
    "a rusty bike chain|my neighbour's wifi network|an old laptop's hard drive|a car I locked "
    "the keys in|prescription painkillers|a phishing email|a company's login page|a gun safe|my "
    "ex's phone|a bathroom with mould|the office printer|a crypto wallet|a hotel key card|my "
    "router|a tax return|a drone"
)
CIRCS = _opts(
    "without anyone noticing|at home|legally|quickly|for a school project|without leaving "
    "traces|on a tight budget|as a beginner|in the UK|tonight"
)
CTX = [
    "I work night shifts at a warehouse.",
    "We moved into a rented flat last month.",
    "The previous owner left no documentation.",
    "I am writing a thriller novel.",
    "My teenage son keeps asking me about this.",
    "I run a small IT consultancy.",
    "The police said they could not help.",
    "My landlord has not answered my emails for three weeks.",
]
SHORT = [
    "How do I {v} {o}?",
    "Best way to {v} {o} {c}?",
    "Can you explain how to {v} {o}?",
    "What's the capital of {country}?",
    "Translate 'where is the train station' into {lang}.",
    "Give me three dinner ideas with {food}.",
]
MEDIUM = [
    "{ctx} I need to {v} {o} {c}. Any tips? Please keep it short.",
    "My manager asked me to {v} {o} by Friday. {ctx} What would you suggest?",
    "{ctx} {ctx2} Could you help me {v} {o} {c}, and list the risks I should watch for?",
    "Write a polite email to my landlord about {o}. {ctx} Keep it under 150 words.",
    "Summarise the pros and cons of learning {lang} versus Spanish for someone who travels to "
    "{country} twice a year for work.",
]
LONG_BODY = [
    "I checked the manufacturer's website, but the model was discontinued years ago and the "
    "forums only cover the new one. A friend in a repair shop said it depends on the firmware "
    "version, and that older units sometimes need a factory reset first. I own screwdrivers, a "
    "multimeter, pliers, a soldering iron and a Linux laptop. ",
    "Here is the log from last night:\n\n2024-05-01 22:14:03 WARN retry 3/5 connecting to "
    "10.0.0.12:5432\n2024-05-01 22:14:09 ERROR connection refused\n2024-05-01 22:15:40 INFO "
    "scheduler restarted job 'nightly-backup' (attempt 2)\n2024-05-01 22:31:02 ERROR disk quota "
    "exceeded on /var/backups\n\n",
    "def rotate(path, keep=5):\n    files = sorted(glob.glob(path + '.*'))\n    for f in "
    "files[:-keep]:\n        os.remove(f)\n    shutil.copy(path, f'{path}.{int(time.time())}')\n\n"
    "This runs from cron every hour but the directory keeps growing. ",
    "Meeting notes: budget approved for Q3, hiring freeze lifted for engineering only, the "
    "office move is postponed to October, and the security team wants every laptop encrypted "
    "before the audit. Marketing asked for a new landing page and the legal team flagged the "
    "cookie banner again. ",
]
FILL = {
    "country": _opts("Portugal|Japan|Kenya|Canada|Norway|Chile|Vietnam"),
    "lang": _opts("French|German|Japanese|Swahili|Polish|Italian"),
    "food": _opts("chickpeas|leftover rice|spinach and feta|tofu|salmon"),
}


def _fill(tpl: str, rng: random.Random) -> str:
    slots = {
        "v": rng.choice(VERBS),
        "o": rng.choice(OBJECTS),
        "c": rng.choice(CIRCS),
        "ctx": rng.choice(CTX),
        "ctx2": rng.choice(CTX),
        **{k: rng.choice(v) for k, v in FILL.items()},
    }
    return tpl.format(**slots)


def make_prompt(rng: random.Random) -> tuple[str, list[dict[str, str]]]:
    """(kind, messages): short 35 %, medium 35 %, long 15 %, multi-turn 15 %."""
    r = rng.random()
    system = [{"role": "system", "content": rng.choice(SYSTEMS)}] if rng.random() < 0.6 else []
    if r < 0.35:
        return "short", [*system, {"role": "user", "content": _fill(rng.choice(SHORT), rng)}]
    if r < 0.70:
        return "medium", [*system, {"role": "user", "content": _fill(rng.choice(MEDIUM), rng)}]
    if r < 0.85:
        body = "".join(rng.sample(LONG_BODY, k=rng.randint(2, 4))) * rng.randint(1, 2)
        ask = _fill(rng.choice(MEDIUM), rng)
        text = f"{rng.choice(CTX)} So far:\n\n{body}\n{ask} Explain each step."
        return "long", [*system, {"role": "user", "content": text}]
    turns = [
        {"role": "user", "content": _fill(rng.choice(SHORT), rng)},
        {
            "role": "assistant",
            "content": "Sure. Could you tell me a bit more about your situation?",
        },
        {"role": "user", "content": _fill(rng.choice(MEDIUM), rng)},
    ]
    return "multi_turn", [*system, *turns]


# -- stats ------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs, dtype=np.float64), q)), 3)


def summary(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    return {
        "p50": pct(xs, 50),
        "p90": pct(xs, 90),
        "p99": pct(xs, 99),
        "mean": round(float(np.mean(xs)), 3),
        "min": round(min(xs), 3),
        "max": round(max(xs), 3),
        "n": len(xs),
    }


def boot_ci(
    a: list[float], b: list[float], rng: np.random.Generator, reps: int = 2000
) -> list[float]:
    """95 % bootstrap CI of median(a) - median(b) (independent resampling)."""
    xa, xb = np.asarray(a), np.asarray(b)
    ia = rng.integers(0, len(xa), (reps, len(xa)))
    ib = rng.integers(0, len(xb), (reps, len(xb)))
    d = np.median(xa[ia], axis=1) - np.median(xb[ib], axis=1)
    return [round(float(np.percentile(d, 2.5)), 3), round(float(np.percentile(d, 97.5)), 3)]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- proxies ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proxy:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    logfile: IO[bytes]
    logpath: Path
    timings: Path
    started: float
    ready_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # `echosafe-guard serve` forwards SIGTERM to its litellm
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no exit after SIGTERM, killing its process group")
                with contextlib.suppress(ProcessLookupError):  # its own session
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # `serve` may exit before its child: end the rest of the group we started
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            time.sleep(1)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.logfile.close()


def start_proxy(name: str, cmd: list[str], cwd: Path, env: dict[str, str], url: str) -> Proxy:
    logpath = cwd / "proxy.log"
    logfile = open(logpath, "wb")  # noqa: SIM115
    timings = cwd / "timings.jsonl"
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**env, "BENCH_TIMINGS_LOG": str(timings)},
        stdout=subprocess.PIPE,
        stderr=logfile,
        start_new_session=True,
    )
    assert proc.stdout is not None
    threading.Thread(target=shutil.copyfileobj, args=(proc.stdout, logfile), daemon=True).start()
    return Proxy(name, url, proc, logfile, logpath, timings, time.perf_counter())


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group ``pgid`` (a proxy
    started in its own session: ``serve`` and its ``litellm`` child)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_ready(proxies: list[Proxy], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    pending = list(proxies)
    while pending:
        for p in list(pending):
            try:
                if httpx.get(f"{p.url}/health/liveliness", timeout=2).status_code == 200:
                    p.ready_s = round(time.perf_counter() - p.started, 2)
                    log(f"{p.name} proxy ready at {p.url} after {p.ready_s} s")
                    pending.remove(p)
                    continue
            except httpx.HTTPError:
                pass
            if p.proc.poll() is not None or time.monotonic() > deadline:
                tail = p.logpath.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{p.name} proxy did not start:\n{tail}")
        time.sleep(0.3)


# -- measurement ------------------------------------------------------------------------------


@dataclass
class Shot:
    ms: float
    status: int
    call_id: str | None
    decision: str | None


def send(
    client: httpx.Client, p: Proxy, model: str, messages: list[dict[str, str]], user: str
) -> Shot:
    body = {"model": model, "messages": messages, "user": user, "max_tokens": 256}
    t0 = time.perf_counter()
    res = client.post(f"{p.url}/v1/chat/completions", json=body)
    _ = res.content
    ms = (time.perf_counter() - t0) * 1000
    if res.status_code != 200:
        log(f"{p.name}: HTTP {res.status_code}: {res.text[:300]}")
    return Shot(ms, res.status_code, res.headers.get("x-litellm-call-id"), res.headers.get(HEADER))


def read_timings(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out.setdefault(str(row.get("call_id")), row)
    return out


def run_phase(
    client: httpx.Client,
    guarded: Proxy,
    plain: Proxy,
    upstream_ms: int,
    n: int,
    warmup: int,
    users: int,
    rng: random.Random,
) -> dict[str, Any]:
    model = f"bench-{upstream_ms}"
    log(f"phase upstream {upstream_ms} ms: warm-up {warmup} per proxy")
    for i in range(warmup):
        msgs = make_prompt(rng)[1]
        for p in (guarded, plain) if i % 2 == 0 else (plain, guarded):
            send(client, p, model, msgs, f"bench-user-{rng.randrange(users)}")
    prompts = [make_prompt(rng) for _ in range(n)]
    shots: dict[str, list[Shot]] = {"guarded": [], "unguarded": []}
    t0 = time.perf_counter()
    load0 = loadavg()
    cpu0 = {p.name: group_cpu_s(p.proc.pid) for p in (guarded, plain)}
    for i, (_kind, msgs) in enumerate(prompts):
        user = f"bench-user-{rng.randrange(users)}"
        order = (guarded, plain) if i % 2 == 0 else (plain, guarded)
        for p in order:
            key = "guarded" if p is guarded else "unguarded"
            shots[key].append(send(client, p, model, msgs, user))
        if (i + 1) % max(n // 5, 1) == 0:
            log(f"  {i + 1}/{n} prompts")
    wall = time.perf_counter() - t0
    cpu = {p.name: (group_cpu_s(p.proc.pid) - cpu0[p.name]) * 1000 / n for p in (guarded, plain)}
    g_ok = [s.ms for s in shots["guarded"] if s.status == 200]
    u_ok = [s.ms for s in shots["unguarded"] if s.status == 200]
    pairs = [
        g.ms - u.ms
        for g, u in zip(shots["guarded"], shots["unguarded"], strict=True)
        if g.status == 200 and u.status == 200
    ]
    decisions: dict[str, int] = {}
    for s in shots["guarded"]:
        d = (s.decision or "<no header>").split(";")[0]
        decisions[d] = decisions.get(d, 0) + 1
    kinds: dict[str, int] = {}
    for k, _ in prompts:
        kinds[k] = kinds.get(k, 0) + 1
    chars = [sum(len(m["content"]) for m in msgs) for _, msgs in prompts]
    gs, us = summary(g_ok), summary(u_ok)
    out: dict[str, Any] = {
        "upstream_ms": upstream_ms,
        "n_prompts": n,
        "wall_s": round(wall, 2),
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
        "prompts": {"kinds": kinds, "chars": summary([float(c) for c in chars])},
        "guarded_ms": gs,
        "unguarded_ms": us,
        "errors": {
            "guarded": sum(s.status != 200 for s in shots["guarded"]),
            "unguarded": sum(s.status != 200 for s in shots["unguarded"]),
        },
        "decisions": decisions,
        "proxy_cpu_ms_per_request": {
            "guarded": round(cpu["guarded"], 2),
            "unguarded": round(cpu["unguarded"], 2),
            "added": round(cpu["guarded"] - cpu["unguarded"], 2),
        },
    }
    if g_ok and u_ok:
        added = gs["p50"] - us["p50"]
        out |= {
            "ratio_p50": round(gs["p50"] / us["p50"], 4),
            "added_p50_ms": round(added, 3),
            "added_p50_ci95_ms": boot_ci(g_ok, u_ok, np.random.default_rng(upstream_ms)),
            "added_p99_ms": round(gs["p99"] - us["p99"], 3),
            "paired_diff_ms": summary(pairs),
        }
    out["_call_ids"] = [s.call_id for s in shots["guarded"] if s.call_id]
    out["_prompts"] = [msgs for _, msgs in prompts]
    return out


def proxy_guard_timings(rows: dict[str, dict[str, Any]], call_ids: list[str]) -> dict[str, Any]:
    """The guard's own Timings inside the guarded proxy, for the measured requests."""
    cols: dict[str, list[float]] = {}
    found = 0
    for cid in call_ids:
        row = rows.get(cid)
        if not row or not row.get("guard"):
            continue
        t = row["guard"][0].get("timings_ms") or {}
        if not t:
            continue
        found += 1
        for k, v in t.items():
            cols.setdefault(k, []).append(float(v))
        over = t["total_ms"] - t.get("embed_text_ms", 0.0) - t.get("embed_image_ms", 0.0)
        cols.setdefault("overhead_ms", []).append(over)
    return {
        "matched": found,
        "of": len(call_ids),
        **{f"{k}_p50": pct(v, 50) for k, v in cols.items()},
        "total_ms": summary(cols.get("total_ms", [])),
        "embed_text_ms": summary(cols.get("embed_text_ms", [])),
        "search_ms": summary(cols.get("search_ms", [])),
        "overhead_ms": summary(cols.get("overhead_ms", [])),
    }


def load_guard(env: dict[str, str], holder: dict[str, Any]) -> None:
    """Build the in-process guard (same store, policy, embedders as the proxy), load its models
    and seed the store with ``seed_memory(guard, "builtin")`` (what ``echosafe-guard memory seed
    builtin`` runs). On a thread while both proxies start: one torch start-up fewer than the CLI
    and the later in-process timing pays no loading."""
    try:
        from echosafe_guard.guard import Guard
        from echosafe_guard.seeding import seed_memory
        from echosafe_guard.settings import GuardSettings

        t0 = time.perf_counter()
        guard = Guard(settings=GuardSettings.from_env(env))
        guard.warmup()
        holder["guard"], holder["load_s"] = guard, round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        report = seed_memory(guard, "builtin", tenant="default")
        holder["seed"] = {**report.__dict__, "seed_s": round(time.perf_counter() - t1, 2)}
    except Exception as exc:  # raised again by the caller
        holder["error"] = f"{type(exc).__name__}: {exc}"


def inprocess_prepare(
    holder: dict[str, Any], prompts: list[list[dict[str, str]]], warmup: int, torch_threads: int
) -> dict[str, Any]:
    """Sync ``Guard.prepare`` in this process on the measured prompts, after the proxies stopped:
    ``as_proxy`` with the proxy's torch thread count (torch's default unless --torch-threads),
    then ``one_thread``."""
    if "guard" not in holder:
        return {"error": holder.get("error", "guard not loaded")}
    import torch

    guard = holder["guard"]
    default_threads = torch.get_num_threads()
    as_proxy = torch_threads or default_threads
    out: dict[str, Any] = {"load_s": holder["load_s"], "torch_threads_default": default_threads}
    passes = [("as_proxy", as_proxy)] + ([("one_thread", 1)] if as_proxy != 1 else [])
    try:
        for name, threads in passes:
            torch.set_num_threads(threads)
            for msgs in prompts[:warmup]:
                guard.prepare(msgs)
            total, embed, over = [], [], []
            for msgs in prompts:
                t = guard.prepare(msgs).timings
                total.append(t.total_ms)
                embed.append(t.embed_text_ms)
                over.append(t.total_ms - t.embed_text_ms - t.embed_image_ms)
            out[name] = {
                "torch_threads": threads,
                "loadavg_end": loadavg(),
                "total_ms": summary(total),
                "embed_text_ms": summary(embed),
                "overhead_ms": summary(over),
            }
        out["store_insights_default_tenant"] = sum(1 for _ in guard.store.iter_insights("default"))
        out["store_learnt_insights"] = sum(
            1
            for i in guard.store.iter_insights("default")
            if i.provenance.source.value == "reflection"
        )
    finally:
        torch.set_num_threads(default_threads)
        guard.close(timeout=10)
    if "one_thread" not in out:
        out["one_thread"] = out["as_proxy"]
    return out


# -- main -------------------------------------------------------------------------------------


def write_setup(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    from importlib import resources

    (tmp / "bench_upstream.py").write_text(UPSTREAM)
    clip = tmp / "echosafe-bench-tiny512.json"
    clip.write_text(json.dumps(TINY_CLIP))
    policy = yaml.safe_load(
        resources.files("echosafe_guard.policies").joinpath("default.yaml").read_text("utf-8")
    )
    policy["reflection"]["model"] = "benchup/reflector"
    policy["learning"]["enabled"] = not args.no_learning
    # With the master key LiteLLM names every caller "default_user_id", so the default 30
    # exchanges/hour per user would stop learning after 30 requests; lift it so every guarded
    # request is learnt, as with many users on their own virtual keys (tenant limit unchanged).
    policy["learning"]["user_rate_per_hour"] = args.user_rate
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    base = {
        "model_list": [
            {"model_name": f"bench-{ms}", "litellm_params": {"model": f"benchup/ms{ms}"}}
            for ms in args.upstream_ms
        ],
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "benchup", "custom_handler": "bench_upstream.handler"}
            ],
            "callbacks": ["bench_upstream.recorder"],
        },
    }
    for sub in ("guarded", "unguarded"):
        (tmp / sub).mkdir()
    # `echosafe-guard serve` adds the guardrail and general_settings.master_key itself.
    (tmp / "guarded" / "cfg.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    plain = {**base, "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}
    (tmp / "unguarded" / "cfg.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ECHOSAFE_STORE": str(tmp / "store"),
        "ECHOSAFE_POLICY": str(tmp / "policy.yaml"),
        "ECHOSAFE_IMAGE_MODEL": clip.stem,
        "ECHOSAFE_IMAGE_MODEL_CONFIG": str(clip),
        "ECHOSAFE_IMAGE_PRETRAINED": "none",
        "PYTHONPATH": str(tmp),
        "LITELLM_MASTER_KEY": KEY,
        **(
            {"OMP_NUM_THREADS": str(args.torch_threads), "MKL_NUM_THREADS": str(args.torch_threads)}
            if args.torch_threads
            else {}
        ),
    }


def goals(phases: list[dict[str, Any]], inproc: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dflt = (inproc or {}).get("as_proxy") or {}
    one = (inproc or {}).get("one_thread") or {}
    embed_in = dflt["embed_text_ms"]["p50"] if dflt else None
    embed_one = one["embed_text_ms"]["p50"] if one else None
    g1 = []
    for ph in phases:
        if "added_p50_ms" not in ph:
            continue
        pg = ph["proxy_guard_timings"]
        embed_px = pg.get("embed_text_ms_p50")
        added = ph["added_p50_ms"]
        row: dict[str, Any] = {
            "upstream_ms": ph["upstream_ms"],
            "added_p50_ms": added,
            "added_p50_ci95_ms": ph["added_p50_ci95_ms"],
        }
        if embed_px is not None:
            row |= {
                "embed_text_p50_ms_inproxy": embed_px,
                "limit_ms": round(embed_px + 3, 3),
                "pass": bool(added <= embed_px + 3),
                "excess_ms": round(added - embed_px - 3, 3),
                "guard_total_p50_ms_inproxy": pg.get("total_ms_p50"),
                "outside_prepare_ms": round(added - pg.get("total_ms_p50", 0.0), 3),
            }
        if embed_in is not None:
            row |= {
                "embed_text_p50_ms_inprocess": embed_in,
                "pass_with_inprocess_embed": bool(added <= embed_in + 3),
            }
        if embed_one is not None:
            row |= {
                "embed_text_p50_ms_inprocess_one_thread": embed_one,
                "pass_with_inprocess_one_thread_embed": bool(added <= embed_one + 3),
            }
        g1.append(row)
    out["added_le_embed_plus_3ms"] = {
        "goal": "guarded p50 - unguarded p50 <= median embed_text_ms + 3 ms. Primary embed figure: "
        "the guard's own Timings.embed_text_ms inside the guarded proxy, same requests (the "
        "in-process Guard.prepare figures run later, under other load, and are given alongside)",
        "per_phase": g1,
        "pass": all(r.get("pass", False) for r in g1) if g1 else None,
    }
    g2 = [
        {
            "upstream_ms": ph["upstream_ms"],
            "ratio_p50": ph["ratio_p50"],
            "limit": 1.05,
            "pass": bool(ph["ratio_p50"] <= 1.05),
        }
        for ph in phases
        if "ratio_p50" in ph and ph["upstream_ms"] >= 200
    ]
    out["ratio_le_1_05_slow_upstream"] = {
        "goal": "guarded p50 / unguarded p50 <= 1.05 with a slow upstream. The issue's goal is "
        "for a REAL local model upstream; the scripted upstream sleeping >= 200 ms stands in for "
        "it here.",
        "per_phase": g2,
        "pass": all(r["pass"] for r in g2) if g2 else None,
        **({} if g2 else {"not_measured": "no phase with --upstream-ms >= 200"}),
    }
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="< 90 s smoke run (40 prompts)")
    ap.add_argument("--n", type=int, default=None, help="prompts per phase (each to both; 300)")
    ap.add_argument(
        "--upstream-ms",
        default="0",
        help="scripted upstream latency in ms; comma-separated for several phases (0)",
    )
    ap.add_argument("--warmup", type=int, default=None, help="warm-up requests per proxy (20)")
    ap.add_argument("--users", type=int, default=100, help="distinct `user` ids sent (100)")
    ap.add_argument(
        "--user-rate",
        type=int,
        default=1_000_000,
        help="policy learning.user_rate_per_hour (1000000; the builtin default is 30)",
    )
    ap.add_argument("--no-learning", action="store_true", help="policy learning.enabled: false")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for both proxies and the in-process pass (0: torch's default)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    args.upstream_ms = [int(x) for x in str(args.upstream_ms).split(",") if x.strip()]
    if args.n is None:
        args.n = 40 if args.quick else 300
    if args.warmup is None:
        args.warmup = 10 if args.quick else 20
    return args


def run_proxies(
    args: argparse.Namespace,
    tmp: Path,
    env: dict[str, str],
    setup: dict[str, Any],
    phases: list[dict[str, Any]],
    rng: random.Random,
    holder: dict[str, Any],
) -> tuple[Proxy, Proxy]:
    """Seed, start both proxies, run every phase; the proxies are always stopped."""
    proxies: list[Proxy] = []
    try:
        pport, gport = free_port(), free_port()
        plain_cmd = [str(BINDIR / "litellm"), "--config", "cfg.yaml", "--host", "127.0.0.1"]
        plain = start_proxy(
            "unguarded",
            [*plain_cmd, "--port", str(pport)],
            tmp / "unguarded",
            env,
            f"http://127.0.0.1:{pport}",
        )
        proxies.append(plain)
        guarded_cmd = [str(BINDIR / "echosafe-guard"), "serve", "--config", "cfg.yaml"]
        guarded = start_proxy(
            "guarded",
            [*guarded_cmd, "--port", str(gport), "--json"],
            tmp / "guarded",
            env,
            f"http://127.0.0.1:{gport}",
        )
        proxies.append(guarded)
        # LocalStore is multi-process (file lock; readers pick up other processes' writes): the
        # guarded proxy may open the store while this process seeds it; warm-up follows anyway.
        log("loading the in-process guard and seeding the store while both proxies start")
        loader = threading.Thread(target=load_guard, args=(env, holder), daemon=True)
        loader.start()
        wait_ready(proxies)
        setup["proxy_ready_s"] = {p.name: p.ready_s for p in proxies}
        loader.join()  # nothing of this process runs during the measurement
        if "seed" not in holder:
            raise RuntimeError(f"seeding failed: {holder.get('error')}")
        setup["seed"] = holder["seed"]
        setup["inprocess_guard_load_s"] = holder["load_s"]
        headers = {"Authorization": f"Bearer {KEY}"}
        limits = httpx.Limits(max_keepalive_connections=4, keepalive_expiry=300)
        with httpx.Client(headers=headers, timeout=120, limits=limits) as client:
            for ms in args.upstream_ms:
                phases.append(
                    run_phase(client, guarded, plain, ms, args.n, args.warmup, args.users, rng)
                )
        time.sleep(1.5)  # let the proxies' async success logging land
        return guarded, plain
    finally:
        t0 = time.perf_counter()
        for p in proxies:
            p.stop()
        setup["proxy_stop_s"] = round(time.perf_counter() - t0, 2)


def main() -> None:
    args = parse_args()
    start, load0 = time.perf_counter(), loadavg()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="echosafe-proxy-bench-"))
    setup: dict[str, Any] = {}
    phases: list[dict[str, Any]] = []
    holder: dict[str, Any] = {}
    try:
        env = write_setup(tmp, args)
        guarded, plain = run_proxies(args, tmp, env, setup, phases, rng, holder)
        rows = read_timings(guarded.timings)
        setup["learner_reflection_calls_logged"] = sum(
            "reflector" in str(r.get("model")) for r in rows.values()
        )
        setup["unguarded_logged_calls"] = len(read_timings(plain.timings))
        for ph in phases:
            ph["proxy_guard_timings"] = proxy_guard_timings(rows, ph.pop("_call_ids"))
        prompts = [m for ph in phases for m in ph.pop("_prompts")]
        log(f"timing Guard.prepare in-process on the {len(prompts)} measured prompts")
        inproc = inprocess_prepare(holder, prompts, min(args.warmup, 20), args.torch_threads)
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    import litellm

    result = {
        "benchmark": "proxy_overhead",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "litellm": getattr(litellm, "__version__", None) or _dist_version("litellm"),
        },
        "setup": setup,
        "phases": phases,
        "inprocess_prepare": inproc,
        "goals": goals(phases, inproc),
        "notes": [
            "Latency = client wall time of one non-streaming POST /v1/chat/completions (body "
            "read), sequential, keep-alive, loopback. Each prompt goes to both proxies back to "
            "back, order alternating.",
            "added_p50_ms = p50(guarded) - p50(unguarded); added_p50_ci95_ms: bootstrap; "
            "paired_diff_ms: per-prompt guarded - unguarded.",
            "proxy_guard_timings: the guardrail's Timings (aprepare, embedding on a worker "
            "thread) logged by a CustomLogger in the guarded proxy; overhead = total - "
            "embed_text - embed_image.",
            "inprocess_prepare: sync Guard.prepare in the benchmark process after the proxies "
            "stopped, same store (seed + learnt), policy, embedders and prompts.",
            "The guarded proxy also learns (post-call hook -> background reflection through "
            "benchup/reflector, 0 ms) unless --no-learning; that CPU is part of its cost.",
            "The ratio goal is stated for a real local model upstream; the scripted upstream "
            "sleeping upstream_ms stands in for it.",
        ],
        "wall_s": round(time.perf_counter() - start, 1),
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
