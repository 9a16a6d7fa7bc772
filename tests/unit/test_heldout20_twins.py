"""The twenty-first held-out twin set (``heldout20``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout19`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout20_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT20
from tests import twin_set_checks as checks

STYLES = {
    "a_fortnight_ago",
    "a_while_back",
    "earlier_today",
    "over_the_weekend",
    "the_night_before_last",
    "the_other_day",
}
FORMS = {
    "earlier_today": re.compile(r"\bearlier today\b", re.IGNORECASE),
    "the_other_day": re.compile(r"\bthe other day\b", re.IGNORECASE),
    "the_night_before_last": re.compile(r"\bthe night before last\b", re.IGNORECASE),
    "over_the_weekend": re.compile(r"\bover the weekend\b", re.IGNORECASE),
    "a_fortnight_ago": re.compile(r"\ba fortnight ago\b", re.IGNORECASE),
    "a_while_back": re.compile(r"\ba while back\b", re.IGNORECASE),
}


# What each style looks like on the surface (docs/heldout20_twins.md, the styles table): when the
# earlier event happened, told once in the shared telling, "earlier today", "the other day", "the
# night before last", "over the weekend", "a fortnight ago" or "a while back".
has_style_form = checks.style_form_checker(FORMS)


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT20,
    name="heldout20",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 2,708 had any of them).
    has_style_form=has_style_form,
    forms=FORMS,
    reference="heldout19",
    max_words=100,
    # One earlier event told in the same words, parting at what the asker now wants: close, not
    # identical.
    min_overlap=0.25,
    median_overlap=0.4,
    max_overlap=0.65,
    alarm_each_at_least=40,
    alarm_max_difference=6,
    alarm_shared_at_least=30,
    earlier_includes=("coverage", "heldout19", "heldout18"),
    # One earlier event (who tells what happened) per pair, shared by both its twins, none repeated.
    distinct_personas=True,
    # The earlier event is told in the same words; the intent is carried by what follows it.
    first_sentence_shared_at_least=50,
)


def test_heldout20_style_form_is_in_the_shared_telling_of_the_event() -> None:
    # The time of the earlier event is told before the twins part, so it cannot tell them apart.
    for pid, p in checks.twins(HELDOUT20).items():
        shared = checks.shared_start(p["unsafe"].text, p["safe"].text)
        assert has_style_form(p["unsafe"].style or "", shared), pid
