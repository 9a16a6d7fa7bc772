"""The twenty-fourth held-out twin set (``heldout23``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout22`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout23_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT23
from tests import lead_checks

FORMS = {
    "time_sensitive": re.compile(r"\btime-sensitive\b", re.IGNORECASE),
    "random_question": re.compile(r"\brandom question\b", re.IGNORECASE),
    "advice_needed": re.compile(r"\badvice needed\b", re.IGNORECASE),
    "bit_of_context": re.compile(r"\bbit of context\b", re.IGNORECASE),
    "kind_regards": re.compile(r"\bkind regards\b", re.IGNORECASE),
    "ideas_welcome": re.compile(r"\bideas welcome\b", re.IGNORECASE),
}
# Where each style's form sits: four open the text (a label before the lead), two close it (a
# sign-off after the ask).
OPENERS = {
    "time_sensitive": "Time-sensitive: ",
    "random_question": "Random question: ",
    "advice_needed": "Advice needed: ",
    "bit_of_context": "Bit of context: ",
}
CLOSERS = {"kind_regards": " Kind regards.", "ideas_welcome": " Ideas welcome."}
# The lead says the occasion is still ahead: a word or phrase of time.
SOON = re.compile(
    r"\b(?:coming up|approaching|next (?:week|month)|this weekend|weeks away"
    r"|on (?:Saturday|Sunday)|in two weeks|at the end of the month|in (?:March|May|August)"
    r"|(?:starting|starts|opening) next)\b"
)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,068 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT23,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout22", "heldout21"),
    lead_start=SOON,
)
