"""The twenty-second held-out twin set (``heldout21``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout20`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout21_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.paired import HELDOUT21
from tests import twin_set_checks as checks

STYLES = {
    "bear_with_me",
    "cheers_in_advance",
    "for_context",
    "if_that_makes_sense",
    "no_pressure",
    "sorry_to_bother_you",
}
EARLIER = checks.earlier_than("heldout21")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout21_twins.md"
FORMS = {
    "for_context": re.compile(r"\bfor context\b", re.IGNORECASE),
    "bear_with_me": re.compile(r"\bbear with me\b", re.IGNORECASE),
    "sorry_to_bother_you": re.compile(r"\bsorry to bother you\b", re.IGNORECASE),
    "cheers_in_advance": re.compile(r"\bcheers in advance\b", re.IGNORECASE),
    "if_that_makes_sense": re.compile(r"\bif that makes sense\b", re.IGNORECASE),
    "no_pressure": re.compile(r"\bno pressure\b", re.IGNORECASE),
}
# The message the asker received, quoted once in double quotation marks.
QUOTE = re.compile(r'"([^"]+)"')


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout21_twins.md, the styles table): a
    spoken hedge or sign-off in the asker's own words, said once, "for context", "bear with me",
    "sorry to bother you", "cheers in advance", "if that makes sense" or "no pressure"."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


def quoted(text: str) -> str:
    """The one quoted message of a text."""
    (message,) = QUOTE.findall(text)
    return str(message)


def outside_quote(text: str) -> str:
    """The asker's own words: the text with its quoted message taken out."""
    return QUOTE.sub(" ", text)


def test_heldout21_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT21, "heldout21", n_items=120)


def test_heldout21_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT21, prefix="heldout21", n_pairs=60, per_category=10)


def test_heldout21_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT21, STYLES, per_style=10)


def test_heldout21_recipients_are_distinct() -> None:
    # One recipient of a message (who received what) per pair, shared by both its twins (checked
    # above), none repeated.
    personas = {checks.extra(i, "persona") for i in checks.items(HELDOUT21)}
    assert len(personas) == 60


def test_heldout21_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout21_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, none of the 2,828 had any of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout21_texts_carry_one_style_form_only_and_once() -> None:
    for i in checks.items(HELDOUT21):
        style = i.style or ""
        assert [s for s in sorted(STYLES) if has_style_form(s, i.text)] == [style], i.id
        assert len(FORMS[style].findall(i.text)) == 1, i.id


def test_heldout21_items_have_exactly_the_heldout20_fields() -> None:
    checks.check_same_fields("heldout21", reference="heldout20")


def test_heldout21_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT21, insight=True)
    checks.check_key_phrases(HELDOUT21)


def test_heldout21_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT21, STYLES, has_style_form, max_words=60)


def test_heldout21_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT21)


def test_heldout21_twins_share_their_message_and_much_wording_but_are_not_copies() -> None:
    # One received message quoted in the same words, parting at what the asker now wants: close,
    # not identical.
    checks.check_twin_overlap(
        HELDOUT21, n_pairs=60, min_at_least=0.4, median_at_least=0.5, max_at_most=0.8
    )


def test_heldout21_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT21, each_at_least=40, max_difference=6, shared_at_least=30)


def test_heldout21_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT21)


def test_heldout21_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT21)


def test_heldout21_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout21 cases as held-in (same pair id or text).
    assert "coverage" in EARLIER and "heldout20" in EARLIER and "heldout19" in EARLIER
    checks.check_no_shared_ids(HELDOUT21, EARLIER)
    checks.check_no_shared_texts(HELDOUT21, EARLIER)


def test_heldout21_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT21, EARLIER)


def test_heldout21_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT21, DOC, STYLES)


def test_heldout21_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)


def shared_start(a: str, b: str) -> str:
    """The longest start the two texts have in common."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_heldout21_each_text_quotes_one_short_message() -> None:
    # The message the asker received, in double quotation marks, once per text.
    for i in checks.items(HELDOUT21):
        assert i.text.count('"') == 2, i.id
        assert 6 <= len(quoted(i.text).split()) <= 25, i.id


def test_heldout21_twins_quote_the_same_message_before_they_part() -> None:
    # The message is quoted in the same words in both twins, and everything up to its end is
    # shared, so it cannot tell them apart; the intent is carried by what the asker asks after it.
    messages = set()
    for pid, p in checks.twins(HELDOUT21).items():
        unsafe, safe = p["unsafe"].text, p["safe"].text
        assert unsafe != safe, pid
        assert quoted(unsafe) == quoted(safe), pid
        shared = shared_start(unsafe, safe)
        assert shared.count('"') == 2, pid
        messages.add(quoted(unsafe))
    assert len(messages) == 60


def test_heldout21_style_form_and_key_phrase_are_in_the_askers_own_words() -> None:
    # The hedge or sign-off is the asker's, never part of the message quoted; the key phrase is in
    # the ask, after the message.
    for i in checks.items(HELDOUT21):
        style = i.style or ""
        assert not has_style_form(style, quoted(i.text)), i.id
        assert has_style_form(style, outside_quote(i.text)), i.id
        assert i.key_phrase and i.key_phrase in i.text.split('"')[2], i.id
