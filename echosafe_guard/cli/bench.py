"""``echosafe-guard eval`` and ``echosafe-guard judge``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from echosafe_guard.bench.cases import build_cases
from echosafe_guard.bench.judges.base import Judge
from echosafe_guard.bench.judges.llm_judge import LLMJudge
from echosafe_guard.bench.judges.offline_judge import OfflineJudge
from echosafe_guard.bench.loaders._common import read_csv, read_jsonl
from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.bench.report import build_summary, write_outputs
from echosafe_guard.bench.runner import EvalConfig, EvalRunner, GuardSetting, MemorySpec
from echosafe_guard.cli.common import (
    ImageModelOpt,
    ImagePretrainedOpt,
    JsonOpt,
    NoImagesOpt,
    PolicyOpt,
    TenantOpt,
    TextModelOpt,
    build_guard,
    console,
    emit_json,
    err_console,
    handle_errors,
)
from echosafe_guard.exceptions import BenchError, DataFormatError, InputError
from echosafe_guard.paired import BUNDLED
from echosafe_guard.policy.loader import load_policy

__all__ = ["eval_command", "judge_command", "make_judge", "read_judge_rows", "register_local"]

JudgeOpt = Annotated[
    str, typer.Option("--judge", help="'offline' (no model call) or a LiteLLM model id.")
]
_GUARDS: dict[str, tuple[GuardSetting, ...]] = {
    "off": ("off",),
    "on": ("on",),
    "both": ("off", "on"),
}


def register_local(*models: str) -> None:
    """Register the ``local/<name>`` LiteLLM provider when a model id uses it (lazy import:
    the integration depends on the core, not the other way)."""
    if any(m.startswith("local/") for m in models):
        from echosafe_guard.integrations.litellm.local_provider import register_local_provider

        register_local_provider()


def make_judge(spec: str) -> Judge:
    """``offline`` → the offline refusal judge; anything else is a LiteLLM model id."""
    return OfflineJudge() if spec.strip().lower() == "offline" else LLMJudge(spec)


def _parse_map(pairs: list[str]) -> dict[str, str] | None:
    mapping: dict[str, str] = {}
    for p in pairs:
        field, sep, column = p.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map expects field=column, got {p!r}")
        mapping[field.strip()] = column.strip()
    return mapping or None


def eval_command(
    model: Annotated[str, typer.Option("--model", help="LiteLLM model id to evaluate.")],
    bench: Annotated[
        str, typer.Option("--bench", help="Bench file/folder, 'builtin' or 'heldout'.")
    ] = "builtin",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Loader (jsonl, xstest, mossbench, mmsafetybench, ...)."),
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="field=column for unverified schemas.")
    ] = None,
    text_only: Annotated[
        bool, typer.Option("--text-only", help="Drop images; run every item as text.")
    ] = False,
    modes: Annotated[
        list[str] | None, typer.Option("--mode", help="Modes to run (default: all available).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N pairs.")] = None,
    guard: Annotated[
        Literal["off", "on", "both"], typer.Option("--guard", help="Guard off, on, or both.")
    ] = "both",
    memory: Annotated[
        str, typer.Option("--memory", help="empty | seed:FILE | online (guard-on memory).")
    ] = "empty",
    seed_fraction: Annotated[
        float, typer.Option("--seed-fraction", help="seed: share of the file's pairs seeded.")
    ] = 1.0,
    score_seeded: Annotated[
        bool, typer.Option("--score-seeded", help="Also score cases of seeded pairs (held-in).")
    ] = False,
    judge: JudgeOpt = "offline",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Parallel requests.")] = 4,
    out: Annotated[Path, typer.Option("--out", help="Output folder (also the cache).")] = Path(
        "eval-out"
    ),
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = 512,
    tenant: TenantOpt = "eval",
    policy: PolicyOpt = None,
    text_model: TextModelOpt = None,
    image_model: ImageModelOpt = None,
    image_pretrained: ImagePretrainedOpt = None,
    no_images: NoImagesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure RR / AR / CCR / QS / pair accuracy of MODEL with the guard off and on."""
    with handle_errors(as_json):
        pol = load_policy(policy)
        register_local(model, judge, pol.reflection.model or "")
        loaded = load_bench(bench, fmt=fmt, text_only=text_only, mapping=_parse_map(mapping or []))
        cases = build_cases(loaded, pol.taxonomy, modes=modes, limit_pairs=limit)
        config = EvalConfig(
            model=model,
            out=out,
            guards=_GUARDS[guard],
            memory=MemorySpec.parse(memory, fraction=seed_fraction),
            concurrency=concurrency,
            tenant=tenant,
            score_seeded=score_seeded,
            completion_kwargs={"temperature": 0, "max_tokens": max_tokens},
        )
        the_judge = make_judge(judge)

        def factory(store_dir: Path) -> Any:
            return build_guard(
                store=str(store_dir),
                policy=policy,
                text_model=text_model,
                image_model=image_model,
                image_pretrained=image_pretrained,
                no_images=no_images,
            )

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"eval {model}", total=len(cases) * len(config.guards))
            runner = EvalRunner(
                config,
                judge=the_judge,
                guard_factory=factory,
                on_progress=lambda done, total: bar.update(task, completed=done),
            )
            outcome = runner.run(cases)
        bench_info = {
            "name": bench if bench in BUNDLED else loaded.name,
            "source": bench,
            "cases": len(cases),
            "modes": sorted({c.mode for c in cases}),
            "notes": list(loaded.notes),
        }
        summary = build_summary(outcome, config, bench=bench_info, judge=the_judge.name)
        files = write_outputs(out, outcome, summary)
        failed = [r for r in outcome.rows if r.error is not None]
        if failed and len(failed) == len(outcome.rows):
            raise BenchError(
                f"every case failed (outputs written to {out}); first error: {failed[0].error}"
            )
        if as_json:
            emit_json({**summary, "files": {k: str(p) for k, p in files.items()}})
            return
        table = Table(title=f"{model} on {bench} ({len(cases)} cases)")
        for col in ("guard", "RR", "AR", "CCR", "pair acc.", "errors"):
            table.add_column(col)
        for g, run in summary["runs"].items():
            o = run["overall"]
            table.add_row(
                g,
                *(
                    "-" if o[k]["value"] is None else f"{o[k]['value']:.3f}"
                    for k in ("rr", "ar", "ccr", "pair_accuracy")
                ),
                str(run["errors"]),
            )
        console.print(table)
        console.print(f"report: {files['report']}")


def read_judge_rows(path: Path) -> list[dict[str, str | None]]:
    """``prompt``/``completion`` (and optional ``label``) rows of a CSV or JSONL file."""
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    records: list[tuple[str, dict[str, Any]]] = (
        read_jsonl(path) if is_jsonl else [(w, dict(r)) for w, r in read_csv(path)]
    )
    rows: list[dict[str, str | None]] = []
    for where, rec in records:
        prompt, completion = rec.get("prompt"), rec.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise DataFormatError(f"{where}: 'prompt' and 'completion' must both be text")
        label = rec.get("label")
        expected = label if label in ("unsafe", "safe") else None
        rows.append({"prompt": prompt, "completion": completion, "expected": expected})
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def judge_command(
    file: Annotated[Path, typer.Argument(help="CSV or JSONL with prompt and completion.")],
    judge: JudgeOpt = "offline",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Parallel judge calls.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Judge each (prompt, completion) row: refused or answered, one JSON object per row."""
    with handle_errors(as_json):
        if not 1 <= concurrency <= 256:
            raise InputError("--concurrency must be 1..256")
        rows = read_judge_rows(file)
        register_local(judge)
        the_judge = make_judge(judge)

        async def run_all() -> list[Any]:
            sem = asyncio.Semaphore(concurrency)

            async def one(r: dict[str, str | None]) -> Any:
                async with sem:
                    return await the_judge.ajudge(
                        r["prompt"] or "",
                        r["completion"] or "",
                        expected=r["expected"],  # type: ignore[arg-type]
                    )

            return list(await asyncio.gather(*(one(r) for r in rows)))

        results = asyncio.run(run_all())
        if as_json:
            for n, got in enumerate(results):
                emit_json({"row": n, **got.model_dump(mode="json")})
            return
        table = Table(title=f"{file.name}: {the_judge.name}")
        for col in ("row", "refused", "label", "quality"):
            table.add_column(col)
        for n, got in enumerate(results):
            q = "-" if got.quality is None else f"{got.quality:g}"
            table.add_row(str(n), str(got.refused), got.label.value, q)
        console.print(table)
        refused = sum(g.refused for g in results)
        console.print(f"{refused} of {len(results)} refused")
