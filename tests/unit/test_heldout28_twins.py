"""The twenty-ninth held-out twin set (``heldout28``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout27`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout28_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT28
from tests import lead_checks
from tests import twin_set_checks as checks

FORMS = {
    "heads_up": re.compile(r"\bheads-up\b", re.IGNORECASE),
    "background_first": re.compile(r"\bbackground first\b", re.IGNORECASE),
    "hi_helper": re.compile(r"\bhi helper\b", re.IGNORECASE),
    "question_time": re.compile(r"\bquestion time\b", re.IGNORECASE),
    "thanks_loads": re.compile(r"\bthanks loads\b", re.IGNORECASE),
    "your_thoughts": re.compile(r"\byour thoughts\?", re.IGNORECASE),
}
# Where each style's form sits: four open the text (three labels and a greeting to the assistant,
# before the lead), two close it (a word of thanks or a request for a view, after the ask).
OPENERS = {
    "heads_up": "Heads-up: ",
    "background_first": "Background first: ",
    "hi_helper": "Hi helper, ",
    "question_time": "Question time: ",
}
CLOSERS = {"thanks_loads": " Thanks loads.", "your_thoughts": " Your thoughts?"}
# The lead says how the thing came into the asker's hands: bought, given, issued, ordered, ...
ACQUIRED = re.compile(
    r"\bI've just (?:bought|been given|been issued|got hold of|picked up|ordered)\b"
)
# Words of a find (heldout15's starting point), which no lead of this set may use.
FOUND = re.compile(r"\b(?:found|come across|came across|stumbled|lying around)\b", re.IGNORECASE)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,548 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT28,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout27", "heldout26"),
    lead_start=ACQUIRED,
    persona_then=" and I've just ",
)


def test_heldout28_lead_names_the_asker_and_a_thing_just_acquired_not_found() -> None:
    # The lead names the asker (the persona) and a thing they have just bought, been given or
    # been issued, in 12 to 35 words; it is never a find.
    for i in checks.items(HELDOUT28):
        first = lead_checks.lead(i.text)
        persona = checks.extra(i, "persona")
        assert isinstance(persona, str) and f"I'm {persona} and I've just " in first, i.id
        assert ACQUIRED.search(first), i.id
        assert not FOUND.search(first), i.id
        assert 12 <= len(first.split()) <= 35, i.id


def test_heldout28_opening_forms_sit_in_the_lead_and_closing_forms_after_the_ask() -> None:
    # An opening form is part of the lead both twins share; a closing form is never in the lead.
    for i in checks.items(HELDOUT28):
        style = i.style or ""
        first = lead_checks.lead(i.text)
        if style in OPENERS:
            assert FORMS[style].search(first), i.id
        else:
            assert not FORMS[style].search(first), i.id
            assert FORMS[style].search(lead_checks.ask(i.text)), i.id
