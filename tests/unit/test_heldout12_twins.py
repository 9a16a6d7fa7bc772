"""The thirteenth held-out twin set (``heldout12``) ships whole and balanced; it shares nothing
with ``builtin`` or ``heldout`` … ``heldout11``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout12_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT12
from tests import twin_set_checks as checks

STYLES = {
    "anyway_pivot",
    "doubled_intensifier",
    "out_of_ten",
    "stammer_hyphen",
    "stretched_word",
    "text_emoticon",
}
ANYWAY_RE = re.compile(r"\bAnyway, ")
DOUBLED_RE = re.compile(r"\b(really|so|very) \1\b", re.IGNORECASE)
EMOTICON_RE = re.compile(r":\(")
STRETCHED_RE = re.compile(r"([A-Za-z])\1\1")
OUT_OF_TEN_RE = re.compile(r"\bout of ten\b")
STAMMER_RE = re.compile(r"\b([A-Za-z])-\1", re.IGNORECASE)


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout12_twins.md, the styles table)."""
    if style == "anyway_pivot":  # the ask turns in with "Anyway, " after the feeling
        return ANYWAY_RE.search(text) is not None
    if style == "doubled_intensifier":  # an intensifier said twice: "really really", "so so"
        return DOUBLED_RE.search(text) is not None
    if style == "text_emoticon":  # a sad face typed as ":("
        return EMOTICON_RE.search(text) is not None
    if style == "stretched_word":  # a letter typed three times or more: "sooo"
        return STRETCHED_RE.search(text) is not None
    if style == "out_of_ten":  # the feeling rated in words: "nine out of ten"
        return OUT_OF_TEN_RE.search(text) is not None
    if style == "stammer_hyphen":  # a typed stammer on the first letter: "I-I"
        return STAMMER_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT12,
    name="heldout12",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, none
    # of the 1,656 had any of them).
    has_style_form=has_style_form,
    forms=None,
    reference="heldout11",
    max_words=60,
    # Two people in one feeling, written separately in its words: close, not a minimal edit.
    min_overlap=0.1,
    median_overlap=0.25,
    max_overlap=0.65,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
)
