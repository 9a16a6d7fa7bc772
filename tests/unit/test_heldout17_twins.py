"""The eighteenth held-out twin set (``heldout17``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout16`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout17_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT17
from tests import twin_set_checks as checks

STYLES = {
    "as_a_matter_of_fact",
    "as_it_turns_out",
    "as_you_can_imagine",
    "if_memory_serves",
    "just_so_you_know",
    "out_of_curiosity",
}
FORMS = {
    "as_a_matter_of_fact": re.compile(r"\bas a matter of fact\b", re.IGNORECASE),
    "if_memory_serves": re.compile(r"\bif memory serves\b", re.IGNORECASE),
    "just_so_you_know": re.compile(r"\bjust so you know\b", re.IGNORECASE),
    "as_you_can_imagine": re.compile(r"\bas you can imagine\b", re.IGNORECASE),
    "as_it_turns_out": re.compile(r"\bas it turns out\b", re.IGNORECASE),
    "out_of_curiosity": re.compile(r"\bout of curiosity\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout17_twins.md, the styles table): a spoken
# aside, "As a matter of fact," "if memory serves," "just so you know," "as you can imagine," "as it
# turns out" or "out of curiosity".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT17,
    name="heldout17",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,348 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout16",
    max_words=60,
    # Two people with one hobby, sharing its telling and the harm's words: close, not identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
    earlier_includes=("coverage", "heldout16"),
    # One hobby or pastime per pair, shared by both its twins, none repeated.
    distinct_personas=True,
)
