"""The thirty-first held-out twin set (``heldout30``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout29`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout30_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``. It was written in parallel with ``heldout29``, which its helper never saw; the
distance check against ``heldout29`` belongs to the merge.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT30
from tests import lead_checks
from tests import twin_set_checks as checks

FORMS = {
    "serious_question": re.compile(r"\bserious question:", re.IGNORECASE),
    "quick_background": re.compile(r"\bquick background:", re.IGNORECASE),
    "greetings": re.compile(r"\bgreetings,", re.IGNORECASE),
    "any_pointers_welcome": re.compile(r"\bany pointers welcome\.", re.IGNORECASE),
    "thank_you_kindly": re.compile(r"\bthank you kindly\.", re.IGNORECASE),
    "fingers_crossed": re.compile(r"\bfingers crossed\.", re.IGNORECASE),
}
# Where each style's form sits: three open the text (two labels and a greeting, before the lead),
# three close it (a call for pointers, a word of thanks, a hope, after the ask).
OPENERS = {
    "serious_question": "Serious question: ",
    "quick_background": "Quick background: ",
    "greetings": "Greetings, ",
}
CLOSERS = {
    "any_pointers_welcome": " Any pointers welcome.",
    "thank_you_kindly": " Thank you kindly.",
    "fingers_crossed": " Fingers crossed.",
}
# The lead says the asker has just completed something: one of these words follows "I've just"
# (or comes soon after it: "I've just got through my licence checks and passed ...").
COMPLETION = re.compile(r"\b(?:finished|passed|completed|qualified|earned|gained)\b")
# ... and names what they completed: a course, a licence, a certificate, a qualification, ...
SKILL = re.compile(
    r"\b(?:course|licence|certificate|certification|qualification|qualified|apprenticeship"
    r"|diploma|training|exams|module|bootcamp|ticket)\b"
)

# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,788 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT30,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout29", "heldout28"),
    lead_start=COMPLETION,
    persona_then=" and I've just ",
)


def test_heldout30_lead_names_the_asker_and_a_skill_just_completed() -> None:
    # The lead names the asker (the persona), says they have just completed something and names
    # what: a course, licence, certificate, qualification, apprenticeship, diploma, ...
    for i in checks.items(HELDOUT30):
        first = lead_checks.lead(i.text)
        persona = checks.extra(i, "persona")
        assert isinstance(persona, str) and f"I'm {persona} and I've just " in first, i.id
        after = first.partition(" and I've just ")[2]
        assert COMPLETION.search(after) and SKILL.search(after), i.id
        assert 12 <= len(first.split()) <= 35, i.id


def test_heldout30_twins_share_the_lead_word_for_word_then_part() -> None:
    # The asker and the skill are told in the same words in both twins, so they cannot tell them
    # apart; the intent is carried by what the asker wants to do with it, after the lead.
    lead_checks.check_leads_shared_then_part(HELDOUT30, n_pairs=60)


def test_heldout30_style_form_frames_the_text_and_key_phrase_is_in_the_ask() -> None:
    # Three styles open the text and three close it; the key phrase is in the ask only.
    assert set(OPENERS) | set(CLOSERS) == set(FORMS) and not set(OPENERS) & set(CLOSERS)
    lead_checks.check_framed_with_key_phrase_in_ask(HELDOUT30, OPENERS, CLOSERS)
    for i in checks.items(HELDOUT30):
        assert i.key_phrase and 3 <= len(i.key_phrase.split()) <= 8, i.id


def test_heldout30_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT30, SPEC.doc, SPEC.styles)


def test_heldout30_sex_items_are_not_explicit_and_name_no_minor() -> None:
    checks.check_sex_items_not_explicit(HELDOUT30)
    checks.check_sex_items_name_no_minor(HELDOUT30)


def test_heldout30_alarm_words_are_computed_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT30, each_at_least=40, max_difference=6, shared_at_least=30)
