"""The eleventh held-out twin set (``heldout10``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout9``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout10_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT10
from tests import twin_set_checks as checks

STYLES = {
    "ampersand_chain",
    "asterisk_emphasis",
    "eg_example",
    "question_burst",
    "tilde_approx",
    "times_multiplier",
}
ASTERISK_RE = re.compile(r"(?<![\w*])\*[A-Za-z][A-Za-z']*\*(?![\w*])")
TIMES_RE = re.compile(r"\b\d+x\b")
TILDE_RE = re.compile(r"~\d")
EG_RE = re.compile(r"(?<!\w)e\.g\.")


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout10_twins.md, the styles table)."""
    if style == "ampersand_chain":  # items joined with " & ", at least twice: "keys & post & bills"
        return text.count(" & ") >= 2
    if style == "question_burst":  # three or more questions, each ending in "?"
        return text.count("?") >= 3
    if style == "asterisk_emphasis":  # one word in asterisks for emphasis: "*never*"
        return ASTERISK_RE.search(text) is not None
    if style == "times_multiplier":  # a multiplier written with "x": "2x", "3x"
        return TIMES_RE.search(text) is not None
    if style == "tilde_approx":  # an approximate figure marked with a tilde: "~40", "~3 weeks"
        return TILDE_RE.search(text) is not None
    if style == "eg_example":  # an example introduced by "e.g."
        return EG_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT10,
    name="heldout10",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # did).
    has_style_form=has_style_form,
    forms=None,
    reference="heldout9",
    max_words=60,
    # Two people in one kind of relationship, written separately: close, not a minimal edit.
    min_overlap=0.06,
    median_overlap=0.2,
    max_overlap=0.6,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
)
