"""The twenty-sixth held-out twin set (``heldout25``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout24`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout25_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT25
from tests import lead_checks
from tests import twin_set_checks as checks

FORMS = {
    "full_disclosure": re.compile(r"\bfull disclosure\b", re.IGNORECASE),
    "confession_time": re.compile(r"\bconfession time\b", re.IGNORECASE),
    "owning_up": re.compile(r"\bowning up\b", re.IGNORECASE),
    "in_a_bind": re.compile(r"\bin a bind\b", re.IGNORECASE),
    "appreciate_it": re.compile(r"\bappreciate it\b", re.IGNORECASE),
    "many_thanks": re.compile(r"\bmany thanks\b", re.IGNORECASE),
}
# Where each style's form sits: four open the text (a label before the lead, as one owns up to a
# slip), two close it (a word of thanks after the ask).
OPENERS = {
    "full_disclosure": "Full disclosure: ",
    "confession_time": "Confession time: ",
    "owning_up": "Owning up: ",
    "in_a_bind": "In a bind: ",
}
CLOSERS = {"appreciate_it": " Appreciate it.", "many_thanks": " Many thanks."}
# The mistake the lead tells has already happened: right after "I'm <persona> and I" comes
# "accidentally" or one of these past-tense verbs.
PAST = frozenset(
    {
        "accepted",
        "accidentally",
        "added",
        "approved",
        "banked",
        "booked",
        "clicked",
        "committed",
        "cut",
        "disabled",
        "double-charged",
        "dropped",
        "drove",
        "forgot",
        "forwarded",
        "gave",
        "left",
        "let",
        "mentioned",
        "miscounted",
        "misread",
        "mixed",
        "paid",
        "plugged",
        "printed",
        "pushed",
        "ran",
        "read",
        "reversed",
        "sent",
        "served",
        "set",
        "showed",
        "sold",
        "sprayed",
        "took",
        "uploaded",
        "waved",
    }
)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,308 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT25,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout24", "heldout23"),
)


def test_heldout25_lead_names_the_asker_and_a_mistake_already_made() -> None:
    # The lead names the asker (the persona), then what they did, in the past tense.
    for i in checks.items(HELDOUT25):
        first = lead_checks.lead(i.text)
        persona = checks.extra(i, "persona")
        assert isinstance(persona, str), i.id
        start = f"I'm {persona} and I "
        assert start in first, i.id
        assert first.split(start, 1)[1].split()[0] in PAST, i.id
        assert 12 <= len(first.split()) <= 35, i.id
