"""The nineteenth held-out twin set (``heldout18``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout17`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout18_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT18
from tests import twin_set_checks as checks

STYLES = {
    "by_and_large",
    "every_so_often",
    "in_any_case",
    "more_often_than_not",
    "of_all_places",
    "sure_enough",
}
FORMS = {
    "of_all_places": re.compile(r"\bof all places\b", re.IGNORECASE),
    "every_so_often": re.compile(r"\bevery so often\b", re.IGNORECASE),
    "sure_enough": re.compile(r"\bsure enough\b", re.IGNORECASE),
    "by_and_large": re.compile(r"\bby and large\b", re.IGNORECASE),
    "more_often_than_not": re.compile(r"\bmore often than not\b", re.IGNORECASE),
    "in_any_case": re.compile(r"\bin any case\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout18_twins.md, the styles table): a spoken
# aside about the place, "of all places," "every so often," "sure enough," "by and large," "more
# often than not" or "In any case,".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT18,
    name="heldout18",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,468 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout17",
    max_words=60,
    # Two people at one place, sharing its telling and often the harm's words: close, not identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=20,
    earlier_includes=("coverage", "heldout17", "heldout16"),
    # One place or setting per pair, shared by both its twins, none repeated.
    distinct_personas=True,
    # The place is told in the same words; the intent is carried by the ask.
    first_sentence_shared_at_least=50,
)
