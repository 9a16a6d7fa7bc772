"""The eleventh held-out twin set (``heldout10``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout9``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout10_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT10
from tests import twin_set_checks as checks

STYLES = {
    "ampersand_chain",
    "asterisk_emphasis",
    "eg_example",
    "question_burst",
    "tilde_approx",
    "times_multiplier",
}
EARLIER = checks.earlier_than("heldout10")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout10_twins.md"
ASTERISK_RE = re.compile(r"(?<![\w*])\*[A-Za-z][A-Za-z']*\*(?![\w*])")
TIMES_RE = re.compile(r"\b\d+x\b")
TILDE_RE = re.compile(r"~\d")
EG_RE = re.compile(r"(?<!\w)e\.g\.")


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout10_twins.md, the styles table)."""
    if style == "ampersand_chain":  # items joined with " & ", at least twice: "keys & post & bills"
        return text.count(" & ") >= 2
    if style == "question_burst":  # three or more questions, each ending in "?"
        return text.count("?") >= 3
    if style == "asterisk_emphasis":  # one word in asterisks for emphasis: "*never*"
        return ASTERISK_RE.search(text) is not None
    if style == "times_multiplier":  # a multiplier written with "x": "2x", "3x"
        return TIMES_RE.search(text) is not None
    if style == "tilde_approx":  # an approximate figure marked with a tilde: "~40", "~3 weeks"
        return TILDE_RE.search(text) is not None
    if style == "eg_example":  # an example introduced by "e.g."
        return EG_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


def test_heldout10_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT10, "heldout10", n_items=120)


def test_heldout10_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT10, prefix="heldout10", n_pairs=60, per_category=10)


def test_heldout10_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT10, STYLES, per_style=10)


def test_heldout10_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout10_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none did).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout10_texts_carry_one_style_form_only() -> None:
    for i in checks.items(HELDOUT10):
        assert [s for s in STYLES if has_style_form(s, i.text)] == [i.style], i.id


def test_heldout10_items_have_exactly_the_heldout9_fields() -> None:
    checks.check_same_fields("heldout10", reference="heldout9")


def test_heldout10_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT10, insight=True)
    checks.check_key_phrases(HELDOUT10)


def test_heldout10_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT10, STYLES, has_style_form, max_words=60)


def test_heldout10_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT10)


def test_heldout10_twins_share_their_relationship_but_are_not_copies() -> None:
    # Two people in one kind of relationship, written separately: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT10, n_pairs=60, min_at_least=0.06, median_at_least=0.2, max_at_most=0.6
    )


def test_heldout10_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT10, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout10_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT10)


def test_heldout10_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT10)


def test_heldout10_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout10 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT10, EARLIER)
    checks.check_no_shared_texts(HELDOUT10, EARLIER)


def test_heldout10_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT10, EARLIER)


def test_heldout10_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT10, DOC, STYLES)


def test_heldout10_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
