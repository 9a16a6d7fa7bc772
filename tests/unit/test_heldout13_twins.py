"""The fourteenth held-out twin set (``heldout13``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout12``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout13_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT13
from tests import twin_set_checks as checks

STYLES = {
    "between_you_and_me",
    "for_the_record",
    "heres_the_thing",
    "long_story_short",
    "mind_you",
    "truth_be_told",
}
EARLIER = checks.earlier_than("heldout13")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout13_twins.md"
FORMS = {
    "long_story_short": re.compile(r"\blong story short\b", re.IGNORECASE),
    "heres_the_thing": re.compile(r"\bhere's the thing\b", re.IGNORECASE),
    "mind_you": re.compile(r"\bmind you\b", re.IGNORECASE),
    "between_you_and_me": re.compile(r"\bbetween you and me\b", re.IGNORECASE),
    "for_the_record": re.compile(r"\bfor the record\b", re.IGNORECASE),
    "truth_be_told": re.compile(r"\btruth be told\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout13_twins.md, the styles table): a
    spoken set phrase, "Long story short," "Here's the thing," "Mind you," "Between you and me,"
    "For the record," or "Truth be told,"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout13_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT13, "heldout13", n_items=120)


def test_heldout13_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT13, prefix="heldout13", n_pairs=60, per_category=10)


def test_heldout13_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT13, STYLES, per_style=10)


def test_heldout13_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout13_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 1,776 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout13_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT13):
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [i.style], i.id
        assert len(FORMS[i.style].findall(i.text)) == 1, i.id


def test_heldout13_items_have_exactly_the_heldout12_fields() -> None:
    checks.check_same_fields("heldout13", reference="heldout12")


def test_heldout13_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT13, insight=True)
    checks.check_key_phrases(HELDOUT13)


def test_heldout13_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT13, STYLES, has_style_form, max_words=60)


def test_heldout13_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT13)


def test_heldout13_twins_share_their_rule_but_are_not_copies() -> None:
    # Two people naming one rule and the harm it prevents, written separately: close, not a
    # minimal edit.
    checks.check_twin_overlap(
        HELDOUT13, n_pairs=60, min_at_least=0.1, median_at_least=0.25, max_at_most=0.65
    )


def test_heldout13_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT13, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout13_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT13)


def test_heldout13_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT13)


def test_heldout13_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout13 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT13, EARLIER)
    checks.check_no_shared_texts(HELDOUT13, EARLIER)


def test_heldout13_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT13, EARLIER)


def test_heldout13_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT13, DOC, STYLES)


def test_heldout13_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
