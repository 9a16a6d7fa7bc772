"""The twenty-second held-out twin set (``heldout21``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout20`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout21_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

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


# What each style looks like on the surface (docs/heldout21_twins.md, the styles table): a spoken
# hedge or sign-off in the asker's own words, said once, "for context", "bear with me", "sorry to
# bother you", "cheers in advance", "if that makes sense" or "no pressure".
has_style_form = checks.style_form_checker(FORMS)


def quoted(text: str) -> str:
    """The one quoted message of a text."""
    (message,) = QUOTE.findall(text)
    return str(message)


def outside_quote(text: str) -> str:
    """The asker's own words: the text with its quoted message taken out."""
    return QUOTE.sub(" ", text)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT21,
    name="heldout21",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,828 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout20",
    max_words=60,
    # One received message quoted in the same words, parting at what the asker now wants: close, not
    # identical.
    min_overlap=0.4,
    median_overlap=0.5,
    max_overlap=0.8,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=30,
    earlier_includes=("coverage", "heldout20", "heldout19"),
    # One recipient of a message (who received what) per pair, shared by both its twins, none
    # repeated.
    distinct_personas=True,
)


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
        shared = checks.shared_start(unsafe, safe)
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
