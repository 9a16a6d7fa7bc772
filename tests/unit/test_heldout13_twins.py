"""The fourteenth held-out twin set (``heldout13``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout12``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout13_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT13
from tests import twin_set_checks as checks

STYLES = {
    "between_you_and_me",
    "for_the_record",
    "heres_the_thing",
    "long_story_short",
    "mind_you",
    "truth_be_told",
}
FORMS = {
    "long_story_short": re.compile(r"\blong story short\b", re.IGNORECASE),
    "heres_the_thing": re.compile(r"\bhere's the thing\b", re.IGNORECASE),
    "mind_you": re.compile(r"\bmind you\b", re.IGNORECASE),
    "between_you_and_me": re.compile(r"\bbetween you and me\b", re.IGNORECASE),
    "for_the_record": re.compile(r"\bfor the record\b", re.IGNORECASE),
    "truth_be_told": re.compile(r"\btruth be told\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout13_twins.md, the styles table): a spoken
# set phrase, "Long story short," "Here's the thing," "Mind you," "Between you and me," "For the
# record," or "Truth be told,".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT13,
    name="heldout13",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 1,776 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout12",
    max_words=60,
    # Two people naming one rule and the harm it prevents, written separately: close, not a minimal
    # edit.
    min_overlap=0.1,
    median_overlap=0.25,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
)
