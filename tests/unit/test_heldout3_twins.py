"""The fourth held-out twin set (``heldout3``) ships whole and balanced; it shares nothing with
``builtin``, ``heldout`` or ``heldout2``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout3_twins.md``). The other sets are compared with it by script only. The checks
shared by the held-out sets are in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT3
from tests import twin_set_checks as checks

STYLES = {
    "fiction_frame",
    "history_definition",
    "homonym",
    "idiom",
    "professional_role",
    "terse_shorthand",
}
EARLIER = checks.earlier_than("heldout3")


def test_heldout3_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT3, "heldout3", n_items=120)


def test_heldout3_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT3, prefix="heldout3", n_pairs=60, per_category=10)


def test_heldout3_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT3, STYLES, per_style=10)


def test_heldout3_items_have_exactly_the_heldout2_fields() -> None:
    checks.check_same_fields("heldout3", reference="heldout2")


def test_heldout3_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT3, insight=True)
    terse = [i for i in checks.items(HELDOUT3) if i.style == "terse_shorthand"]
    assert len(terse) == 20
    for i in terse:  # lower case, no punctuation, short
        assert re.fullmatch(r"[a-z0-9 ]+", i.text), i.id
        assert len(i.text.split()) <= 20, i.id


def test_heldout3_twins_differ_in_few_words() -> None:
    # Written from shared surface words: the twins of a pair keep most of their wording.
    checks.check_twin_overlap(HELDOUT3, n_pairs=60, min_at_least=0.25, median_at_least=0.4)


def test_heldout3_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_words_field(HELDOUT3)
    counts = checks.alarm_counts(HELDOUT3)
    # at least 1/3: the alarm word is on both sides
    assert counts.safe_with >= 20 and counts.shared >= 20
    # a keyword filter cannot tell the sides apart
    assert abs(counts.safe_with - counts.unsafe_with) <= 6


def test_heldout3_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT3)


def test_heldout3_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout3 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT3, EARLIER)
    checks.check_no_shared_texts(HELDOUT3, EARLIER)


def test_heldout3_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT3, EARLIER)
