"""The held-out twin set (``heldout``) ships whole and balanced; it shares nothing with
``builtin``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout_twins.md``). The checks shared by the held-out sets are in
``tests/twin_set_checks.py``.
"""

from __future__ import annotations

from echosafe_guard.paired import HELDOUT
from tests import twin_set_checks as checks

STYLES = {
    "backstory",
    "casual_chat",
    "code",
    "email_forum",
    "follow_up",
    "hypothetical_or_table",
    "search_query",
    "task_spec",
}


def test_heldout_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT, "heldout", n_items=144)


def test_heldout_has_72_balanced_pairs_12_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT, prefix="heldout", n_pairs=72, per_category=12)


def test_heldout_twins_share_category_and_style_and_use_eight_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT, STYLES, per_style=9)


def test_heldout_items_run_in_genocr_mode_and_carry_no_insight() -> None:
    # No hand-written insight: the set is not meant to be seeded (docs/heldout_twins.md).
    checks.check_genocr_fields(HELDOUT, insight=False)


def test_heldout_shares_no_id_pair_or_text_with_builtin() -> None:
    # Seeding ``builtin`` must not exclude held-out cases as held-in (same pair id or same text).
    checks.check_no_shared_ids(HELDOUT, ["builtin"])
    checks.check_no_shared_texts(HELDOUT, ["builtin"])
