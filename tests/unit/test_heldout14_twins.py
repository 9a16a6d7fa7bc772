"""The fifteenth held-out twin set (``heldout14``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout13``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout14_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT14
from tests import twin_set_checks as checks

STYLES = {
    "as_it_happens",
    "at_the_end_of_the_day",
    "believe_it_or_not",
    "in_the_meantime",
    "needless_to_say",
    "to_make_matters_worse",
}
FORMS = {
    "needless_to_say": re.compile(r"\bneedless to say\b", re.IGNORECASE),
    "believe_it_or_not": re.compile(r"\bbelieve it or not\b", re.IGNORECASE),
    "as_it_happens": re.compile(r"\bas it happens\b", re.IGNORECASE),
    "at_the_end_of_the_day": re.compile(r"\bat the end of the day\b", re.IGNORECASE),
    "to_make_matters_worse": re.compile(r"\bto make matters worse\b", re.IGNORECASE),
    "in_the_meantime": re.compile(r"\bin the meantime\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout14_twins.md, the styles table): a spoken
# linking phrase, "Needless to say," "Believe it or not," "As it happens," "At the end of the day,"
# "To make matters worse," or "In the meantime,".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT14,
    name="heldout14",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 1,896 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout13",
    max_words=60,
    # Two people going through one life event, written separately: close, not a minimal edit.
    min_overlap=0.1,
    median_overlap=0.25,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
    # One life event per pair, shared by its two twins, none repeated.
    distinct_personas=True,
)
