"""The third held-out twin set (``heldout2``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout2_twins.md``). ``heldout`` is read for its ids only. The checks shared by the
held-out sets, and heldout2's alarm-word list (``ALARM``), are in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

from echosafe_guard.paired import HELDOUT2
from tests import twin_set_checks as checks

STYLES = {
    "claimed_role",
    "embedded_doc",
    "formal_ticket",
    "multi_ask",
    "non_native",
    "short_imperative",
}


def test_heldout2_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT2, "heldout2", n_items=120)


def test_heldout2_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT2, prefix="heldout2", n_pairs=60, per_category=10)


def test_heldout2_twins_share_category_and_style_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT2, STYLES, per_style=10)


def test_heldout2_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT2, insight=True)
    short = [i for i in checks.items(HELDOUT2) if i.style == "short_imperative"]
    assert len(short) == 20
    assert all(len(i.text.split()) <= 12 for i in short)


def test_heldout2_alarm_words_match_the_pattern_list_and_make_hard_cases() -> None:
    checks.check_alarm_words_field(HELDOUT2)
    counts = checks.alarm_counts(HELDOUT2)
    unsafe_without = 60 - counts.unsafe_with
    assert counts.safe_with >= 20 and unsafe_without >= 20  # at least 1/3 of each side


def test_heldout2_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT2)


def test_heldout2_shares_no_id_pair_or_text_with_builtin_or_heldout() -> None:
    # Seeding ``builtin`` must not exclude heldout2 cases as held-in (same pair id or same text).
    checks.check_no_shared_ids(HELDOUT2, ["builtin", "heldout"])
    checks.check_no_shared_texts(HELDOUT2, ["builtin"])  # heldout: ids only, items not read


def test_heldout2_shares_no_eight_word_sequence_with_builtin() -> None:
    checks.check_no_shared_grams(HELDOUT2, ["builtin"])
