"""The fourth held-out twin set (``heldout3``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout`` or ``heldout2``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout3_twins.md``). The other sets are compared with it by script only.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.paired import BUNDLED, HELDOUT3, PairedItem, builtin_path, read_paired_jsonl
from tests.unit.test_heldout2_twins import EXPLICIT_RE, alarm_words, extra, grams
from tests.unit.test_heldout_twins import CATEGORIES

STYLES = {
    "fiction_frame",
    "history_definition",
    "homonym",
    "idiom",
    "professional_role",
    "terse_shorthand",
}
EARLIER = ("builtin", "heldout", "heldout2")


def items() -> list[PairedItem]:
    return read_paired_jsonl(HELDOUT3)[1]


def twins() -> dict[str, dict[str, PairedItem]]:
    pairs: dict[str, dict[str, PairedItem]] = {}
    for i in items():
        pairs.setdefault(i.pair_id, {})[i.label] = i
    return pairs


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def test_heldout3_is_a_named_bundled_set() -> None:
    assert BUNDLED[HELDOUT3] == "heldout3_twins.jsonl"
    path, its = read_paired_jsonl("heldout3")
    assert path == builtin_path(HELDOUT3) and path.name == "heldout3_twins.jsonl"
    assert len(its) == 120
    bench = load_bench("heldout3")
    assert bench.name == "jsonl" and [i.id for i in bench.items] == [i.id for i in its]


def test_heldout3_has_60_balanced_pairs_10_per_category() -> None:
    its = items()
    assert len({i.id for i in its}) == len(its)
    pairs = twins()
    assert len(pairs) == 60
    assert all(sorted(p) == ["safe", "unsafe"] for p in pairs.values())
    assert Counter(i.label for i in its) == {"safe": 60, "unsafe": 60}
    assert Counter(i.category for i in its if i.label == "unsafe") == dict.fromkeys(CATEGORIES, 10)
    for i in its:
        assert re.fullmatch(rf"heldout3-{i.category}-\d\d", i.pair_id)
        assert i.id == f"{i.pair_id}-{i.label[0]}"


def test_heldout3_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    kinds = []
    for p in twins().values():
        u, s = p["unsafe"], p["safe"]
        assert (u.category, u.style, extra(u, "persona")) == (
            s.category,
            s.style,
            extra(s, "persona"),
        )
        kinds.append((u.category, u.style))
    assert Counter(style for _, style in kinds) == dict.fromkeys(STYLES, 10)
    per_category = Counter(kinds)
    for category in CATEGORIES:
        assert {style for cat, style in kinds if cat == category} == STYLES
    assert set(per_category.values()) <= {1, 2}  # one or two pairs per category and style


def test_heldout3_items_have_exactly_the_heldout2_fields() -> None:
    def keys(name: str) -> list[list[str]]:
        text = builtin_path(name).read_text("utf-8")
        return [list(json.loads(line)) for line in text.splitlines() if line.strip()]

    (heldout2_keys,) = {tuple(k) for k in keys("heldout2")}
    assert all(tuple(k) == heldout2_keys for k in keys("heldout3"))


def test_heldout3_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    for i in items():
        assert i.mode == "text" and i.image is None
        assert i.key_phrase and i.key_phrase in i.text
        assert i.ocr_text and i.key_phrase not in i.ocr_text and "image" in i.ocr_text
        assert i.scenario and i.intent_signals and extra(i, "persona")
        assert i.guidance and i.guidance.startswith(
            "Decline" if i.label == "unsafe" else "Help fully"
        )
        if i.style == "terse_shorthand":  # lower case, no punctuation, short
            assert re.fullmatch(r"[a-z0-9 ]+", i.text), i.id
            assert len(i.text.split()) <= 20, i.id


def test_heldout3_twins_differ_in_few_words() -> None:
    # Written from shared surface words: the twins of a pair keep most of their wording.
    overlap = []
    for p in twins().values():
        u, s = words(p["unsafe"].text), words(p["safe"].text)
        overlap.append(len(u & s) / len(u | s))
    assert min(overlap) >= 0.25
    assert statistics.median(overlap) >= 0.4


def test_heldout3_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    its = items()
    for i in its:
        assert extra(i, "alarm_words") == alarm_words(i.text), i.id
    safe_with = sum(1 for i in its if i.label == "safe" and alarm_words(i.text))
    unsafe_with = sum(1 for i in its if i.label == "unsafe" and alarm_words(i.text))
    shared = sum(
        1
        for p in twins().values()
        if set(alarm_words(p["safe"].text)) & set(alarm_words(p["unsafe"].text))
    )
    assert safe_with >= 20 and shared >= 20  # at least 1/3: the alarm word is on both sides
    assert abs(safe_with - unsafe_with) <= 6  # a keyword filter cannot tell the sides apart


def test_heldout3_sex_items_are_not_explicit() -> None:
    for i in items():
        if i.category == "sex":
            assert not EXPLICIT_RE.search(f"{i.text} {i.ocr_text} {i.scenario}"), i.id


def test_heldout3_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout3 cases as held-in (same pair id or text).
    its = items()
    for name in EARLIER:
        _, other = read_paired_jsonl(name)
        other_ids = {o.id for o in other} | {o.pair_id for o in other}
        assert not {i.id for i in its} & other_ids, name
        assert not {i.pair_id for i in its} & other_ids, name
        assert not {i.text for i in its} & {o.text for o in other}, name


def test_heldout3_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    for name in EARLIER:
        _, other = read_paired_jsonl(name)
        seen: set[tuple[str, ...]] = set().union(*(grams(o.text) for o in other))
        for i in items():
            assert not grams(i.text) & seen, (name, i.id)
