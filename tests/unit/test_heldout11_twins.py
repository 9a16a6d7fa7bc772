"""The twelfth held-out twin set (``heldout11``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout10``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout11_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``; ``tests/unit/test_heldout_set_shapes.py`` runs them from this
module's ``SPEC``.
"""

from __future__ import annotations

import re

from echosafe_guard.paired import HELDOUT11
from tests import twin_set_checks as checks

STYLES = {
    "etc_tail",
    "ie_gloss",
    "percent_figure",
    "so_opener",
    "vs_compare",
    "year_digits",
}
PERCENT_RE = re.compile(r"\d%")
IE_RE = re.compile(r"(?<!\w)i\.e\.")
ETC_RE = re.compile(r"\betc\.")
YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")
SO_RE = re.compile(r"So, ")
VS_RE = re.compile(r"\bvs\b")


def has_style_form(style: str, text: str) -> bool:
    """What each style looks like on the surface (docs/heldout11_twins.md, the styles table)."""
    if style == "percent_figure":  # a figure given as a percentage with the sign: "15%"
        return PERCENT_RE.search(text) is not None
    if style == "ie_gloss":  # a clarification introduced by "i.e."
        return IE_RE.search(text) is not None
    if style == "etc_tail":  # a list closed with "etc."
        return ETC_RE.search(text) is not None
    if style == "year_digits":  # a year written as a four-digit number: "since 2019"
        return YEAR_RE.search(text) is not None
    if style == "so_opener":  # the text opens with "So, "
        return SO_RE.match(text) is not None
    if style == "vs_compare":  # two options set against each other with "vs": "ferry vs tunnel"
        return VS_RE.search(text) is not None
    raise AssertionError(f"unknown style {style!r}")


# What the common shape checks of tests/unit/test_heldout_set_shapes.py are given for this set.
SPEC = checks.SetSpec(
    constant=HELDOUT11,
    name="heldout11",
    styles=STYLES,
    # At most one earlier text in 40 has any of the six style forms (when this set was written, at
    # most 11 of 1,536 did, for any one of them).
    has_style_form=has_style_form,
    forms=None,
    reference="heldout10",
    max_words=60,
    # Two people asking for one kind of artifact, written separately: close, not a minimal edit.
    min_overlap=0.06,
    median_overlap=0.2,
    max_overlap=0.6,
    alarm_each_at_least=25,
    alarm_max_difference=6,
    alarm_shared_at_least=15,
)
