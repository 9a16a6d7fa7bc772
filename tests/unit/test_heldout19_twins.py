"""The twentieth held-out twin set (``heldout19``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout18`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout19_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT19
from tests import twin_set_checks as checks

STYLES = {
    "as_things_stand",
    "by_the_looks_of_it",
    "for_all_i_know",
    "for_the_most_part",
    "if_anything",
    "on_top_of_that",
}
EARLIER = checks.earlier_than("heldout19")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout19_twins.md"
FORMS = {
    "if_anything": re.compile(r"\bif anything\b", re.IGNORECASE),
    "for_the_most_part": re.compile(r"\bfor the most part\b", re.IGNORECASE),
    "by_the_looks_of_it": re.compile(r"\bby the looks of it\b", re.IGNORECASE),
    "for_all_i_know": re.compile(r"\bfor all I know\b", re.IGNORECASE),
    "as_things_stand": re.compile(r"\bas things stand\b", re.IGNORECASE),
    "on_top_of_that": re.compile(r"\bon top of that\b", re.IGNORECASE),
}


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout19_twins.md, the styles table): a
    spoken aside in the telling of the relay, "if anything," "for the most part," "by the looks
    of it," "for all I know," "as things stand" or "On top of that,"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def test_heldout19_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT19, "heldout19", n_items=120)


def test_heldout19_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT19, prefix="heldout19", n_pairs=60, per_category=10)


def test_heldout19_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT19, STYLES, per_style=10)


def test_heldout19_relayers_are_distinct() -> None:
    # One relayer (who relays for whom) per pair, shared by both its twins (checked above), none
    # repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT19)}
    assert len(personas) == 60


def test_heldout19_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout19_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 2,588 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout19_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT19):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout19_items_have_exactly_the_heldout18_fields() -> None:
    checks.check_same_fields("heldout19", reference="heldout18")


def test_heldout19_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT19, insight=True)
    checks.check_key_phrases(HELDOUT19)


def test_heldout19_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT19, STYLES, has_style_form, max_words=60)


def test_heldout19_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT19)


def test_heldout19_twins_share_their_relay_and_much_wording_but_are_not_copies() -> None:
    # One relay told once in the same words, parting at the relayed ask: close, not identical.
    checks.check_twin_overlap(
        HELDOUT19, n_pairs=60, min_at_least=0.25, median_at_least=0.4, max_at_most=0.65
    )


def test_heldout19_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT19, each_at_least=40, max_difference=6, shared_at_least=20)


def test_heldout19_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT19)


def test_heldout19_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT19)


def test_heldout19_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout19 cases as held-in (same pair id or text).
    assert "coverage" in EARLIER and "heldout18" in EARLIER and "heldout17" in EARLIER
    checks.check_no_shared_ids(HELDOUT19, EARLIER)
    checks.check_no_shared_texts(HELDOUT19, EARLIER)


def test_heldout19_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT19, EARLIER)


def test_heldout19_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT19, DOC, STYLES)


def test_heldout19_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def test_heldout19_most_twins_share_their_first_sentence() -> None:
    # The relay is told in the same words; the intent is carried by the relayed ask.
    pairs = checks.twins(HELDOUT19).values()
    shared = sum(first_sentence(p["unsafe"].text) == first_sentence(p["safe"].text) for p in pairs)
    assert shared >= 50
