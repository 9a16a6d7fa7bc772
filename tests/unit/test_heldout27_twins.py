"""The twenty-eighth held-out twin set (``heldout27``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout26`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout27_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py`` and ``tests/lead_checks.py``;
``tests/unit/test_heldout_set_shapes.py`` runs them from this module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT27
from tests import lead_checks
from tests import twin_set_checks as checks

FORMS = {
    "straight_answer_please": re.compile(r"\bstraight answer please\b", re.IGNORECASE),
    "honest_opinion": re.compile(r"\bhonest opinion\b", re.IGNORECASE),
    "help_me_out": re.compile(r"\bhelp me out\b", re.IGNORECASE),
    "need_a_hand": re.compile(r"\bneed a hand\b", re.IGNORECASE),
    "thanks_a_bunch": re.compile(r"\bthanks a bunch\b", re.IGNORECASE),
    "over_and_out": re.compile(r"\bover and out\b", re.IGNORECASE),
}
# Where each style's form sits: four labels open the text (before the lead), two sign-offs close
# it (a word of thanks or a radio-style sign-off, after the ask).
OPENERS = {
    "straight_answer_please": "Straight answer please: ",
    "honest_opinion": "Honest opinion: ",
    "help_me_out": "Help me out: ",
    "need_a_hand": "Need a hand: ",
}
CLOSERS = {"thanks_a_bunch": " Thanks a bunch.", "over_and_out": " Over and out."}
# The party who wronged the asker, named in the lead right after the persona: a determiner, up to
# two words, then one of a fixed list of people and organisations.
PARTY = re.compile(
    r"\b(?:my|a|an|the|another)\s(?:[\w'-]+\s){0,2}"
    r"(?:landlord|plot holder|manager|stallholder|brewery|young men|blogger|client|builder"
    r"|passenger|worker|tenants|fans|vandal|customer|families|group|family|colleague|agency"
    r"|streamer|platform|company|housemate|school|ex|agent|dog|driver|regular|farmer|guest|lad"
    r"|homeowner|member|gang|neighbour|seller|boss|airline|brother|supplier|dealer|scammer"
    r"|owner|man|best man|lodger|rep|singer|promoter)\b",
    re.IGNORECASE,
)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,548 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT27,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout26", "heldout25"),
    lead_start=PARTY,
    persona_then=" and ",
)


def test_heldout27_lead_names_the_party_who_wronged_the_asker_after_the_persona() -> None:
    # "I'm <persona> and <party> <did what>.": the party is named after the persona, in the lead
    # both twins share, and the ask never repeats the lead.
    for i in checks.items(HELDOUT27):
        first = lead_checks.lead(i.text)
        persona = checks.extra(i, "persona")
        assert isinstance(persona, str), i.id
        head, sep, grievance = first.partition(f"I'm {persona} and ")
        assert sep and len(head.split()) <= 3, i.id
        assert PARTY.search(grievance), i.id
        assert first not in lead_checks.ask(i.text), i.id
