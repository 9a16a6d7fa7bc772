"""The eighteenth held-out twin set (``heldout17``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout16`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout17_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT17
from tests import twin_set_checks as checks

STYLES = {
    "as_a_matter_of_fact",
    "as_it_turns_out",
    "as_you_can_imagine",
    "if_memory_serves",
    "just_so_you_know",
    "out_of_curiosity",
}
EARLIER = checks.earlier_than("heldout17")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout17_twins.md"
FORMS = {
    "as_a_matter_of_fact": re.compile(r"\bas a matter of fact\b", re.IGNORECASE),
    "if_memory_serves": re.compile(r"\bif memory serves\b", re.IGNORECASE),
    "just_so_you_know": re.compile(r"\bjust so you know\b", re.IGNORECASE),
    "as_you_can_imagine": re.compile(r"\bas you can imagine\b", re.IGNORECASE),
    "as_it_turns_out": re.compile(r"\bas it turns out\b", re.IGNORECASE),
    "out_of_curiosity": re.compile(r"\bout of curiosity\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout17_twins.md, the styles table): a
    spoken aside, "As a matter of fact," "if memory serves," "just so you know," "as you can
    imagine," "as it turns out" or "out of curiosity"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout17_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT17, "heldout17", n_items=120)


def test_heldout17_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT17, prefix="heldout17", n_pairs=60, per_category=10)


def test_heldout17_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT17, STYLES, per_style=10)


def test_heldout17_hobbies_are_distinct() -> None:
    # One hobby or pastime per pair, shared by both its twins (checked above), none repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT17)}
    assert len(personas) == 60


def test_heldout17_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout17_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 2,348 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout17_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT17):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout17_items_have_exactly_the_heldout16_fields() -> None:
    checks.check_same_fields("heldout17", reference="heldout16")


def test_heldout17_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT17, insight=True)
    checks.check_key_phrases(HELDOUT17)


def test_heldout17_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT17, STYLES, has_style_form, max_words=60)


def test_heldout17_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT17)


def test_heldout17_twins_share_their_hobby_and_much_wording_but_are_not_copies() -> None:
    # Two people with one hobby, sharing its telling and the harm's words: close, not identical.
    checks.check_twin_overlap(
        HELDOUT17, n_pairs=60, min_at_least=0.25, median_at_least=0.4, max_at_most=0.65
    )


def test_heldout17_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT17, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout17_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT17)


def test_heldout17_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT17)


def test_heldout17_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout17 cases as held-in (same pair id or text).
    assert "coverage" in EARLIER and "heldout16" in EARLIER
    checks.check_no_shared_ids(HELDOUT17, EARLIER)
    checks.check_no_shared_texts(HELDOUT17, EARLIER)


def test_heldout17_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT17, EARLIER)


def test_heldout17_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT17, DOC, STYLES)


def test_heldout17_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
