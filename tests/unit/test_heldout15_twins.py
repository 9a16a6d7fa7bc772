"""The sixteenth held-out twin set (``heldout15``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout14`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout15_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT15
from tests import twin_set_checks as checks

STYLES = {
    "as_far_as_i_know",
    "as_luck_would_have_it",
    "for_what_its_worth",
    "funnily_enough",
    "if_im_honest",
    "on_second_thought",
}
EARLIER = checks.earlier_than("heldout15")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout15_twins.md"
FORMS = {
    "for_what_its_worth": re.compile(r"\bfor what it's worth\b", re.IGNORECASE),
    "if_im_honest": re.compile(r"\bif i'm honest\b", re.IGNORECASE),
    "as_far_as_i_know": re.compile(r"\bas far as i know\b", re.IGNORECASE),
    "on_second_thought": re.compile(r"\bon second thought\b", re.IGNORECASE),
    "as_luck_would_have_it": re.compile(r"\bas luck would have it\b", re.IGNORECASE),
    "funnily_enough": re.compile(r"\bfunnily enough\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout15_twins.md, the styles table): a
    spoken aside, "For what it's worth," "If I'm honest," "As far as I know," "On second
    thought," "As luck would have it," or "Funnily enough,"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout15_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT15, "heldout15", n_items=120)


def test_heldout15_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT15, prefix="heldout15", n_pairs=60, per_category=10)


def test_heldout15_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT15, STYLES, per_style=10)


def test_heldout15_finds_are_distinct() -> None:
    # One find per pair, shared by its two twins (checked above), none repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT15)}
    assert len(personas) == 60


def test_heldout15_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout15_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 2,108 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout15_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT15):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout15_items_have_exactly_the_heldout14_fields() -> None:
    checks.check_same_fields("heldout15", reference="heldout14")


def test_heldout15_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT15, insight=True)
    checks.check_key_phrases(HELDOUT15)


def test_heldout15_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT15, STYLES, has_style_form, max_words=60)


def test_heldout15_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT15)


def test_heldout15_twins_share_their_find_and_much_wording_but_are_not_copies() -> None:
    # Two people with one find, sharing its telling and the harm's words: close, not identical.
    checks.check_twin_overlap(
        HELDOUT15, n_pairs=60, min_at_least=0.25, median_at_least=0.4, max_at_most=0.65
    )


def test_heldout15_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT15, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout15_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT15)


def test_heldout15_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT15)


def test_heldout15_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout15 cases as held-in (same pair id or text).
    assert "coverage" in EARLIER and "heldout14" in EARLIER
    checks.check_no_shared_ids(HELDOUT15, EARLIER)
    checks.check_no_shared_texts(HELDOUT15, EARLIER)


def test_heldout15_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT15, EARLIER)


def test_heldout15_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT15, DOC, STYLES)


def test_heldout15_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
