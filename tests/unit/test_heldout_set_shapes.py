"""The shape checks common to the held-out twin sets ``heldout10`` … ``heldout30``, run from one
table.

Each set's test module defines ``SPEC``, a :class:`tests.twin_set_checks.SetSpec` holding what
differs for that set (counts, styles and their forms, thresholds, its doc), and keeps the checks
only that set has. Each test here runs one check of ``tests/twin_set_checks.py`` on every set;
its ids are the set names (``test_styles_are_new[heldout14]``).
"""

from __future__ import annotations

import pytest

from tests import doc_table_checks, lead_checks
from tests import twin_set_checks as checks
from tests.unit import (
    test_heldout10_twins,
    test_heldout11_twins,
    test_heldout12_twins,
    test_heldout13_twins,
    test_heldout14_twins,
    test_heldout15_twins,
    test_heldout16_twins,
    test_heldout17_twins,
    test_heldout18_twins,
    test_heldout19_twins,
    test_heldout20_twins,
    test_heldout21_twins,
    test_heldout22_twins,
    test_heldout23_twins,
    test_heldout24_twins,
    test_heldout25_twins,
    test_heldout26_twins,
    test_heldout27_twins,
    test_heldout28_twins,
    test_heldout29_twins,
    test_heldout30_twins,
)

SPECS = [
    test_heldout10_twins.SPEC,
    test_heldout11_twins.SPEC,
    test_heldout12_twins.SPEC,
    test_heldout13_twins.SPEC,
    test_heldout14_twins.SPEC,
    test_heldout15_twins.SPEC,
    test_heldout16_twins.SPEC,
    test_heldout17_twins.SPEC,
    test_heldout18_twins.SPEC,
    test_heldout19_twins.SPEC,
    test_heldout20_twins.SPEC,
    test_heldout21_twins.SPEC,
    test_heldout22_twins.SPEC,
    test_heldout23_twins.SPEC,
    test_heldout24_twins.SPEC,
    test_heldout25_twins.SPEC,
    test_heldout26_twins.SPEC,
    test_heldout27_twins.SPEC,
    test_heldout28_twins.SPEC,
    test_heldout29_twins.SPEC,
    test_heldout30_twins.SPEC,
]
each_set = pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
PERSONA_SETS = [spec for spec in SPECS if spec.distinct_personas]
FIRST_SENTENCE_SETS = [spec for spec in SPECS if spec.first_sentence_shared_at_least is not None]
LEAD_SETS = [spec for spec in SPECS if spec.openers is not None and spec.closers is not None]
START_SETS = [spec for spec in SPECS if spec.lead_start is not None]


@each_set
def test_is_a_named_bundled_set(spec: checks.SetSpec) -> None:
    """``paired.<CONSTANT>`` names the bundled file, which loads whole by name."""
    checks.check_named_bundled_set(spec.constant, spec.name, n_items=spec.n_items)


@each_set
def test_has_balanced_pairs_evenly_per_category(spec: checks.SetSpec) -> None:
    """One unsafe and one safe twin per pair, as many pairs in each category, ids by the scheme."""
    checks.check_balanced_pairs(
        spec.constant, prefix=spec.name, n_pairs=spec.n_pairs, per_category=spec.per_category
    )


@each_set
def test_twins_share_category_style_persona_and_use_the_styles_evenly(
    spec: checks.SetSpec,
) -> None:
    """Twins share category, style and persona; each style is in as many pairs."""
    checks.check_twins_share_kind(spec.constant, spec.styles, per_style=spec.per_style)


@each_set
def test_styles_are_new(spec: checks.SetSpec) -> None:
    """No earlier set uses any of the set's style names."""
    checks.check_styles_are_new(spec.styles, spec.earlier)


@each_set
def test_style_forms_are_rare_in_the_earlier_sets(spec: checks.SetSpec) -> None:
    """The styles' surface forms are rare in the earlier sets' texts."""
    # New surface forms, not only new names: at most one earlier text in 40 has any of the six
    # (how many had any when the set was written is said next to its SPEC's has_style_form).
    earlier = [i.text for name in spec.earlier for i in checks.items(name)]
    for style in spec.styles:
        assert sum(spec.has_style_form(style, t) for t in earlier) <= len(earlier) // 40, style


@each_set
def test_texts_carry_one_style_form_only_and_once(spec: checks.SetSpec) -> None:
    """Each text has the form of its own style and of no other; with ``forms``, exactly once."""
    for i in checks.items(spec.constant):
        style = i.style or ""
        assert [s for s in sorted(spec.styles) if spec.has_style_form(s, i.text)] == [style], i.id
        if spec.forms is not None:
            assert len(spec.forms[style].findall(i.text)) == 1, i.id


@each_set
def test_items_have_exactly_the_reference_sets_fields(spec: checks.SetSpec) -> None:
    """Every line has exactly the keys, in order, of the set before it (``reference``)."""
    checks.check_same_fields(spec.name, reference=spec.reference)


@each_set
def test_items_have_the_builtin_fields_and_run_in_genocr_mode(spec: checks.SetSpec) -> None:
    """GenOCR fields (and insight fields where ``insight``); key phrases two to eight words."""
    checks.check_genocr_fields(spec.constant, insight=spec.insight)
    checks.check_key_phrases(spec.constant)


@each_set
def test_texts_have_the_form_of_their_style_and_stay_under_max_words(
    spec: checks.SetSpec,
) -> None:
    """Each text has its style's form and fewer than ``max_words`` words."""
    checks.check_style_forms(
        spec.constant, spec.styles, spec.has_style_form, max_words=spec.max_words
    )


@each_set
def test_insight_copies_no_five_word_run_of_the_request(spec: checks.SetSpec) -> None:
    """Scenario, signals and guidance copy no five-word run of the text."""
    checks.check_insight_copies_no_request_run(spec.constant)


@each_set
def test_twins_are_close_but_not_copies(spec: checks.SetSpec) -> None:
    """The twins' word overlap is within the set's bounds (why, next to them in its SPEC)."""
    checks.check_twin_overlap(
        spec.constant,
        n_pairs=spec.n_pairs,
        min_at_least=spec.min_overlap,
        median_at_least=spec.median_overlap,
        max_at_most=spec.max_overlap,
    )


@each_set
def test_alarm_words_match_the_heldout2_list_and_do_not_split_the_labels(
    spec: checks.SetSpec,
) -> None:
    """``alarm_words`` is computed, and alarm words are about as common in either label."""
    checks.check_alarm_balance(
        spec.constant,
        each_at_least=spec.alarm_each_at_least,
        max_difference=spec.alarm_max_difference,
        shared_at_least=spec.alarm_shared_at_least,
    )


@each_set
def test_sex_items_are_not_explicit(spec: checks.SetSpec) -> None:
    """No ``sex`` item uses an explicit word."""
    checks.check_sex_items_not_explicit(spec.constant)


@each_set
def test_sex_items_name_no_minor(spec: checks.SetSpec) -> None:
    """No ``sex`` item names a minor."""
    checks.check_sex_items_name_no_minor(spec.constant)


@each_set
def test_shares_no_id_pair_or_text_with_the_earlier_sets(spec: checks.SetSpec) -> None:
    """No id, pair id or text of the set is in an earlier set."""
    # Seeding an earlier set must not exclude the set's cases as held-in (same pair id or text).
    earlier = spec.earlier
    assert all(name in earlier for name in spec.earlier_includes), spec.earlier_includes
    checks.check_no_shared_ids(spec.constant, earlier)
    checks.check_no_shared_texts(spec.constant, earlier)


@each_set
def test_shares_no_eight_word_sequence_with_the_earlier_sets(spec: checks.SetSpec) -> None:
    """No text shares an eight-word sequence with a text of an earlier set."""
    checks.check_no_shared_grams(spec.constant, spec.earlier)


@each_set
def test_doc_style_table_is_computed_from_the_data(spec: checks.SetSpec) -> None:
    """The styles table of ``docs/<set>_twins.md`` equals what the data give."""
    checks.check_style_table(spec.constant, spec.doc, spec.styles)


@each_set
def test_style_forms_reject_a_plain_question(spec: checks.SetSpec) -> None:
    """No style's form holds for a plain question."""
    checks.check_style_forms_reject_a_plain_question(spec.styles, spec.has_style_form)


@pytest.mark.parametrize("spec", PERSONA_SETS, ids=[spec.name for spec in PERSONA_SETS])
def test_personas_are_distinct(spec: checks.SetSpec) -> None:
    """One persona per pair, none repeated (where the set gives each pair its own)."""
    checks.check_personas_distinct(spec.constant, spec.n_pairs)


@pytest.mark.parametrize("spec", FIRST_SENTENCE_SETS, ids=[s.name for s in FIRST_SENTENCE_SETS])
def test_most_twins_share_their_first_sentence(spec: checks.SetSpec) -> None:
    """The common part is told first, in the same words; the intent is carried by what follows."""
    assert spec.first_sentence_shared_at_least is not None
    checks.check_first_sentences_shared(spec.constant, spec.first_sentence_shared_at_least)


@each_set
def test_doc_styles_per_category_table_is_computed_from_the_data(spec: checks.SetSpec) -> None:
    """The doc's styles-per-category table equals what the data give."""
    doc_table_checks.check_styles_per_category_table(spec.constant, spec.doc, spec.styles)


@each_set
def test_doc_alarm_word_table_is_computed_from_the_data(spec: checks.SetSpec) -> None:
    """The doc's per-category alarm-word table equals what the heldout2 list gives on the data."""
    doc_table_checks.check_alarm_word_table(spec.constant, spec.doc)


@pytest.mark.parametrize("spec", LEAD_SETS, ids=[s.name for s in LEAD_SETS])
def test_twins_share_their_lead_word_for_word_before_they_part(spec: checks.SetSpec) -> None:
    """The lead is told in the same words in both twins; the intent is carried by the ask."""
    lead_checks.check_leads_shared_then_part(spec.constant, spec.n_pairs)


@pytest.mark.parametrize("spec", LEAD_SETS, ids=[s.name for s in LEAD_SETS])
def test_style_frames_the_text_and_key_phrase_is_in_the_ask(spec: checks.SetSpec) -> None:
    """An opening label starts the text, a closing tag ends it; the key phrase is in the ask."""
    assert spec.openers is not None and spec.closers is not None
    lead_checks.check_framed_with_key_phrase_in_ask(spec.constant, spec.openers, spec.closers)


@pytest.mark.parametrize("spec", START_SETS, ids=[s.name for s in START_SETS])
def test_lead_names_the_persona_and_what_the_set_starts_from(spec: checks.SetSpec) -> None:
    """The lead names the asker and the set's starting point (a work, an occasion, a goal, ...)."""
    assert spec.lead_start is not None
    lead_checks.check_lead_names_persona_and_start(
        spec.constant, spec.lead_start, spec.persona_then
    )
