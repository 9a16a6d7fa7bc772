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
from tests import twin_set_checks as checks

STYLES = {
    "advice_needed",
    "bit_of_context",
    "ideas_welcome",
    "kind_regards",
    "random_question",
    "time_sensitive",
}
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


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout23_twins.md, the styles table): a
    label or a sign-off said once, at the start ("Time-sensitive:", "Random question:", "Advice
    needed:", "Bit of context:") or at the end ("Kind regards.", "Ideas welcome.")."""
    if style not in FORMS:
        raise AssertionError(f"unknown style {style!r}")
    return FORMS[style].search(text) is not None


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT23,
    name="heldout23",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 3,068 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout22",
    max_words=60,
    # One occasion and one role told in the same words, parting at what the asker wants to do:
    # close, not identical.
    min_overlap=0.4,
    median_overlap=0.5,
    max_overlap=0.8,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=30,
    earlier_includes=("coverage", "heldout22", "heldout21"),
    # One asker's role per pair, shared by both its twins, none repeated.
    distinct_personas=True,
    # The lead is shared word for word, the style opens or closes the text (tests/lead_checks.py).
    openers=OPENERS,
    closers=CLOSERS,
    lead_start=SOON,
)
