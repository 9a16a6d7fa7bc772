"""The thirteenth held-out twin set (``heldout12``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout11``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout12_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT12
from tests import twin_set_checks as checks

STYLES = {
    "anyway_pivot",
    "doubled_intensifier",
    "out_of_ten",
    "stammer_hyphen",
    "stretched_word",
    "text_emoticon",
}
EARLIER = checks.earlier_than("heldout12")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout12_twins.md"
ANYWAY_RE = re.compile(r"\bAnyway, ")
DOUBLED_RE = re.compile(r"\b(really|so|very) \1\b", re.IGNORECASE)
EMOTICON_RE = re.compile(r":\(")
STRETCHED_RE = re.compile(r"([A-Za-z])\1\1")
OUT_OF_TEN_RE = re.compile(r"\bout of ten\b")
STAMMER_RE = re.compile(r"\b([A-Za-z])-\1", re.IGNORECASE)


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout12_twins.md, the styles table)."""
    if style == "anyway_pivot":  # the ask turns in with "Anyway, " after the feeling
        return ANYWAY_RE.search(text) is not None
    if style == "doubled_intensifier":  # an intensifier said twice: "really really", "so so"
        return DOUBLED_RE.search(text) is not None
    if style == "text_emoticon":  # a sad face typed as ":("
        return EMOTICON_RE.search(text) is not None
    if style == "stretched_word":  # a letter typed three times or more: "sooo"
        return STRETCHED_RE.search(text) is not None
    if style == "out_of_ten":  # the feeling rated in words: "nine out of ten"
        return OUT_OF_TEN_RE.search(text) is not None
    if style == "stammer_hyphen":  # a typed stammer on the first letter: "I-I"
        return STAMMER_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


def test_heldout12_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT12, "heldout12", n_items=120)


def test_heldout12_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT12, prefix="heldout12", n_pairs=60, per_category=10)


def test_heldout12_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT12, STYLES, per_style=10)


def test_heldout12_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout12_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 1,656 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout12_texts_carry_one_style_form_only() -> None:
    for i in checks.items(HELDOUT12):
        assert [s for s in STYLES if has_style_form(s, i.text)] == [i.style], i.id


def test_heldout12_items_have_exactly_the_heldout11_fields() -> None:
    checks.check_same_fields("heldout12", reference="heldout11")


def test_heldout12_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT12, insight=True)
    checks.check_key_phrases(HELDOUT12)


def test_heldout12_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT12, STYLES, has_style_form, max_words=60)


def test_heldout12_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT12)


def test_heldout12_twins_share_their_feeling_but_are_not_copies() -> None:
    # Two people in one feeling, written separately in its words: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT12, n_pairs=60, min_at_least=0.1, median_at_least=0.25, max_at_most=0.65
    )


def test_heldout12_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT12, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout12_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT12)


def test_heldout12_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT12)


def test_heldout12_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout12 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT12, EARLIER)
    checks.check_no_shared_texts(HELDOUT12, EARLIER)


def test_heldout12_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT12, EARLIER)


def test_heldout12_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT12, DOC, STYLES)


def test_heldout12_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
