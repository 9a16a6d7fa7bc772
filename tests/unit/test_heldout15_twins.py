"""The sixteenth held-out twin set (``heldout15``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout14`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout15_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT15
from tests import twin_set_checks as checks

STYLES = {
    "as_far_as_i_know",
    "as_luck_would_have_it",
    "for_what_its_worth",
    "funnily_enough",
    "if_im_honest",
    "on_second_thought",
}
FORMS = {
    "for_what_its_worth": re.compile(r"\bfor what it's worth\b", re.IGNORECASE),
    "if_im_honest": re.compile(r"\bif i'm honest\b", re.IGNORECASE),
    "as_far_as_i_know": re.compile(r"\bas far as i know\b", re.IGNORECASE),
    "on_second_thought": re.compile(r"\bon second thought\b", re.IGNORECASE),
    "as_luck_would_have_it": re.compile(r"\bas luck would have it\b", re.IGNORECASE),
    "funnily_enough": re.compile(r"\bfunnily enough\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout15_twins.md, the styles table): a spoken
# aside, "For what it's worth," "If I'm honest," "As far as I know," "On second thought," "As luck
# would have it," or "Funnily enough,".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT15,
    name="heldout15",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,108 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout14",
    max_words=60,
    # Two people with one find, sharing its telling and the harm's words: close, not identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
    earlier_includes=("coverage", "heldout14"),
    # One find per pair, shared by its two twins, none repeated.
    distinct_personas=True,
)
