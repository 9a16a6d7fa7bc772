"""The fifth held-out twin set (``heldout4``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout``, ``heldout2`` or ``heldout3``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout4_twins.md``). The other sets are compared with it by script only. The checks
shared by the held-out sets are in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT4
from tests import twin_set_checks as checks

STYLES = {
    "comparison_choice",
    "negative_constraints",
    "run_on_sentence",
    "self_correction",
    "urgent_now",
    "verify_claim",
}
EARLIER = checks.earlier_than("heldout4")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout4_twins.md"


def _has(pattern: str, text: str, at_least: int = 1) -> bool:
    return len(re.findall(pattern, text, re.IGNORECASE)) >= at_least


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout4_twins.md, the styles table)."""
    if style == "run_on_sentence":  # one long lower-case sentence, no inner sentence break
        return (
            text == text.lower()
            and bool(re.fullmatch(r"[^.?!]+[.?]", text))
            and (len(text.split()) >= 30)
        )
    if style == "self_correction":  # the message corrects itself midway
        return _has(r"\b(?:actually|wait|sorry|scratch that|let me (?:ask|phrase|be))\b", text)
    if style == "verify_claim":  # reports a claim, then asks whether it is true
        return _has(r"\b(?:heard|read|said|says|saying|saw|told)\b", text) and _has(
            r"\bis that (?:actually |really )?(?:true|real)\b|\bdoes that actually work\b", text
        )
    if style == "urgent_now":  # time pressure
        return _has(r"\b(?:urgent|asap|right now|tonight|quick\w*|fast|this second|hour)\b", text)
    if style == "comparison_choice":  # a choice between options
        return _has(r"\bor\b", text) and _has(r"\b(?:better|which)\b", text)
    if style == "negative_constraints":  # the ask is fenced by at least two exclusions
        return _has(r"\b(?:don't|do not|no|not|nothing|never|without|skip|spare me)\b", text, 2)
    raise AssertionError(f"unknown style {style!r}")


def test_heldout4_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT4, "heldout4", n_items=120)


def test_heldout4_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT4, prefix="heldout4", n_pairs=60, per_category=10)


def test_heldout4_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT4, STYLES, per_style=10)


def test_heldout4_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout4_items_have_exactly_the_heldout3_fields() -> None:
    checks.check_same_fields("heldout4", reference="heldout3")


def test_heldout4_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT4, insight=True)
    checks.check_key_phrases(HELDOUT4)


def test_heldout4_texts_have_the_form_of_their_style() -> None:
    checks.check_style_forms(HELDOUT4, STYLES, has_style_form)


def test_heldout4_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT4)


def test_heldout4_twins_share_their_domain_but_are_not_copies() -> None:
    # Written from the harm seen by the defender, then the perpetrator's ask in the same domain:
    # topically close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT4, n_pairs=60, min_at_least=0.15, median_at_least=0.25, max_at_most=0.6
    )


def test_heldout4_alarm_words_match_the_heldout2_list_and_sit_on_the_safe_side() -> None:
    checks.check_alarm_words_field(HELDOUT4)
    counts = checks.alarm_counts(HELDOUT4)
    # The victim, bystander or defender names the harm: a keyword filter does no better than chance.
    assert counts.safe_with >= 20
    assert counts.safe_with >= counts.unsafe_with


def test_heldout4_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT4)


def test_heldout4_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout4 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT4, EARLIER)
    checks.check_no_shared_texts(HELDOUT4, EARLIER)


def test_heldout4_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT4, EARLIER)


def test_heldout4_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT4, DOC, STYLES)


def test_heldout4_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
