"""Loading a benchmark from the command line: the options ``eval``, ``memory seed`` and
``screen --input`` share (``--format``, ``--map``, ``--text-only``, ``--on-bad-row``,
``--missing-images``) and printing what the load noted, skipped or could not map."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.bench.loaders.registry import load_bench, split_category_map
from echosafe_guard.bench.plan import TARGET_NOTE, unmapped_categories
from echosafe_guard.cli.common import err_console
from echosafe_guard.exceptions import InputError
from echosafe_guard.paired import BUNDLED
from echosafe_guard.policy.models import Taxonomy

__all__ = [
    "BUNDLED_NAMES",
    "FormatOpt",
    "MapOpt",
    "MissingImagesOpt",
    "OnBadRowOpt",
    "TextOnlyOpt",
    "load_source",
    "parse_map",
    "print_load_report",
]

SHOW_SKIPPED = 10
BUNDLED_NAMES = ", ".join(f"'{name}'" for name in BUNDLED)
"""The shipped paired sets' names, quoted, for help texts (``'builtin', 'heldout', …``)."""

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Loader: jsonl, xstest, mossbench, mssbench, siuo, vlsbench, mmsafetybench, "
        "mmsafetybench_pp (default: detected for builtin, *.jsonl and known hf: datasets).",
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="field=column (read a field from another column), a loader option (image_dir=DIR, "
        "modes=SD,TYPO), or 'category:NAME=KEY' (file the benchmark category NAME under the "
        "taxonomy key KEY). Repeatable.",
    ),
]
TextOnlyOpt = Annotated[
    bool, typer.Option("--text-only", help="Drop images; run every item as text.")
]
OnBadRowOpt = Annotated[
    Literal["skip", "fail"],
    typer.Option(
        "--on-bad-row",
        help="A record that fails its checks: skip it (default; counted and named in the "
        "report) or fail the load.",
    ),
]
MissingImagesOpt = Annotated[
    Literal["drop", "fail", "text"],
    typer.Option(
        "--missing-images",
        help="An item whose image file is missing: fail the load, drop the item, or run it as "
        "text.",
    ),
]


def parse_map(pairs: list[str] | None) -> dict[str, str] | None:
    """``--map`` values as a dict (``field=column``; ``category:NAME=KEY`` kept whole)."""
    mapping: dict[str, str] = {}
    for p in pairs or []:
        field, sep, column = p.rpartition("=") if p.startswith("category:") else p.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InputError(f"--map expects field=column or category:NAME=KEY, got {p!r}")
        mapping[field.strip()] = column.strip()
    return mapping or None


def load_source(
    source: str,
    *,
    fmt: str | None,
    mapping: list[str] | None,
    taxonomy: Taxonomy,
    text_only: bool = False,
    on_bad_row: Literal["skip", "fail"] = "fail",
    missing_images: Literal["drop", "fail", "text"] = "fail",
) -> LoadedBench:
    """Load ``source``; a ``category:NAME=KEY`` whose KEY the taxonomy cannot resolve is refused."""
    parsed = parse_map(mapping)
    _, renames = split_category_map(parsed)
    for name, key in renames.items():
        if taxonomy.resolve(key) is None:
            known = ", ".join(sorted(taxonomy.categories))
            raise InputError(f"--map 'category:{name}={key}': {key!r} is not a taxonomy key "
                             f"({known})")
    return load_bench(
        source,
        fmt=fmt,
        text_only=text_only,
        mapping=parsed,
        on_bad_row=on_bad_row,
        missing_images=missing_images,
    )


def print_load_report(bench: LoadedBench, taxonomy: Taxonomy, *, seeding: bool = False) -> None:
    """The load's notes, skipped records, unmapped categories and scoring target, on stderr."""
    for note in bench.notes:
        err_console.print(f"[dim]{bench.name}:[/] {note}", highlight=False)
    if bench.skipped:
        err_console.print(
            f"[yellow]skipped {len(bench.skipped)} record(s):[/]", highlight=False
        )
        for row in bench.skipped[:SHOW_SKIPPED]:
            err_console.print(f"  {row.where}: {row.reason}", highlight=False, markup=False)
        if len(bench.skipped) > SHOW_SKIPPED:
            err_console.print(f"  ... and {len(bench.skipped) - SHOW_SKIPPED} more")
    missing = unmapped_categories(bench, taxonomy)
    if missing:
        what = "seeded under 'other'" if seeding else "reported under their own names"
        err_console.print(
            f"[yellow]warning:[/] {len(missing)} categor{'y' if len(missing) == 1 else 'ies'} "
            f"not in the policy taxonomy, {what}: {', '.join(missing)} "
            "(map one with --map 'category:NAME=KEY')",
            highlight=False,
        )
    if bench.target != "refusal" and not seeding:
        err_console.print(f"[yellow]note:[/] {TARGET_NOTE}", highlight=False)
