"""Wall time of ``eval`` on the builtin paired set, at concurrency 1 and 8, side by side.

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        python benchmarks/eval_walltime.py [--quick] [--model-ms 50] [--out FILE]

The model is a scripted LiteLLM provider registered through ``litellm.custom_provider_map``
(``benchscripted/eval``). It answers after ``--model-ms`` of simulated generation time: a refusal
when the top insight in the guard's system block is unsafe, otherwise a short helpful answer
(so the CCR it reports measures retrieval, not a model). Every
other part is the shipped code path: the real LiteLLM call, ``Guard.aprepare`` with the real
all-MiniLM-L6-v2 text key, and a tiny random-init OpenCLIP tower for the GenOCR images (which
stands in for ViT-B-32; its weights are not available offline). It also uses the offline judge,
the cache writes and every output file.

Each run starts from an empty output folder, so nothing comes from the cache. Runs at concurrency
1 and 8 alternate (``--repeats``), and the medians are reported. ``--quick`` is the CI smoke run:
5 pairs and one repeat.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from harness import TINY_CLIP, emit, log, median, parse, parser
from litellm import CustomLLM

from echosafe_guard.bench.cases import build_cases
from echosafe_guard.bench.judges.offline_judge import OfflineJudge
from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.bench.report import build_summary, write_outputs
from echosafe_guard.bench.runner import EvalConfig, EvalRunner, MemorySpec
from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.key.open_clip_embedder import OpenClipEmbedder
from echosafe_guard.key.sentence_transformer_embedder import SentenceTransformerEmbedder
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy

MODEL = "benchscripted/eval"
REFUSAL = "I'm sorry, but I can't help with that. I can share general safety information instead."
ANSWER = (
    "Here is a practical answer.\n\n1. Start with the basics and check what you have.\n"
    "2. Follow the steps in order.\n3. Verify the result and adjust if needed."
)


class ScriptedEvalModel(CustomLLM):  # type: ignore[misc]
    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def _text(self, messages: list[dict[str, Any]]) -> str:
        system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
        return REFUSAL if "[1] UNSAFE" in system else ANSWER  # follows the top insight

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay_s)
        messages = kwargs["messages"]
        return litellm.completion(
            model="gpt-4o-mini", messages=messages, mock_response=self._text(messages)
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self.delay_s)
        messages = kwargs["messages"]
        return litellm.completion(
            model="gpt-4o-mini", messages=messages, mock_response=self._text(messages)
        )


def one_run(
    concurrency: int, cases: list[Any], tmp: Path, keys: KeyBuilder, tag: str
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"eval-c{concurrency}-{tag}-", dir=tmp))
    policy = load_policy()

    def factory(store_dir: Path) -> Guard:
        return Guard(store=LocalStore(store_dir), policy=policy, keys=keys)

    config = EvalConfig(
        model=MODEL,
        out=out,
        memory=MemorySpec("seed", "builtin"),
        concurrency=concurrency,
        score_seeded=True,  # a wall-time run: held-in cases are scored too
    )
    t0 = time.perf_counter()
    runner = EvalRunner(config, judge=OfflineJudge(), guard_factory=factory)
    outcome = runner.run(cases)
    summary = build_summary(outcome, config, bench={"name": "builtin"}, judge="offline")
    write_outputs(out, outcome, summary)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cases": len(outcome.rows),
        "model_calls": outcome.model_calls,
        "ccr_off": summary["runs"]["off"]["overall"]["ccr"]["value"],
        "ccr_on": summary["runs"]["on"]["overall"]["ccr"]["value"],
    }


def main() -> None:
    ap = parser(__doc__, quick="CI smoke run: 5 pairs, one repeat")
    ap.add_argument("--model-ms", type=float, default=50.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = parse(ap)
    repeats = 1 if args.quick else args.repeats
    litellm.custom_provider_map = [
        {"provider": "benchscripted", "custom_handler": ScriptedEvalModel(args.model_ms / 1000)}
    ]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = tmp / "echosafe-bench-tiny512.json"
        cfg.write_text(json.dumps(TINY_CLIP))
        keys = KeyBuilder(
            SentenceTransformerEmbedder(torch_threads=1),
            OpenClipEmbedder(cfg.stem, None, model_config=cfg, torch_threads=1),
            wait_for_image_model=True,
        )
        policy = load_policy()
        limit = 5 if args.quick else None
        cases = build_cases(load_bench("builtin"), policy.taxonomy, limit_pairs=limit)
        log(f"{len(cases)} cases x guard off/on; model {args.model_ms:g} ms; {repeats} repeats")
        runs: dict[int, list[dict[str, Any]]] = {1: [], 8: []}
        for r in range(repeats):
            for conc in (1, 8):
                got = one_run(conc, cases, tmp, keys, f"r{r}")
                log(f"concurrency {conc}: {got['wall_s']:.1f} s")
                runs[conc].append(got)
    med = {c: median(x["wall_s"] for x in v) for c, v in runs.items()}
    result = {
        "benchmark": "eval_walltime",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "model_ms": args.model_ms,
        "cases_per_run": runs[1][0]["cases"],
        "repeats": repeats,
        "wall_s_median": {f"concurrency_{c}": round(v, 2) for c, v in med.items()},
        "per_case_ms_median": {
            f"concurrency_{c}": round(v / runs[c][0]["cases"] * 1000, 2) for c, v in med.items()
        },
        "speedup_8_vs_1": round(med[1] / med[8], 2) if med[8] else None,
        "ccr": {"off": runs[1][0]["ccr_off"], "on": runs[1][0]["ccr_on"]},
        "runs": {f"concurrency_{c}": v for c, v in runs.items()},
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
