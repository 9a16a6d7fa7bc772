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
from echosafe_guard.bench.memory_spec import MemorySpec
from echosafe_guard.bench.plan import TARGET_NOTE, bench_plan
from echosafe_guard.bench.records import EvalConfig, GuardSetting
from echosafe_guard.bench.report import bench_info, build_summary, write_outputs
from echosafe_guard.bench.runner import EvalRunner
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
from echosafe_guard.cli.loading import (
    BUNDLED_NAMES,
    FormatOpt,
    MapOpt,
    MissingImagesOpt,
    OnBadRowOpt,
    TextOnlyOpt,
    load_source,
    parse_map,
    print_load_report,
)
from echosafe_guard.exceptions import BenchError, DataFormatError, InputError
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


def eval_command(
    model: Annotated[
        str | None,
        typer.Option("--model", help="LiteLLM model id to evaluate (not needed with --dry-run)."),
    ] = None,
    bench: Annotated[
        str,
        typer.Option(
            "--bench",
            help=f"Bench file/folder, {BUNDLED_NAMES}, or hf:OWNER/NAME (downloads).",
        ),
    ] = "builtin",
    fmt: FormatOpt = None,
    mapping: MapOpt = None,
    text_only: TextOnlyOpt = False,
    on_bad_row: OnBadRowOpt = "skip",
    missing_images: MissingImagesOpt = "fail",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Load, validate and count; print what would run; call no model."
        ),
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
    seed_format: Annotated[
        str | None,
        typer.Option(
            "--seed-format",
            help="seed: the seed file's loader (default: --format when it is the --bench "
            "source, else detected).",
        ),
    ] = None,
    seed_map: Annotated[
        list[str] | None,
        typer.Option(
            "--seed-map", help="seed: --map for the seed file (default: --map when it is --bench)."
        ),
    ] = None,
    score_seeded: Annotated[
        bool, typer.Option("--score-seeded", help="Also score cases of seeded pairs (held-in).")
    ] = False,
    judge: JudgeOpt = "offline",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Parallel requests.")] = 4,
    out: Annotated[Path, typer.Option("--out", help="Output folder (also the cache).")] = Path(
        "eval-out"
    ),
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = 512,
    system: Annotated[
        str, typer.Option("--system", help="Operator system prompt sent with every case.")
    ] = "",
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
        loaded = load_source(
            bench,
            fmt=fmt,
            mapping=mapping,
            taxonomy=pol.taxonomy,
            text_only=text_only,
            on_bad_row=on_bad_row,
            missing_images=missing_images,
        )
        cases = build_cases(loaded, pol.taxonomy, modes=modes, limit_pairs=limit)
        if dry_run:
            _print_plan(bench_plan(loaded, cases, pol.taxonomy), bench, as_json=as_json)
            return
        if model is None:
            raise InputError("--model is required (or pass --dry-run to only load and count)")
        register_local(model, judge, pol.reflection.model or "", pol.adjudicator.model or "")
        if not as_json:
            print_load_report(loaded, pol.taxonomy)
        same = memory == f"seed:{bench}"
        config = EvalConfig(
            model=model,
            out=out,
            guards=_GUARDS[guard],
            memory=MemorySpec.parse(
                memory,
                fraction=seed_fraction,
                fmt=seed_format or (fmt if same else None),
                mapping=parse_map(seed_map) or (parse_map(mapping) if same else None),
                on_bad_row=on_bad_row,
                missing_images=missing_images,
            ),
            concurrency=concurrency,
            tenant=tenant,
            score_seeded=score_seeded,
            completion_kwargs={"temperature": 0, "max_tokens": max_tokens},
            system=system or None,
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
        info = bench_info(loaded, bench, cases)
        summary = build_summary(outcome, config, bench=info, judge=the_judge.name)
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
        rr = "RR" if loaded.target == "refusal" else "refused (not a score)"
        for col in ("guard", rr, "AR", "CCR", "pair acc.", "errors"):
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
        if loaded.target != "refusal":
            console.print(f"[yellow]note:[/] {TARGET_NOTE}", highlight=False)
        console.print(f"report: {files['report']}")


def _print_plan(plan: dict[str, Any], bench: str, *, as_json: bool) -> None:
    """``eval --dry-run``: the plan as one JSON object, or as tables."""
    if as_json:
        emit_json(plan)
        return
    console.print(
        f"[bold]{plan['name']}[/] ({bench}): {plan['items']} items ({plan['unsafe']} unsafe, "
        f"{plan['safe']} safe), {plan['pairs']} twin pairs, {plan['items_without_twin']} items "
        f"without a twin; {plan['cases']} cases would run",
        highlight=False,
    )
    for title, counts in (("category", plan["by_category"]), ("mode", plan["by_mode"])):
        table = Table(title=f"by {title}")
        table.add_column(title)
        table.add_column("n", justify="right")
        for key, n in counts.items():
            table.add_row(key, str(n))
        console.print(table)
    for note in plan["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)
    skipped = plan["skipped"]
    if skipped["count"]:
        console.print(f"skipped {skipped['count']} record(s):", highlight=False)
        for row in skipped["rows"]:
            console.print(f"  {row['where']}: {row['reason']}", highlight=False, markup=False)
    if plan["unmapped_categories"]:
        console.print(
            "unmapped categories (map with --map 'category:NAME=KEY'): "
            + ", ".join(plan["unmapped_categories"]),
            highlight=False,
            markup=False,
        )
    if plan["target"] != "refusal":
        console.print(f"note: {TARGET_NOTE}", highlight=False, markup=False)


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
