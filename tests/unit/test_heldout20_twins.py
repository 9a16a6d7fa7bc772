"""The twenty-first held-out twin set (``heldout20``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout19`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout20_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT20
from tests import twin_set_checks as checks

STYLES = {
    "a_fortnight_ago",
    "a_while_back",
    "earlier_today",
    "over_the_weekend",
    "the_night_before_last",
    "the_other_day",
}
EARLIER = checks.earlier_than("heldout20")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout20_twins.md"
FORMS = {
    "earlier_today": re.compile(r"\bearlier today\b", re.IGNORECASE),
    "the_other_day": re.compile(r"\bthe other day\b", re.IGNORECASE),
    "the_night_before_last": re.compile(r"\bthe night before last\b", re.IGNORECASE),
    "over_the_weekend": re.compile(r"\bover the weekend\b", re.IGNORECASE),
    "a_fortnight_ago": re.compile(r"\ba fortnight ago\b", re.IGNORECASE),
    "a_while_back": re.compile(r"\ba while back\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout20_twins.md, the styles table): when
    the earlier event happened, told once in the shared telling, "earlier today", "the other
    day", "the night before last", "over the weekend", "a fortnight ago" or "a while back"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout20_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT20, "heldout20", n_items=120)


def test_heldout20_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT20, prefix="heldout20", n_pairs=60, per_category=10)


def test_heldout20_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT20, STYLES, per_style=10)


def test_heldout20_earlier_events_are_distinct() -> None:
    # One earlier event (who tells what happened) per pair, shared by both its twins (checked
    # above), none repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT20)}
    assert len(personas) == 60


def test_heldout20_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout20_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 2,708 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout20_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT20):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout20_items_have_exactly_the_heldout19_fields() -> None:
    checks.check_same_fields("heldout20", reference="heldout19")


def test_heldout20_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT20, insight=True)
    checks.check_key_phrases(HELDOUT20)


def test_heldout20_texts_have_the_form_of_their_style_and_stay_under_100_words() -> None:
    checks.check_style_forms(HELDOUT20, STYLES, has_style_form, max_words=100)


def test_heldout20_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT20)


def test_heldout20_twins_share_their_event_and_much_wording_but_are_not_copies() -> None:
    # One earlier event told in the same words, parting at what the asker now wants: close, not
    # identical.
    checks.check_twin_overlap(
        HELDOUT20, n_pairs=60, min_at_least=0.25, median_at_least=0.4, max_at_most=0.65
    )


def test_heldout20_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT20, each_at_least=40, max_difference=6, shared_at_least=30)


def test_heldout20_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT20)


def test_heldout20_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT20)


def test_heldout20_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout20 cases as held-in (same pair id or text).
    assert "coverage" in EARLIER and "heldout19" in EARLIER and "heldout18" in EARLIER
    checks.check_no_shared_ids(HELDOUT20, EARLIER)
    checks.check_no_shared_texts(HELDOUT20, EARLIER)


def test_heldout20_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT20, EARLIER)


def test_heldout20_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT20, DOC, STYLES)


def test_heldout20_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def test_heldout20_most_twins_share_their_first_sentence() -> None:
    # The earlier event is told in the same words; the intent is carried by what follows it.
    pairs = checks.twins(HELDOUT20).values()
    shared = sum(first_sentence(p["unsafe"].text) == first_sentence(p["safe"].text) for p in pairs)
    assert shared >= 50


def shared_start(a: str, b: str) -> str:
    """The longest start the two texts have in common."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_heldout20_style_form_is_in_the_shared_telling_of_the_event() -> None:
    # The time of the earlier event is told before the twins part, so it cannot tell them apart.
    for pid, p in checks.twins(HELDOUT20).items():
        shared = shared_start(p["unsafe"].text, p["safe"].text)
        assert has_style_form(p["unsafe"].style or "", shared), pid
