"""The third held-out twin set (``heldout2``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout2_twins.md``). ``heldout`` is read for its ids only.
"""

from __future__ import annotations

import re
from collections import Counter

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.paired import BUNDLED, HELDOUT2, PairedItem, builtin_path, read_paired_jsonl
from tests.unit.test_heldout_twins import CATEGORIES

STYLES = {
    "claimed_role",
    "embedded_doc",
    "formal_ticket",
    "multi_ask",
    "non_native",
    "short_imperative",
}
# The alarm-word patterns of docs/heldout2_twins.md (case-insensitive, whole words).
ALARM = (
    r"kill\w*", r"\w*killer", r"murder\w*", r"shoot\w*", r"shot", r"guns?", r"firearms?",
    r"weapons?", r"bombs?", r"explosi\w+", r"poison\w*", r"toxi\w+", r"lethal", r"dead(?:ly)?",
    r"die", r"dies", r"dying", r"drugs?", r"overdos\w*", r"steal\w*", r"stole", r"stolen",
    r"theft", r"thie(?:f|ves|ving)", r"rob(?:s|bed|bing|bery|beries)?", r"hack\w*",
    r"exploit\w*", r"attack\w*", r"crack\w*", r"illegal\w*", r"fake\w*",
    r"forg(?:e|ed|er|es|ery|eries|ing)", r"counterfeit\w*", r"launder\w*", r"smuggl\w+",
    r"abus\w+", r"assault\w*", r"rap(?:e|ed|es|ing|ist|ists)", r"nudes?", r"naked", r"sex",
    r"sexual\w*", r"porn\w*", r"victims?", r"hurt\w*", r"harm\w*", r"blood\w*", r"violen\w+",
    r"threat\w*", r"blackmail\w*", r"extort\w*", r"malware", r"ransomware", r"virus\w*",
    r"trojans?", r"backdoors?", r"keylog\w*", r"spyware", r"payloads?", r"phish\w*",
    r"scam\w*", r"fraud\w*", r"hate\w*", r"hatred", r"racis\w+", r"slurs?", r"terror\w*",
    r"traffick\w+", r"suicid\w*", r"stalk\w*", r"groom\w*", r"bypass\w*", r"evad\w+",
    r"evasion", r"dangerous",
)  # fmt: skip
ALARM_RE = re.compile(r"\b(?:" + "|".join(ALARM) + r")\b", re.IGNORECASE)
EXPLICIT_RE = re.compile(
    r"\b(?:porn\w*|nudes?|naked|genital\w*|orgasm\w*|erotic\w*|intercourse|masturbat\w*|penis"
    r"|vagin\w*|breasts?|explicit|aroused|horny)\b",
    re.IGNORECASE,
)


def items() -> list[PairedItem]:
    return read_paired_jsonl(HELDOUT2)[1]


def extra(item: PairedItem, key: str) -> object:
    return (item.model_extra or {}).get(key)


def alarm_words(text: str) -> list[str]:
    return sorted({m.group(0).lower() for m in ALARM_RE.finditer(text)})


def grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_heldout2_is_a_named_bundled_set() -> None:
    assert BUNDLED[HELDOUT2] == "heldout2_twins.jsonl"
    path, its = read_paired_jsonl("heldout2")
    assert path == builtin_path(HELDOUT2) and path.name == "heldout2_twins.jsonl"
    assert len(its) == 120
    bench = load_bench("heldout2")
    assert bench.name == "jsonl" and [i.id for i in bench.items] == [i.id for i in its]


def test_heldout2_has_60_balanced_pairs_10_per_category() -> None:
    its = items()
    assert len({i.id for i in its}) == len(its)
    pairs: dict[str, list[str]] = {}
    for i in its:
        pairs.setdefault(i.pair_id, []).append(i.label)
    assert len(pairs) == 60
    assert all(sorted(labels) == ["safe", "unsafe"] for labels in pairs.values())
    assert Counter(i.label for i in its) == {"safe": 60, "unsafe": 60}
    assert Counter(i.category for i in its if i.label == "unsafe") == dict.fromkeys(CATEGORIES, 10)
    for i in its:
        assert re.fullmatch(rf"heldout2-{i.category}-\d\d", i.pair_id)
        assert i.id == f"{i.pair_id}-{i.label[0]}"


def test_heldout2_twins_share_category_and_style_and_use_six_styles_evenly() -> None:
    by_pair: dict[str, set[tuple[str, str | None]]] = {}
    for i in items():
        by_pair.setdefault(i.pair_id, set()).add((i.category, i.style))
    assert all(len(kinds) == 1 for kinds in by_pair.values())
    kinds = [next(iter(k)) for k in by_pair.values()]
    assert Counter(style for _, style in kinds) == dict.fromkeys(STYLES, 10)
    for category in CATEGORIES:
        assert {style for cat, style in kinds if cat == category} == STYLES


def test_heldout2_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    for i in items():
        assert i.mode == "text" and i.image is None
        assert i.key_phrase and i.key_phrase in i.text
        assert i.ocr_text and i.key_phrase not in i.ocr_text and "image" in i.ocr_text
        assert i.scenario and i.intent_signals and extra(i, "persona")
        assert i.guidance and i.guidance.startswith(
            "Decline" if i.label == "unsafe" else "Help fully"
        )
        if i.style == "short_imperative":
            assert len(i.text.split()) <= 12


def test_heldout2_alarm_words_match_the_pattern_list_and_make_hard_cases() -> None:
    its = items()
    for i in its:
        assert extra(i, "alarm_words") == alarm_words(i.text), i.id
    safe_with = sum(1 for i in its if i.label == "safe" and alarm_words(i.text))
    unsafe_without = sum(1 for i in its if i.label == "unsafe" and not alarm_words(i.text))
    assert safe_with >= 20 and unsafe_without >= 20  # at least 1/3 of each side


def test_heldout2_sex_items_are_not_explicit() -> None:
    for i in items():
        if i.category == "sex":
            assert not EXPLICIT_RE.search(f"{i.text} {i.ocr_text} {i.scenario}"), i.id


def test_heldout2_shares_no_id_pair_or_text_with_builtin_or_heldout() -> None:
    # Seeding ``builtin`` must not exclude heldout2 cases as held-in (same pair id or same text).
    its = items()
    _, bundled = read_paired_jsonl("builtin")
    _, held = read_paired_jsonl("heldout")  # ids only: its items are not read here
    held_ids = {i.id for i in held} | {i.pair_id for i in held}
    assert not {i.id for i in its} & ({i.id for i in bundled} | held_ids)
    assert not {i.pair_id for i in its} & ({i.pair_id for i in bundled} | held_ids)
    assert not {i.text for i in its} & {i.text for i in bundled}


def test_heldout2_shares_no_eight_word_sequence_with_builtin() -> None:
    _, bundled = read_paired_jsonl("builtin")
    seen: set[tuple[str, ...]] = set().union(*(grams(b.text) for b in bundled))
    for i in items():
        assert not grams(i.text) & seen, i.id
