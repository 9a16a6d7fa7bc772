"""The ninth held-out twin set (``heldout8``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout7``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout8_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it. The
other sets are compared with it by script only. The checks shared by the held-out sets are in
``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT8
from tests import twin_set_checks as checks

STYLES = {
    "bracket_label",
    "ellipsis_pauses",
    "ps_postscript",
    "quoted_words",
    "slash_alternatives",
    "weekday_deadline",
}
EARLIER = checks.earlier_than("heldout8")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout8_twins.md"
BRACKET_RE = re.compile(r"^\[[A-Za-z][^\]\n]{1,30}\]\s")
QUOTE_RE = re.compile(r'"([^"]+)"')
DEADLINE_RE = re.compile(
    r"\b(?:by|before|until|till)\s+(?:(?:this|next)\s+)?(?:monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday|tonight|tomorrow|\d{1,2}(?::\d\d)?\s?(?:am|pm))\b",
    re.IGNORECASE,
)
SLASH_RE = re.compile(r"\b[A-Za-z]+/[A-Za-z]+\b")
PS_RE = re.compile(r"\sP\.?S\.?:?\s")


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout8_twins.md, the styles table)."""
    if style == "bracket_label":  # opens with a bracketed label: "[Quick one] ..."
        return BRACKET_RE.match(text) is not None
    if style == "quoted_words":  # someone's exact words, four or more, in straight quotes
        return any(len(q.split()) >= 4 for q in QUOTE_RE.findall(text))
    if style == "weekday_deadline":  # by / before / until a weekday, tonight, tomorrow, a time
        return DEADLINE_RE.search(text) is not None
    if style == "slash_alternatives":  # alternatives joined by "/", at least twice
        return len(SLASH_RE.findall(text)) >= 2
    if style == "ps_postscript":  # a "PS" / "P.S." afterthought after at least 12 words
        m = PS_RE.search(text)
        return m is not None and len(text[: m.start()].split()) >= 12
    if style == "ellipsis_pauses":  # trailing-off pauses: "..." at least twice
        return text.count("...") >= 2
    raise AssertionError(f"unknown style {style!r}")


def test_heldout8_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT8, "heldout8", n_items=120)


def test_heldout8_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT8, prefix="heldout8", n_pairs=60, per_category=10)


def test_heldout8_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT8, STYLES, per_style=10)


def test_heldout8_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout8_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: a bracketed opening label, "/" alternatives, a PS
    # and "..." pauses appear in no earlier text; a quotation of four or more words and a
    # weekday deadline in at most one earlier text in 40.
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in ("bracket_label", "slash_alternatives", "ps_postscript", "ellipsis_pauses"):
        assert not any(has_style_form(style, t) for t in earlier), style
    for style in ("quoted_words", "weekday_deadline"):
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout8_items_have_exactly_the_heldout7_fields() -> None:
    checks.check_same_fields("heldout8", reference="heldout7")


def test_heldout8_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT8, insight=True)
    checks.check_key_phrases(HELDOUT8)


def test_heldout8_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT8, STYLES, has_style_form, max_words=60)


def test_heldout8_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT8)


def test_heldout8_twins_share_their_capability_but_are_not_copies() -> None:
    # Two people who need one capability, written separately: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT8, n_pairs=60, min_at_least=0.06, median_at_least=0.2, max_at_most=0.6
    )


def test_heldout8_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT8, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout8_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT8)


def test_heldout8_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT8)


def test_heldout8_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout8 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT8, EARLIER)
    checks.check_no_shared_texts(HELDOUT8, EARLIER)


def test_heldout8_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT8, EARLIER)


def test_heldout8_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT8, DOC, STYLES)


def test_heldout8_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
