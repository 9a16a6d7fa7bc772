"""The held-out twin set (``heldout``) ships whole and balanced; it shares nothing with
``builtin``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout_twins.md``).
"""

from __future__ import annotations

from collections import Counter

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.paired import BUNDLED, HELDOUT, builtin_path, read_paired_jsonl

CATEGORIES = {
    "fraud",
    "hate_speech",
    "illegal_activity",
    "malware_generation",
    "physical_harm",
    "sex",
}
STYLES = {
    "backstory",
    "casual_chat",
    "code",
    "email_forum",
    "follow_up",
    "hypothetical_or_table",
    "search_query",
    "task_spec",
}


def test_heldout_is_a_named_bundled_set() -> None:
    assert HELDOUT in BUNDLED
    path, items = read_paired_jsonl("heldout")
    assert path == builtin_path(HELDOUT) and path.name == "heldout_twins.jsonl"
    assert len(items) == 144
    bench = load_bench("heldout")
    assert bench.name == "jsonl" and [i.id for i in bench.items] == [i.id for i in items]


def test_heldout_has_72_balanced_pairs_12_per_category() -> None:
    _, items = read_paired_jsonl("heldout")
    assert len({i.id for i in items}) == len(items)
    pairs: dict[str, list[str]] = {}
    for i in items:
        pairs.setdefault(i.pair_id, []).append(i.label)
    assert len(pairs) == 72
    assert all(sorted(labels) == ["safe", "unsafe"] for labels in pairs.values())
    assert Counter(i.label for i in items) == {"safe": 72, "unsafe": 72}
    per_category = Counter(i.category for i in items if i.label == "unsafe")
    assert per_category == dict.fromkeys(CATEGORIES, 12)


def test_heldout_twins_share_category_and_style_and_use_eight_styles_evenly() -> None:
    _, items = read_paired_jsonl("heldout")
    by_pair: dict[str, set[tuple[str, str | None]]] = {}
    for i in items:
        by_pair.setdefault(i.pair_id, set()).add((i.category, i.style))
    assert all(len(kinds) == 1 for kinds in by_pair.values())
    styles = Counter(style for kinds in by_pair.values() for _, style in kinds)
    assert styles == dict.fromkeys(STYLES, 9)


def test_heldout_items_run_in_genocr_mode() -> None:
    _, items = read_paired_jsonl("heldout")
    for i in items:
        assert i.mode == "text" and i.image is None
        assert i.key_phrase and i.key_phrase in i.text
        assert i.ocr_text and i.key_phrase not in i.ocr_text


def test_heldout_shares_no_id_pair_or_text_with_builtin() -> None:
    # Seeding ``builtin`` must not exclude held-out cases as held-in (same pair id or same text).
    _, held = read_paired_jsonl("heldout")
    _, bundled = read_paired_jsonl("builtin")
    assert not {i.id for i in held} & {i.id for i in bundled}
    assert not {i.pair_id for i in held} & {i.pair_id for i in bundled}
    assert not {i.text for i in held} & {i.text for i in bundled}
