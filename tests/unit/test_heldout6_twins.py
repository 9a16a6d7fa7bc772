"""The seventh held-out twin set (``heldout6``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout``, ``heldout2``, ``heldout3``, ``heldout4`` or ``heldout5``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout6_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it. The
other sets are compared with it by script only. The checks shared by the held-out sets are in
``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT6
from tests import twin_set_checks as checks

STYLES = {
    "caps_emphasis",
    "edit_addendum",
    "money_figure",
    "tldr_summary",
    "topic_colon_lead",
    "we_plural",
}
EARLIER = checks.earlier_than("heldout6")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout6_twins.md"
# Words written in capitals for emphasis (case-sensitive: ``not`` is not ``NOT``).
CAPS_RE = re.compile(
    r"\b(?:NOT|NEVER|ONLY|REALLY|ACTUALLY|ALWAYS|ALL|ANY|NO|NOTHING|NEED|REAL|FAST|MUST|EVERY)\b"
)


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout6_twins.md, the styles table)."""
    if style == "topic_colon_lead":  # opens with a two- or three-word label, a colon, the message
        return re.match(r"[A-Z][\w'-]*(?: [\w'-]+){1,2}: (?:[a-z]|I\b)", text) is not None
    if style == "money_figure":  # names a sum of money
        return re.search(r"[$£€]\s?\d", text) is not None
    if style == "tldr_summary":  # the body, then a "TL;DR" restating the ask
        m = re.search(r"\btl;dr\b", text, re.IGNORECASE)
        return (
            m is not None
            and len(text[: m.start()].split()) >= 15
            and len(text[m.end() :].split()) >= 3
        )
    if style == "edit_addendum":  # the body, then an "EDIT:" added to it
        m = re.search(r"\bEDIT:", text)
        return (
            m is not None
            and len(text[: m.start()].split()) >= 10
            and len(text[m.end() :].split()) >= 3
        )
    if style == "we_plural":  # written as "we", with no first person singular
        we = re.findall(r"\b(?:we|we're|we've|our|us)\b", text, re.IGNORECASE)
        return len(we) >= 2 and not re.search(r"\bI\b|\b(?i:me|my|mine)\b", text)
    if style == "caps_emphasis":  # a word in capitals for emphasis
        return CAPS_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


def test_heldout6_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT6, "heldout6", n_items=120)


def test_heldout6_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT6, prefix="heldout6", n_pairs=60, per_category=10)


def test_heldout6_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT6, STYLES, per_style=10)


def test_heldout6_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout6_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: a TL;DR, an EDIT: and a word in capitals for emphasis
    # appear in no earlier text; a leading topic label, a sum of money and "we" throughout in at
    # most one earlier text in 40.
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in ("tldr_summary", "edit_addendum", "caps_emphasis"):
        assert not any(has_style_form(style, t) for t in earlier), style
    for style in ("topic_colon_lead", "money_figure", "we_plural"):
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout6_items_have_exactly_the_heldout5_fields() -> None:
    checks.check_same_fields("heldout6", reference="heldout5")


def test_heldout6_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT6, insight=True)
    checks.check_key_phrases(HELDOUT6)


def test_heldout6_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT6, STYLES, has_style_form, max_words=60)


def test_heldout6_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT6)


def test_heldout6_twins_share_their_topic_but_are_not_copies() -> None:
    # Two requests written back from two replies on one topic: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT6, n_pairs=60, min_at_least=0.12, median_at_least=0.25, max_at_most=0.6
    )


def test_heldout6_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT6, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout6_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT6)


def test_heldout6_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT6)


def test_heldout6_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout6 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT6, EARLIER)
    checks.check_no_shared_texts(HELDOUT6, EARLIER)


def test_heldout6_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT6, EARLIER)


def test_heldout6_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT6, DOC, STYLES)


def test_heldout6_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
