"""The local model (``local/qwen2.5-coder-1.5b``, the ``[local]`` extra) and what the guard costs
in front of it.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        .venv/bin/python benchmarks/local_model.py [--n 12] [--max-tokens 8] [--out FILE]

Measured in this process, through ``litellm.completion`` and the ``local`` provider:

* ``load_ms``: loading the GGUF (assembled beforehand: ``assemble_ms`` is 0 when cached);
* ``prompt_tok_s`` / ``gen_tok_s``: one streamed generation on a fresh ~300-token prompt (prompt
  evaluation = time to the first token; generation = the rest);
* ``peak_rss_mb``: this process's peak resident set (model, embedder, store);
* guarded ÷ unguarded: ``--n`` text requests from the builtin pairs, each sent unguarded
  (``litellm.completion``) and guarded (``Guard.prepare`` on a store seeded with the builtin
  set, then ``litellm.completion`` of the rewritten messages), back to back, the order
  alternating per prompt. Split of the added latency: the guard's own time (``prepare``, CPU),
  and the model's growth (the rest: mostly evaluating the tokens the block adds). The block's
  token count is the guarded prompt's tokens minus the unguarded prompt's.

A 1.5B model on a shared CPU: the absolute numbers vary with load; the ratios and the split are
what this shows.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "local/qwen2.5-coder-1.5b"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(q * (len(data) - 1))))]


def raw_speed(runtime: Any) -> tuple[float, float]:
    """Prompt and generation tokens/s from one streamed generation on a fresh prompt."""
    filler = " ".join(f"Item {i}: a short line about packing for a trip." for i in range(30))
    events = list(
        runtime.iter_stream(
            [{"role": "user", "content": filler + "\nSummarise the list in one sentence."}],
            {"max_tokens": 32, "temperature": 0},
        )
    )
    gen = events[-1].done
    assert gen is not None and gen.first_token_ms
    prompt_eval = gen.prompt_tokens - gen.prompt_tokens_cached
    prompt_tok_s = prompt_eval / (gen.first_token_ms / 1000)
    gen_tok_s = max(gen.completion_tokens - 1, 1) / ((gen.generate_ms - gen.first_token_ms) / 1000)
    return prompt_tok_s, gen_tok_s


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    med = statistics.median
    u, g = [r["u_ms"] for r in rows], [r["g_ms"] for r in rows]
    guard_ms = [r["guard_ms"] for r in rows]
    growth = [r["g_ms"] - r["guard_ms"] - r["u_ms"] for r in rows]
    blocks = [float(r["block_tokens"]) for r in rows]
    return {
        "latency_ms": {
            "unguarded_p50": round(med(u), 1),
            "guarded_p50": round(med(g), 1),
            "ratio_of_medians": round(med(g) / med(u), 3),
            "added_p50": round(med(g) - med(u), 1),
            "split_p50": {
                "guard_cpu_ms": round(med(guard_ms), 1),
                "model_prompt_growth_ms": round(med(growth), 1),
            },
        },
        "block_tokens": {"p50": pct(blocks, 0.5), "p95": pct(blocks, 0.95), "max": max(blocks)},
        "decisions": {d: sum(r["decision"] == d for r in rows) for d in ("allow", "caution")},
    }


def interleave(
    litellm: Any, guard: Any, prompts: list[str], max_tokens: int
) -> list[dict[str, Any]]:
    """Each prompt unguarded and guarded, back to back, the order alternating."""

    def call(messages: list[dict[str, Any]]) -> tuple[float, int]:
        t = time.perf_counter()
        resp = litellm.completion(
            model=MODEL, messages=messages, max_tokens=max_tokens, temperature=0
        )
        return (time.perf_counter() - t) * 1000, int(resp.usage.prompt_tokens)

    rows = []
    for i, text in enumerate(prompts):
        msgs = [{"role": "user", "content": text}]
        order = ("u", "g") if i % 2 == 0 else ("g", "u")
        row: dict[str, Any] = {}
        for side in order:
            if side == "u":
                row["u_ms"], row["u_tokens"] = call(msgs)
            else:
                t = time.perf_counter()
                prep = guard.prepare(msgs, tenant="default")
                row["guard_ms"] = (time.perf_counter() - t) * 1000
                row["decision"] = prep.decision.action.value
                ms, row["g_tokens"] = call(prep.messages)
                row["g_ms"] = ms + row["guard_ms"]
        row["block_tokens"] = row["g_tokens"] - row["u_tokens"]
        rows.append(row)
        log(f"{i + 1}/{len(prompts)} {row}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from echosafe_guard.integrations.litellm import register_local_provider
    from echosafe_guard.integrations.litellm.local_gguf import LocalGGUF
    from echosafe_guard.integrations.litellm.local_provider import local_runtime

    from echosafe_guard.bench.loaders.registry import load_bench
    from echosafe_guard.guard import Guard
    from echosafe_guard.llm_client import import_litellm
    from echosafe_guard.memory.local.local_store import LocalStore
    from echosafe_guard.seeding import seed_memory
    from echosafe_guard.settings import GuardSettings

    litellm = import_litellm()
    register_local_provider()
    t0 = time.perf_counter()
    LocalGGUF(MODEL.split("/", 1)[1]).path()
    assemble_ms = (time.perf_counter() - t0) * 1000
    runtime = local_runtime(MODEL)
    load_ms = runtime.load()
    log(f"loaded in {load_ms:.0f} ms")

    prompt_tok_s, gen_tok_s = raw_speed(runtime)
    log(f"prompt {prompt_tok_s:.1f} tok/s, generation {gen_tok_s:.1f} tok/s")

    # -- guarded vs unguarded ----------------------------------------------------------------
    tmp = Path(tempfile.mkdtemp(prefix="echosafe-localbench-"))
    settings = GuardSettings.from_env().model_copy(update={"images": False})
    guard = Guard(store=LocalStore(tmp / "store"), settings=settings)
    seed_memory(guard, "builtin")
    guard.warmup(images=False)
    items = load_bench("builtin").items  # twin pairs, unsafe and safe interleaved
    prompts = [it.text for it in items][:: max(1, len(items) // args.n)][: args.n]

    rows = interleave(litellm, guard, prompts, args.max_tokens)
    result = {
        "model": MODEL,
        "assemble_ms": round(assemble_ms, 1),
        "load_ms": round(load_ms, 1),
        "prompt_tok_s": round(prompt_tok_s, 1),
        "gen_tok_s": round(gen_tok_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n": len(rows),
        "max_tokens": args.max_tokens,
        **summary(rows),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    guard.close()


if __name__ == "__main__":
    main()
