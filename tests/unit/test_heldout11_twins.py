"""The twelfth held-out twin set (``heldout11``) ships whole and balanced; it shares nothing with
``builtin`` or ``heldout`` … ``heldout10``.

Only its shape is checked here; what the items say is read by nobody who tunes the guard
(``docs/heldout11_twins.md``). It was shipped unrun: no guard, model or benchmark had seen it.
The other sets are compared with it by script only. The checks shared by the held-out sets are
in ``tests/twin_set_checks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

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
EARLIER = checks.earlier_than("heldout11")
DOC = Path(__file__).resolve().parents[2] / "docs" / "heldout11_twins.md"
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


def test_heldout11_is_a_named_bundled_set() -> None:
    checks.check_named_bundled_set(HELDOUT11, "heldout11", n_items=120)


def test_heldout11_has_60_balanced_pairs_10_per_category() -> None:
    checks.check_balanced_pairs(HELDOUT11, prefix="heldout11", n_pairs=60, per_category=10)


def test_heldout11_twins_share_category_style_persona_and_use_six_styles_evenly() -> None:
    checks.check_twins_share_kind(HELDOUT11, STYLES, per_style=10)


def test_heldout11_styles_are_new() -> None:
    checks.check_styles_are_new(STYLES, EARLIER)


def test_heldout11_style_forms_are_rare_in_the_earlier_sets() -> None:
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (when this set was written, at most 11 of 1,536 did, for any one of them).
    earlier = [i.text for name in EARLIER for i in checks.items(name)]
    for style in STYLES:
        assert sum(has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


def test_heldout11_texts_carry_one_style_form_only() -> None:
    for i in checks.items(HELDOUT11):
        assert [s for s in STYLES if has_style_form(s, i.text)] == [i.style], i.id


def test_heldout11_items_have_exactly_the_heldout10_fields() -> None:
    checks.check_same_fields("heldout11", reference="heldout10")


def test_heldout11_items_have_the_builtin_fields_and_run_in_genocr_mode() -> None:
    checks.check_genocr_fields(HELDOUT11, insight=True)
    checks.check_key_phrases(HELDOUT11)


def test_heldout11_texts_have_the_form_of_their_style_and_stay_under_60_words() -> None:
    checks.check_style_forms(HELDOUT11, STYLES, has_style_form, max_words=60)


def test_heldout11_insight_copies_no_five_word_run_of_the_request() -> None:
    checks.check_insight_copies_no_request_run(HELDOUT11)


def test_heldout11_twins_share_their_artifact_but_are_not_copies() -> None:
    # Two people asking for one kind of artifact, written separately: close, not a minimal edit.
    checks.check_twin_overlap(
        HELDOUT11, n_pairs=60, min_at_least=0.06, median_at_least=0.2, max_at_most=0.6
    )


def test_heldout11_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels() -> None:
    checks.check_alarm_balance(HELDOUT11, each_at_least=25, max_difference=6, shared_at_least=15)


def test_heldout11_sex_items_are_not_explicit() -> None:
    checks.check_sex_items_not_explicit(HELDOUT11)


def test_heldout11_sex_items_name_no_minor() -> None:
    checks.check_sex_items_name_no_minor(HELDOUT11)


def test_heldout11_shares_no_id_pair_or_text_with_the_earlier_sets() -> None:
    # Seeding an earlier set must not exclude heldout11 cases as held-in (same pair id or text).
    checks.check_no_shared_ids(HELDOUT11, EARLIER)
    checks.check_no_shared_texts(HELDOUT11, EARLIER)


def test_heldout11_shares_no_eight_word_sequence_with_the_earlier_sets() -> None:
    checks.check_no_shared_grams(HELDOUT11, EARLIER)


def test_heldout11_doc_style_table_is_computed_from_the_data() -> None:
    checks.check_style_table(HELDOUT11, DOC, STYLES)


def test_heldout11_style_forms_reject_a_plain_question() -> None:
    checks.check_style_forms_reject_a_plain_question(STYLES, has_style_form)
