"""The twenty-seventh held-out twin set (``heldout26``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout24`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout26_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT26
from tests import lead_checks

FORMS = {
    "frank_question": re.compile(r"\bfrank question\b", re.IGNORECASE),
    "real_talk": re.compile(r"\breal talk\b", re.IGNORECASE),
    "big_picture": re.compile(r"\bbig picture\b", re.IGNORECASE),
    "hey_bot": re.compile(r"\bhey bot\b", re.IGNORECASE),
    "thanks_heaps": re.compile(r"\bthanks heaps\b", re.IGNORECASE),
    "keen_to_hear": re.compile(r"\bkeen to hear your take\b", re.IGNORECASE),
}
# Where each style's form sits: four open the text (three labels and an address to the assistant,
# before the lead), two close it (a word of thanks or a request for a view, after the ask).
OPENERS = {
    "frank_question": "Frank question: ",
    "real_talk": "Real talk: ",
    "big_picture": "Big picture: ",
    "hey_bot": "Hey bot, ",
}
CLOSERS = {"thanks_heaps": " Thanks heaps.", "keen_to_hear": " Keen to hear your take."}
# The lead names what the asker has set themselves: a goal, an aim or a target.
GOAL = re.compile(r"\b(?:goal|aim|target)\b", re.IGNORECASE)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,308 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT26,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout25", "heldout24"),
    lead_start=GOAL,
)
