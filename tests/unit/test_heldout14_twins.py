"""The fifteenth held-out twin set (``heldout14``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout13``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout14_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT14
from tests import twin_set_checks as checks

STYLES = {
    "as_it_happens",
    "at_the_end_of_the_day",
    "believe_it_or_not",
    "in_the_meantime",
    "needless_to_say",
    "to_make_matters_worse",
}
EARLIER = checks.earlier_than("heldout14")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout14_twins.md"
FORMS = {
    "needless_to_say": re.compile(r"\bneedless to say\b", re.IGNORECASE),
    "believe_it_or_not": re.compile(r"\bbelieve it or not\b", re.IGNORECASE),
    "as_it_happens": re.compile(r"\bas it happens\b", re.IGNORECASE),
    "at_the_end_of_the_day": re.compile(r"\bat the end of the day\b", re.IGNORECASE),
    "to_make_matters_worse": re.compile(r"\bto make matters worse\b", re.IGNORECASE),
    "in_the_meantime": re.compile(r"\bin the meantime\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout14_twins.md, the styles table): a
    spoken linking phrase, "Needless to say," "Believe it or not," "As it happens," "At the end of
    the day," "To make matters worse," or "In the meantime,"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout14_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT14, "heldout14", n_items=120)


def test_heldout14_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT14, prefix="heldout14", n_pairs=60, per_category=10)


def test_heldout14_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT14, STYLES, per_style=10)


def test_heldout14_life_events_are_distinct() -> None:
    # One life event per pair, shared by its two twins (checked above), none repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT14)}
    assert len(personas) == 60


def test_heldout14_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout14_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 1,896 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout14_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT14):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout14_items_have_exactly_the_heldout13_fields() -> None:
    checks.check_same_fields("heldout14", reference="heldout13")


def test_heldout14_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT14, insight=True)
    checks.check_key_phrases(HELDOUT14)


def test_heldout14_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT14, STYLES, has_style_form, max_words=60)


def test_heldout14_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT14)


def test_heldout14_twins_share_their_life_event_but_are_not_copies() -> None:
    # Two people going through one life event, written separately: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT14, n_pairs=60, min_at_least=0.1, median_at_least=0.25, max_at_most=0.65
    )


def test_heldout14_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT14, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout14_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT14)


def test_heldout14_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT14)


def test_heldout14_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout14 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT14, EARLIER)
    checks.check_no_shared_texts(HELDOUT14, EARLIER)


def test_heldout14_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT14, EARLIER)


def test_heldout14_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT14, DOC, STYLES)


def test_heldout14_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
