"""The local model through ``echosafe-guard serve``: guarded ÷ unguarded latency of streamed
answers, the guard's block (prompt growth) included.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        .venv/bin/python benchmarks/local_serve.py [--quick] [--n 10] [--max-tokens 256] \\
        [--learning] [--keep-tmp] [--out FILE]

Two proxies on loopback serving ``local/qwen2.5-coder-1.5b`` (``[local]``, llama.cpp), one
copy each:
* ``plain``: ``litellm --config cfg.yaml`` with that model and NO guardrail;
* ``guarded``: ``echosafe-guard serve --config cfg.yaml`` (the guardrail on), its store seeded
  with the builtin set (``echosafe-guard memory seed builtin``), images off
  (``ECHOSAFE_IMAGES=0``), the builtin ``default`` policy with learning OFF unless
  ``--learning`` (learning reflects on every exchange with the served model, in the background,
  on the same two cores as the next measured request).

``--n`` prompts from the builtin twin pairs (unsafe and safe alternating; one more pair warms
both proxies up), each to both proxies back to back, the order alternating, never concurrently:
streamed, temperature 0, ``--max-tokens``, ``include_usage``. Per request: time to the first
token (TTFT), total time, prompt and completion tokens (usage chunk; else content chunks
counted, an upper bound, flagged in ``usage_source``), the ``x-echosafe-decision`` header.

A guarded answer may be a short refusal where the plain one runs to ``max_tokens``, so besides
the ratio of medians the **length-matched ratio** puts the guarded request at the plain answer's
length: ``(TTFT_g + tokens_plain * per_token_g) / total_plain`` with ``per_token_g = (total_g -
TTFT_g) / max(tokens_g - 1, 1)``. Target (issue): length-matched ratio ≤ 1.10 (binding at full
size); the raw ratio of medians is checked against 1.10 too, not binding. ``--quick``: n 2,
max_tokens 32, a smoke run. A shared 2-core CPU: see ``loadavg_start``/``_end``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml
from harness import check, emit, loadavg, log, median, parse, parser, pct, summary
from proxy_procs import BINDIR, HEADER, KEY, Proxy, free_port, start_proxy, wait_ready

MODEL = "local/qwen2.5-coder-1.5b"
ALIAS = "local-bench"
HANDLER = "echosafe_guard.integrations.litellm.local_provider.handler"
LIMIT = 1.10


def length_matched_ratio(
    ttft_g: float, total_g: float, tokens_g: int, tokens_plain: int, total_plain: float
) -> float:
    """The guarded latency had it produced the plain answer's ``tokens_plain`` tokens, over the
    plain latency: ``(ttft_g + tokens_plain * per_token_g) / total_plain`` with ``per_token_g =
    (total_g - ttft_g) / max(tokens_g - 1, 1)``."""
    per_token_g = (total_g - ttft_g) / max(tokens_g - 1, 1)
    return (ttft_g + tokens_plain * per_token_g) / total_plain


def pick_prompts(items: list[Any], n: int) -> tuple[list[tuple[str, str]], list[str]]:
    """``n`` (label, text) from the twin pairs, spread over them: the unsafe twin of one pair,
    the safe twin of the next chosen pair, and so on; and the last pair's two texts (warm-up)."""
    pairs: dict[str, dict[str, str]] = {}
    for it in items:
        pairs.setdefault(str(it.pair_id), {})[str(it.label)] = str(it.text)
    whole = [p for p in pairs.values() if {"safe", "unsafe"} <= set(p)]
    step = max(1, (len(whole) - 1) // max(n, 1))
    want = ("unsafe", "safe")
    picked = [(want[k % 2], whole[(k * step) % len(whole)][want[k % 2]]) for k in range(n)]
    return picked, [whole[-1]["unsafe"], whole[-1]["safe"]]


def write_setup(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    from importlib import resources

    policy = yaml.safe_load(
        resources.files("echosafe_guard.policies").joinpath("default.yaml").read_text("utf-8")
    )
    policy["learning"]["enabled"] = bool(args.learning)
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    models = [{"model_name": ALIAS, "litellm_params": {"model": MODEL}}]
    for sub in ("plain", "guarded"):
        (tmp / sub).mkdir()
    # `serve` adds the local provider's handler, the guardrail and the master key itself.
    (tmp / "guarded" / "cfg.yaml").write_text(yaml.safe_dump({"model_list": models}))
    plain = {
        "model_list": models,
        "litellm_settings": {
            "custom_provider_map": [{"provider": "local", "custom_handler": HANDLER}]
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    (tmp / "plain" / "cfg.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "ECHOSAFE_BLOCK_NONCE", "PYTHONPATH")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ECHOSAFE_STORE": str(tmp / "store"),
        "ECHOSAFE_POLICY": str(tmp / "policy.yaml"),
        "ECHOSAFE_IMAGES": "0",
        "LITELLM_MASTER_KEY": KEY,
    }


def stream_one(client: httpx.Client, proxy: Proxy, prompt: str, max_tokens: int) -> dict[str, Any]:
    """One streamed chat completion: TTFT, total, tokens, decision (ms from the request)."""
    body = {
        "model": ALIAS,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    ttft: float | None = None
    chunks, usage = 0, None
    with client.stream("POST", f"{proxy.url}/v1/chat/completions", json=body) as resp:
        decision = resp.headers.get(HEADER)
        if resp.status_code != 200:
            resp.read()
            return {"error": f"HTTP {resp.status_code}", "decision": decision}
        for line in resp.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            obj = json.loads(line[5:])
            for ch in obj.get("choices") or []:
                if (ch.get("delta") or {}).get("content"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter()
            usage = obj.get("usage") or usage
    t1 = time.perf_counter()
    row: dict[str, Any] = {
        "total_ms": round((t1 - t0) * 1000, 1),
        "ttft_ms": round(((ttft or t1) - t0) * 1000, 1),
        "chunks": chunks,
        "decision": decision,
    }
    if usage and usage.get("completion_tokens") is not None:
        row |= {"completion_tokens": int(usage["completion_tokens"]), "usage": True}
        row["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
    else:
        row |= {"completion_tokens": chunks, "prompt_tokens": None, "usage": False}
    return row


def measure(
    client: httpx.Client, plain: Proxy, guarded: Proxy, prompts: list[tuple[str, str]], mt: int
) -> list[dict[str, Any]]:
    rows = []
    for i, (label, text) in enumerate(prompts):
        order = (plain, guarded) if i % 2 == 0 else (guarded, plain)
        row: dict[str, Any] = {"i": i, "label": label, "first": order[0].name}
        for p in order:
            row[p.name] = stream_one(client, p, text, mt)
        rows.append(row)
        g, u = row["guarded"], row["plain"]
        log(
            f"{i + 1}/{len(prompts)} {label}: plain {u.get('total_ms')} ms "
            f"{u.get('completion_tokens')} tok, guarded {g.get('total_ms')} ms "
            f"{g.get('completion_tokens')} tok ({g.get('decision')})"
        )
    return rows


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r["plain"] and "error" not in r["guarded"]]
    if not ok:
        return {"n": 0}
    u, g = [r["plain"] for r in ok], [r["guarded"] for r in ok]
    pairs = list(zip(u, g, strict=True))
    matched = [
        length_matched_ratio(
            b["ttft_ms"],
            b["total_ms"],
            b["completion_tokens"],
            a["completion_tokens"],
            a["total_ms"],
        )
        for a, b in pairs
    ]
    med_u, med_g = median(x["total_ms"] for x in u), median(x["total_ms"] for x in g)
    ttft_added = [b["ttft_ms"] - a["ttft_ms"] for a, b in pairs]
    return {
        "n": len(ok),
        "ratio_of_medians": round(med_g / med_u, 4),
        "length_matched_ratio_p50": round(median(matched), 4),
        "length_matched_ratio_per_prompt": [round(x, 4) for x in matched],
        "ttft_added_p50_ms": round(median(ttft_added), 1),
    }


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("plain", "guarded"):
        ok = [r[side] for r in rows if "error" not in r[side]]
        out[side] = {
            "total_ms": summary([x["total_ms"] for x in ok], 1),
            "ttft_ms": summary([x["ttft_ms"] for x in ok], 1),
            "completion_tokens": summary([x["completion_tokens"] for x in ok], 1),
            "prompt_tokens": summary([x["prompt_tokens"] for x in ok if x["prompt_tokens"]], 1),
            "errors": sum("error" in r[side] for r in rows),
        }
    every = [r[s] for r in rows for s in ("plain", "guarded") if "error" not in r[s]]
    out["usage_source"] = (
        "usage chunk"
        if all(x["usage"] for x in every)
        else "content chunks counted where the usage chunk was missing (an upper bound)"
    )
    out["all"] = ratios(rows)
    out["safe_only"] = ratios([r for r in rows if r["label"] == "safe"])
    blocks = [
        float(r["guarded"]["prompt_tokens"] - r["plain"]["prompt_tokens"])
        for r in rows
        if r["guarded"].get("prompt_tokens") and r["plain"].get("prompt_tokens")
    ]
    out["block_tokens"] = {
        "p50": pct(blocks, 50, 1),
        "p95": pct(blocks, 95, 1),
        "max": max(blocks, default=None),
        "n": len(blocks),
    }
    out["decisions"] = dict(Counter(str(r["guarded"].get("decision")) for r in rows))
    lm, raw = out["all"].get("length_matched_ratio_p50"), out["all"].get("ratio_of_medians")
    out["targets"] = {
        "length_matched_ratio": check(lm, LIMIT, binding=not args.quick) if lm else None,
        "ratio_of_medians": check(raw, LIMIT, binding=False) if raw else None,
    }
    return out


def run(args: argparse.Namespace, tmp: Path, env: dict[str, str], setup: dict[str, Any]) -> Any:
    from echosafe_guard.bench.loaders.registry import load_bench

    prompts, warm = pick_prompts(list(load_bench("builtin").items), args.n)
    proxies: list[Proxy] = []
    try:
        pport, gport, exe = free_port(), free_port(), str(BINDIR / "echosafe-guard")
        cmd = [str(BINDIR / "litellm"), "--config", "cfg.yaml", "--host", "127.0.0.1"]
        cmd += ["--port", str(pport)]
        proxies.append(start_proxy("plain", cmd, tmp / "plain", env, f"http://127.0.0.1:{pport}"))
        log("seeding the store with the builtin set while the plain proxy starts")
        t0 = time.perf_counter()
        cmd = [exe, "memory", "seed", "builtin", "--json", "--no-images", "--store"]
        cmd += [env["ECHOSAFE_STORE"], "--policy", env["ECHOSAFE_POLICY"]]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"seeding failed: {done.stderr[-2000:]}")
        seeded = json.loads(done.stdout)
        setup["seed"] = {k: seeded.get(k) for k in ("items", "insights", "merged")}
        setup["seed_s"] = round(time.perf_counter() - t0, 1)
        cmd = [exe, "serve", "--config", "cfg.yaml", "--port", str(gport), "--json"]
        url = f"http://127.0.0.1:{gport}"
        proxies.append(start_proxy("guarded", cmd, tmp / "guarded", env, url))
        plain, guarded = proxies
        wait_ready(proxies, timeout=600)
        setup["proxy_ready_s"] = {p.name: p.ready_s for p in proxies}
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=900) as client:
            for p in proxies:  # model load, the guard's embedder, first block: not measured
                t0 = time.perf_counter()
                got = [stream_one(client, p, text, 8) for text in warm]
                setup.setdefault("warmup_s", {})[p.name] = round(time.perf_counter() - t0, 1)
                if any("error" in g for g in got):
                    raise RuntimeError(f"{p.name} warm-up failed: {got}")
            log(f"measuring {len(prompts)} prompts, max_tokens {args.max_tokens}")
            return measure(client, plain, guarded, prompts, args.max_tokens)
    finally:
        for p in proxies:
            p.stop()


def main() -> None:
    ap = parser(__doc__, quick="smoke run: 2 prompts, max_tokens 32")
    ap.add_argument("--n", type=int, default=None, help="prompts, each to both proxies (10)")
    ap.add_argument("--max-tokens", type=int, default=None, help="per answer (256)")
    ap.add_argument("--learning", action="store_true", help="keep the guard's learning on")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (proxy logs)")
    args = parse(ap)
    args.n = args.n or (2 if args.quick else 10)
    args.max_tokens = args.max_tokens or (32 if args.quick else 256)
    start, load0 = time.perf_counter(), loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="echosafe-local-serve-"))
    setup: dict[str, Any] = {}
    try:
        rows = run(args, tmp, write_setup(tmp, args), setup)
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "local_serve",
        "model": MODEL,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count()},
        "setup": setup,
        **report(rows, args),
        "rows": rows,  # per prompt: label and figures, never the prompt's text
        "note": "ms from the request (one keep-alive client, sequential, loopback): ttft = "
        "first content delta, total = end of stream; block_tokens = guarded - plain prompt tokens",
        "wall_s": round(time.perf_counter() - start, 1),
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
