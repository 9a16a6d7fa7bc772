"""The tenth held-out twin set (``heldout9``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout8``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout9_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it. The
other sets are compared with it by script only. The checks shared by the held-out sets are in
``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT9
from tests import twin_set_checks as checks

STYLES = {
    "at_handle",
    "em_dash_asides",
    "exclaim_twice",
    "firstly_secondly",
    "plus_chain",
    "semicolon_chain",
}
EARLIER = checks.earlier_than("heldout9")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout9_twins.md"
EXCLAIM_RE = re.compile(r"!(?=\s|$)")
HANDLE_RE = re.compile(r"(?<!\w)@[A-Za-z_][A-Za-z0-9_]{1,20}")
FIRSTLY_RE = re.compile(r"\bFirstly\b")
SECONDLY_RE = re.compile(r"\bSecondly\b")


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout9_twins.md, the styles table)."""
    if style == "semicolon_chain":  # clauses joined by semicolons, at least two
        return text.count(";") >= 2
    if style == "exclaim_twice":  # at least two sentences ending in "!"
        return len(EXCLAIM_RE.findall(text)) >= 2
    if style == "at_handle":  # addresses or mentions someone by an @handle: "@deskteam"
        return HANDLE_RE.search(text) is not None
    if style == "plus_chain":  # items joined with " + ", at least twice: "date + time + place"
        return text.count(" + ") >= 2
    if style == "firstly_secondly":  # "Firstly, ... Secondly, ..."
        return FIRSTLY_RE.search(text) is not None and SECONDLY_RE.search(text) is not None
    if style == "em_dash_asides":  # asides set off by em dashes, at least two
        return text.count("\u2014") >= 2
    raise AssertionError(f"unknown style {style!r}")


def test_heldout9_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT9, "heldout9", n_items=120)


def test_heldout9_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT9, prefix="heldout9", n_pairs=60, per_category=10)


def test_heldout9_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT9, STYLES, per_style=10)


def test_heldout9_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout9_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none did).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout9_texts_carry_one_style_form_only() -> None:
    for i in checks.items(HELDOUT9):
        assert [s for s in STYLES if has_style_form(s, i.text)] == [i.style], i.id


def test_heldout9_items_have_exactly_the_heldout8_fields() -> None:
    checks.check_same_fields("heldout9", reference="heldout8")


def test_heldout9_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT9, insight=True)
    checks.check_key_phrases(HELDOUT9)


def test_heldout9_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT9, STYLES, has_style_form, max_words=60)


def test_heldout9_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT9)


def test_heldout9_twins_share_their_event_but_are_not_copies() -> None:
    # Two people caught up in one event, written separately: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT9, n_pairs=60, min_at_least=0.06, median_at_least=0.2, max_at_most=0.6
    )


def test_heldout9_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT9, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout9_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT9)


def test_heldout9_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT9)


def test_heldout9_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout9 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT9, EARLIER)
    checks.check_no_shared_texts(HELDOUT9, EARLIER)


def test_heldout9_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT9, EARLIER)


def test_heldout9_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT9, DOC, STYLES)


def test_heldout9_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
