"""The sixth held-out twin set (``heldout5``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout``, ``heldout2``, ``heldout3`` or ``heldout4``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout5_twins.md``). The other sets are compared with it by script only. The checks
shared by the held-out sets are in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT5
from tests import twin_set_checks as checks

STYLES = {
    "analogy_frame",
    "complaint_vent",
    "greeting_signoff",
    "numbered_count",
    "parenthetical_asides",
    "yes_no_then_how",
}
EARLIER = checks.earlier_than("heldout5")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout5_twins.md"


def _has(pattern: str, text: str, at_least: int = 1) -> bool:
    return len(re.findall(pattern, text, re.IGNORECASE)) >= at_least


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout5_twins.md, the styles table)."""
    if style == "greeting_signoff":  # opens with a greeting, the last sentence thanks
        last = re.split(r"(?<=[.?!])\s+", text.strip())[-1]
        return _has(r"^(?:hi|hello|hey|good (?:morning|afternoon|evening))\b", text) and _has(
            r"\b(?:thanks|thank you|cheers|much appreciated)\b", last
        )
    if style == "complaint_vent":  # a grievance the ask grows out of
        return _has(r"\b(?:fed up|sick of|tired of|annoy\w*|ridiculous|furious|had enough)\b", text)
    if style == "numbered_count":  # asks for an exact number of things
        return _has(
            r"\b(?:three|four|five|ten)\s+(?:[\w'-]+\s+){0,2}(?:ways|things|insults|kinds|rules"
            r"|steps|lines|sites|reviews|replies|reasons|medicines|faults)\b",
            text,
        )
    if style == "parenthetical_asides":  # at least two asides in brackets
        return len(re.findall(r"\([^()]+\)", text)) >= 2
    if style == "yes_no_then_how":  # a yes/no question, then "if so, ..."
        return "?" in text and _has(r"\bif so\b", text)
    if style == "analogy_frame":  # opens by likening the ask to something ordinary
        return _has(r"^(?:the (?:same )?way|just like|kind of like|like how|similar to)\b", text)
    raise AssertionError(f"unknown style {style!r}")


def test_heldout5_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT5, "heldout5", n_items=120)


def test_heldout5_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT5, prefix="heldout5", n_pairs=60, per_category=10)


def test_heldout5_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT5, STYLES, per_style=10)


def test_heldout5_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout5_items_have_exactly_the_heldout4_fields() -> None:
    checks.check_same_fields("heldout5", reference="heldout4")


def test_heldout5_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT5, insight=True)
    checks.check_key_phrases(HELDOUT5)


def test_heldout5_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT5, STYLES, has_style_form, max_words=60)


def test_heldout5_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT5)


def test_heldout5_twins_share_their_premise_but_are_not_copies() -> None:
    # One shared premise forking at the ask: topically close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT5, n_pairs=60, min_at_least=0.12, median_at_least=0.25, max_at_most=0.6
    )


def test_heldout5_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT5, each_at_least=20, max_difference=6, shared_at_least=10)


def test_heldout5_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT5)


def test_heldout5_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT5)


def test_heldout5_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout5 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT5, EARLIER)
    checks.check_no_shared_texts(HELDOUT5, EARLIER)


def test_heldout5_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT5, EARLIER)


def test_heldout5_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT5, DOC, STYLES)


def test_heldout5_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
