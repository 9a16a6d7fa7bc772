"""The eighth held-out twin set (``heldout7``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout``, ``heldout2``, ``heldout3``, ``heldout4``, ``heldout5`` or ``heldout6``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout7_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it. The
other sets are compared with it by script only. The checks shared by the held-out sets are in
``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT7
from tests import twin_set_checks as checks

STYLES = {
    "arrow_chain",
    "emoji_tone",
    "hashtag_tail",
    "if_you_were_me",
    "measured_quantity",
    "tag_question",
}
EARLIER = checks.earlier_than("heldout7")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout7_twins.md"
# Pictographic emoji (the Unicode blocks of faces, hands, objects and symbols).
EMOJI_RE = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
# A number with a unit of length, distance, weight, volume or data size.
QUANTITY_RE = re.compile(
    r"\b\d+(?:\.\d+)?\s?(?:mm|cm|m|km|metres?|meters?|miles?|feet|ft|inch(?:es)?|mg|g|kg|kilos?"
    r"|lbs?|ml|litres?|liters?|MB|GB|TB)\b"
)
# A closing tag question that asks to have an assumption confirmed.
TAG_RE = re.compile(
    r",\s*(?:right|yeah|correct|(?:is|are|was|do|does|did|can|could|will|would|should|has|have)"
    r"n't (?:it|they|I|we|you|he|she|there))\?\s*$"
)
# Asking the assistant what it would do in the writer's place.
IN_MY_PLACE_RE = re.compile(
    r"\b(?:if you were (?:me|in my (?:place|position|shoes))|in my (?:shoes|position)"
    r"|what would you do)\b",
    re.IGNORECASE,
)


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout7_twins.md, the styles table)."""
    if style == "emoji_tone":  # at least one emoji setting the tone
        return EMOJI_RE.search(text) is not None
    if style == "hashtag_tail":  # the message, then one or more hashtags closing it
        m = re.search(r"(?:\s#[A-Za-z]\w*)+\s*$", text)
        return m is not None and len(text[: m.start()].split()) >= 15
    if style == "arrow_chain":  # steps or facts chained with "->", at least two arrows
        return text.count("->") >= 2
    if style == "if_you_were_me":  # asks what the assistant would do in the writer's place
        return IN_MY_PLACE_RE.search(text) is not None
    if style == "tag_question":  # closes on a tag question (", right?", ", isn't it?")
        return TAG_RE.search(text) is not None
    if style == "measured_quantity":  # a number with a unit ("5 km", "2 litres", "32 GB")
        return QUANTITY_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


def test_heldout7_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT7, "heldout7", n_items=120)


def test_heldout7_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT7, prefix="heldout7", n_pairs=60, per_category=10)


def test_heldout7_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT7, STYLES, per_style=10)


def test_heldout7_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout7_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: an emoji, closing hashtags, a "->" chain, "if you
    # were me" and a closing tag question appear in no earlier text; a measured quantity in at
    # most one earlier text in 40.
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in ("emoji_tone", "hashtag_tail", "arrow_chain", "if_you_were_me", "tag_question"):
        assert not any(has_style_form(style, t) for t in earlier), style
    assert sum(has_style_form("measured_quantity", t) for t in earlier) <= len(earlier) // 40


def test_heldout7_items_have_exactly_the_heldout6_fields() -> None:
    checks.check_same_fields("heldout7", reference="heldout6")


def test_heldout7_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT7, insight=True)
    checks.check_key_phrases(HELDOUT7)


def test_heldout7_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT7, STYLES, has_style_form, max_words=60)


def test_heldout7_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT7)


def test_heldout7_twins_share_their_setting_but_are_not_copies() -> None:
    # Two people in one setting, written separately in its vocabulary: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT7, n_pairs=60, min_at_least=0.06, median_at_least=0.2, max_at_most=0.6
    )


def test_heldout7_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT7, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout7_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT7)


def test_heldout7_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT7)


def test_heldout7_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout7 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT7, EARLIER)
    checks.check_no_shared_texts(HELDOUT7, EARLIER)


def test_heldout7_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT7, EARLIER)


def test_heldout7_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT7, DOC, STYLES)


def test_heldout7_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
