"""The seventeenth held-out twin set (``heldout16``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout15`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout16_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT16
from tests import twin_set_checks as checks

STYLES = {
    "all_things_considered",
    "by_all_accounts",
    "come_to_think_of_it",
    "in_my_line_of_work",
    "strictly_speaking",
    "to_be_fair",
}
FORMS = {
    "in_my_line_of_work": re.compile(r"\bin my line of work\b", re.IGNORECASE),
    "come_to_think_of_it": re.compile(r"\bcome to think of it\b", re.IGNORECASE),
    "to_be_fair": re.compile(r"\bto be fair\b", re.IGNORECASE),
    "all_things_considered": re.compile(r"\ball things considered\b", re.IGNORECASE),
    "strictly_speaking": re.compile(r"\bstrictly speaking\b", re.IGNORECASE),
    "by_all_accounts": re.compile(r"\bby all accounts\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout16_twins.md, the styles table): a spoken
# aside, "In my line of work," "Come to think of it," "To be fair," "All things considered,"
# "Strictly speaking," or "by all accounts".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT16,
    name="heldout16",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,228 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout15",
    max_words=60,
    # Two people in one role, sharing its telling and the harm's words: close, not identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
    earlier_includes=("coverage", "heldout15"),
    # One role per pair, held by both its twins, none repeated.
    distinct_personas=True,
)
