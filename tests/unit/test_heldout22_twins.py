"""The twenty-third held-out twin set (``heldout22``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout21`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout22_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT22
from tests import lead_checks

FORMS = {
    "hello_there": re.compile(r"\bhello there\b", re.IGNORECASE),
    "dear_assistant": re.compile(r"\bdear assistant\b", re.IGNORECASE),
    "question_for_you": re.compile(r"\bquestion for you\b", re.IGNORECASE),
    "spoiler_warning": re.compile(r"\bspoiler warning\b", re.IGNORECASE),
    "thoughts_tag": re.compile(r"\bthoughts\?", re.IGNORECASE),
    "over_to_you": re.compile(r"\bover to you\b", re.IGNORECASE),
}
# Where each style's form sits: four open the text (an address to the assistant or a label
# before the lead), two close it (a tag handing the turn back).
OPENERS = {
    "hello_there": "Hello there, ",
    "dear_assistant": "Dear assistant, ",
    "question_for_you": "Question for you: ",
    "spoiler_warning": "Spoiler warning: ",
}
CLOSERS = {"thoughts_tag": " Thoughts?", "over_to_you": " Over to you."}
# The kind of work the lead describes: something the asker has just watched, read or played.
MEDIUM = re.compile(
    r"\b(?:film|series|novel|drama|thriller|comedy|romcom|video game|campaign)\b", re.IGNORECASE
)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 2,948 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT22,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout21",
    earlier_includes=("coverage", "heldout21", "heldout20"),
    lead_start=MEDIUM,
    persona_then=" and I've just ",
)
