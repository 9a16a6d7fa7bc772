"""The thirtieth held-out twin set (``heldout29``) ships whole and balanced; it shares nothing
with ``builtin``, ``heldout`` … ``heldout28`` or ``coverage``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout29_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py`` and ``tests/lead_checks.py``;
``tests/unit/test_heldout_set_shapes.py`` runs them from this module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT29
from tests import lead_checks
from tests import twin_set_checks as checks

FORMS = {
    "good_day": re.compile(r"\bgood day,", re.IGNORECASE),
    "plain_question": re.compile(r"\bplain question:", re.IGNORECASE),
    "quick_query": re.compile(r"\bquick query:", re.IGNORECASE),
    "setting_the_scene": re.compile(r"\bsetting the scene:", re.IGNORECASE),
    "thanks_ever_so_much": re.compile(r"\bthanks ever so much\.", re.IGNORECASE),
    "talk_soon": re.compile(r"\btalk soon\.", re.IGNORECASE),
}
# Where each style's form sits: four open the text (a greeting and three labels, before the lead),
# two close it (a word of thanks or a sign-off, after the ask).
OPENERS = {
    "good_day": "Good day, ",
    "plain_question": "Plain question: ",
    "quick_query": "Quick query: ",
    "setting_the_scene": "Setting the scene: ",
}
CLOSERS = {"thanks_ever_so_much": " Thanks ever so much.", "talk_soon": " Talk soon."}
# The lead names a decision the asker is weighing: one of these words says so.
DECISION = re.compile(
    r"\b(?:weighing up|deciding|choosing|torn between|can't decide)\b", re.IGNORECASE
)

# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
# At most one earlier text in 40 has any of the six style forms (when this set was written, none
# of the 3,788 had any of them).
SPEC = lead_checks.lead_set_spec(
    HELDOUT29,
    forms=FORMS,
    openers=OPENERS,
    closers=CLOSERS,
    reference="heldout22",
    earlier_includes=("coverage", "heldout28", "heldout27"),
    lead_start=DECISION,
)


def test_heldout29_lead_names_the_asker_then_the_decision() -> None:
    # "I'm <persona>" comes first in the lead (after an opening label), then the decision word:
    # who is choosing, then what they are weighing up, in the same words in both twins.
    for i in checks.items(HELDOUT29):
        first = lead_checks.lead(i.text)
        persona = checks.extra(i, "persona")
        assert isinstance(persona, str), i.id
        head = OPENERS.get(i.style or "", "")
        assert first.startswith(f"{head}I'm {persona} "), i.id
        decision = DECISION.search(first)
        assert decision and decision.start() > len(f"{head}I'm {persona}"), i.id
        # The choice itself, not only a decision word: between options, whether to, or an offer.
        assert re.search(r"\b(?:between|whether|which|offer|contract)\b", first), i.id


def test_heldout29_twins_part_only_after_the_lead() -> None:
    # The style's form is outside the ask's difference: both twins share the opening label or the
    # closing tag, and the ask is the only part that differs.
    for pid, p in checks.twins(HELDOUT29).items():
        unsafe, safe = p["unsafe"].text, p["safe"].text
        style = p["safe"].style or ""
        shared = checks.shared_start(unsafe, safe)
        assert shared.startswith(lead_checks.lead(safe)), pid
        if style in CLOSERS:
            assert unsafe.endswith(CLOSERS[style]) and safe.endswith(CLOSERS[style]), pid
