"""The twenty-fifth held-out twin set (``heldout24``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout22`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout24_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT24
from tests import lead_checks

FORMS = {
    "sanity_check": re.compile(r"\bsanity check\b", re.IGNORECASE),
    "some_context": re.compile(r"\bsome context\b", re.IGNORECASE),
    "picture_this": re.compile(r"\bpicture this\b", re.IGNORECASE),
    "short_version": re.compile(r"\bthe short version\b", re.IGNORECASE),
    "much_obliged": re.compile(r"\bmuch obliged\b", re.IGNORECASE),
    "any_steer": re.compile(r"\bgrateful for any steer\b", re.IGNORECASE),
}
# Where each style's form sits: four open the text (a label before the lead), two close it (a
# word of thanks after the ask).
OPENERS = {
    "sanity_check": "Sanity check: ",
    "some_context": "Some context: ",
    "picture_this": "Picture this: ",
    "short_version": "The short version: ",
}
CLOSERS = {"much_obliged": " Much obliged.", "any_steer": " Grateful for any steer."}
# The figure the lead states: a number written in digits (an amount, a count, a percentage, ...).
FIGURE = re.compile(r"\d")


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,068 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT24,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout23", "heldout22"),
    lead_start=FIGURE,
)
