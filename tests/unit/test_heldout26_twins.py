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
from tests import twin_set_checks as checks

STYLES = {
    "big_picture",
    "frank_question",
    "hey_bot",
    "keen_to_hear",
    "thanks_heaps",
    "real_talk",
}
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


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout26_twins.md, the styles table): a
    label, an address or a closing line said once, at the start ("Frank question:", "Real talk:",
    "Big picture:", "Hey bot,") or at the end ("Thanks heaps.", "Keen to hear your take.")."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT26,
    name="heldout26",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 3,308 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout22",
    max_words=60,
    # One asker and one goal stated in the same words, parting at how the asker wants to reach it:
    # close, not identical.
    min_overlap=0.4,
    median_overlap=0.5,
    max_overlap=0.8,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=30,
    earlier_includes=("coverage", "heldout25", "heldout24"),
    # One asker per pair, shared by both its twins, none repeated.
    distinct_personas=True,
    # The lead is shared word for word, the style opens or closes the text (tests/lead_checks.py).
    openers=OPENERS,
    closers=CLOSERS,
    lead_start=GOAL,
)
