"""The twentieth held-out twin set (``heldout19``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout18`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout19_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT19
from tests import twin_set_checks as checks

STYLES = {
    "as_things_stand",
    "by_the_looks_of_it",
    "for_all_i_know",
    "for_the_most_part",
    "if_anything",
    "on_top_of_that",
}
FORMS = {
    "if_anything": re.compile(r"\bif anything\b", re.IGNORECASE),
    "for_the_most_part": re.compile(r"\bfor the most part\b", re.IGNORECASE),
    "by_the_looks_of_it": re.compile(r"\bby the looks of it\b", re.IGNORECASE),
    "for_all_i_know": re.compile(r"\bfor all I know\b", re.IGNORECASE),
    "as_things_stand": re.compile(r"\bas things stand\b", re.IGNORECASE),
    "on_top_of_that": re.compile(r"\bon top of that\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout19_twins.md, the styles table): a spoken
# aside in the telling of the relay, "if anything," "for the most part," "by the looks of it," "for
# all I know," "as things stand" or "On top of that,".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT19,
    name="heldout19",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,588 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout18",
    max_words=60,
    # One relay told once in the same words, parting at the relayed ask: close, not identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=20,
    earlier_includes=("coverage", "heldout18", "heldout17"),
    # One relayer (who relays for whom) per pair, shared by both its twins, none repeated.
    distinct_personas=True,
    # The relay is told in the same words; the intent is carried by the relayed ask.
    first_sentence_shared_at_least=50,
)
