"""``default``: the default seed memory joins the seen twin sets that carry hand-written insights,
and never a set still reported as held out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.cli.app import app
from echosafe_guard.paired import (
    BUILTIN,
    DEFAULT_MEMORY,
    DEFAULT_MEMORY_SETS,
    HELDOUT,
    HELDOUT5,
    HELDOUT6,
    HELDOUT7,
    HELDOUT8,
    HELDOUT9,
    HELDOUT10,
    HELDOUT11,
    HELDOUT12,
    HELDOUT13,
    HELDOUT14,
    HELDOUT15,
    HELDOUT16,
    HELDOUT17,
    HELDOUT18,
    HELDOUT19,
    HELDOUT20,
    HELDOUT21,
    HELDOUT22,
    HELDOUT23,
    HELDOUT24,
    HELDOUT25,
    HELDOUT26,
    HELDOUT27,
    HELDOUT28,
    HELDOUT29,
    HELDOUT30,
    builtin_path,
    bundled_paths,
    is_bundled,
    read_paired_jsonl,
)


def test_default_joins_the_seen_sets_in_order() -> None:
    path, items = read_paired_jsonl(DEFAULT_MEMORY)
    parts = [read_paired_jsonl(name)[1] for name in DEFAULT_MEMORY_SETS]
    assert items == [it for part in parts for it in part]
    assert len(items) == 312 + 3 * 120 + 92
    assert path == builtin_path(BUILTIN)
    assert bundled_paths(DEFAULT_MEMORY) == tuple(builtin_path(n) for n in DEFAULT_MEMORY_SETS)
    assert len({it.id for it in items}) == len(items)
    assert len({it.pair_id for it in items}) == len(items) // 2


def test_default_items_all_carry_their_own_insight() -> None:
    for it in read_paired_jsonl(DEFAULT_MEMORY)[1]:
        assert it.scenario and it.intent_signals and it.guidance, it.id


LATER = (
    HELDOUT5,
    HELDOUT6,
    HELDOUT7,
    HELDOUT8,
    HELDOUT9,
    HELDOUT10,
    HELDOUT11,
    HELDOUT12,
    HELDOUT13,
    HELDOUT14,
    HELDOUT15,
    HELDOUT16,
    HELDOUT17,
    HELDOUT18,
    HELDOUT19,
    HELDOUT20,
    HELDOUT21,
    HELDOUT22,
    HELDOUT23,
    HELDOUT24,
    HELDOUT25,
    HELDOUT26,
    HELDOUT27,
    HELDOUT28,
    HELDOUT29,
    HELDOUT30,
)
"""The twin sets written after the default memory was chosen (reported or still unrun)."""


def test_default_holds_nothing_still_held_out() -> None:
    assert not {HELDOUT, *LATER} & set(DEFAULT_MEMORY_SETS)
    texts = {it.text.casefold() for it in read_paired_jsonl(DEFAULT_MEMORY)[1]}
    held = [it for name in LATER for it in read_paired_jsonl(name)[1]]
    assert not any(it.text.casefold() in texts for it in held)


@pytest.mark.parametrize(
    ("name", "bundled"),
    [
        ("default", True),
        ("builtin", True),
        ("heldout5", True),
        ("heldout6", True),
        ("heldout7", True),
        ("heldout8", True),
        ("heldout9", True),
        ("heldout10", True),
        ("heldout11", True),
        ("heldout12", True),
        ("heldout13", True),
        ("heldout14", True),
        ("heldout15", True),
        ("heldout16", True),
        ("heldout17", True),
        ("heldout18", True),
        ("heldout19", True),
        ("heldout20", True),
        ("heldout21", True),
        ("heldout22", True),
        ("heldout23", True),
        ("heldout24", True),
        ("heldout25", True),
        ("heldout26", True),
        ("heldout27", True),
        ("heldout28", True),
        ("heldout29", True),
        ("heldout30", True),
        ("default.jsonl", False),
    ],
)
def test_is_bundled(name: str, bundled: bool) -> None:
    assert is_bundled(name) is bundled


def test_load_bench_reads_default_as_paired_jsonl() -> None:
    loaded = load_bench(DEFAULT_MEMORY)
    assert loaded.name == "jsonl"
    assert [it.id for it in loaded.items] == [it.id for it in read_paired_jsonl(DEFAULT_MEMORY)[1]]
    assert not loaded.skipped


def test_cli_names_default(tmp_path: Path) -> None:
    """The CLI takes the name; a near miss is a clear error, not a crash."""
    env = {"HF_HUB_OFFLINE": "1", "ECHOSAFE_STORE": str(tmp_path / "store")}
    out = CliRunner().invoke(app, ["eval", "--dry-run", "--bench", "default", "--json"], env=env)
    assert out.exit_code == 0, out.output
    counted = json.loads(out.stdout)
    assert (counted["items"], counted["pairs"], counted["items_without_twin"]) == (764, 382, 0)
    bad = CliRunner().invoke(app, ["memory", "seed", "defaults", "--json"], env=env)
    assert bad.exit_code != 0 and "Traceback" not in bad.output
