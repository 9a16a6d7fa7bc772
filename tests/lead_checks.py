"""Shape checks for the held-out sets whose twins share their first sentence word for word (the
lead: who the asker is and what they start from) and carry their style as an opening label or a
closing tag (``heldout22``, ``heldout23``, ``heldout24``, ``heldout25``, ``heldout26``,
``heldout27``, ``heldout28``, ``heldout29``, ``heldout30``).

``tests/unit/test_heldout_set_shapes.py`` runs them for every set whose ``SetSpec`` has
``openers`` and ``closers``; each set's module keeps the check of what its lead names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tests.twin_set_checks import SetSpec, Source, extra, items, style_form_checker, twins

__all__ = [
    "ask",
    "check_framed_with_key_phrase_in_ask",
    "check_lead_names_persona_and_start",
    "check_leads_shared_then_part",
    "lead",
    "lead_set_spec",
]

OCR_POINTER = "do what the image shows"


def lead(text: str) -> str:
    """The first sentence of a text (up to its first ``". "``), the part both twins share."""
    head, sep, _ = text.partition(". ")
    assert sep, text
    return head + "."


def ask(text: str) -> str:
    """What the asker wants: everything after the lead."""
    return text.partition(". ")[2]


def check_lead_names_persona_and_start(
    source: Source, start: re.Pattern[str], persona_then: str = ""
) -> None:
    """Each lead names the asker (``"I'm <persona><persona_then>"``) and what the set starts from
    (``start``: a kind of work, an occasion coming up, a figure, a goal, ...), in 12 to 35 words."""
    for i in items(source):
        first = lead(i.text)
        persona = extra(i, "persona")
        assert isinstance(persona, str) and f"I'm {persona}{persona_then}" in first, i.id
        assert start.search(first), i.id
        assert 12 <= len(first.split()) <= 35, i.id


def check_leads_shared_then_part(source: Source, n_pairs: int) -> None:
    """Both twins of a pair have the same lead and part after it; the ``n_pairs`` leads are
    distinct, so the lead cannot tell the twins apart and the intent is carried by the ask."""
    leads = set()
    for pid, p in twins(source).items():
        unsafe, safe = p["unsafe"].text, p["safe"].text
        assert unsafe != safe, pid
        assert lead(unsafe) == lead(safe), pid
        assert ask(unsafe) != ask(safe), pid
        leads.add(lead(unsafe))
    assert len(leads) == n_pairs


def check_framed_with_key_phrase_in_ask(
    source: Source, openers: Mapping[str, str], closers: Mapping[str, str]
) -> None:
    """An opening style starts the text and a closing style ends it; the key phrase is in the
    ask, not in the lead nor in the twin's text, and ``ocr_text`` is the text with it pointed at
    the image."""
    pairs = twins(source)
    for i in items(source):
        style = i.style or ""
        assert style in openers or style in closers, i.id
        if style in openers:
            assert i.text.startswith(openers[style]), i.id
        else:
            assert i.text.endswith(closers[style]), i.id
        assert i.key_phrase and i.key_phrase in ask(i.text), i.id
        assert i.key_phrase not in lead(i.text), i.id
        twin = pairs[i.pair_id]["safe" if i.label == "unsafe" else "unsafe"]
        assert i.key_phrase not in twin.text, i.id
        assert i.ocr_text == i.text.replace(i.key_phrase, OCR_POINTER), i.id


def lead_set_spec(
    name: str,
    *,
    forms: Mapping[str, re.Pattern[str]],
    openers: Mapping[str, str],
    closers: Mapping[str, str],
    reference: str,
    earlier_includes: tuple[str, ...],
    lead_start: re.Pattern[str] | None = None,
    persona_then: str = "",
) -> SetSpec:
    """The ``SetSpec`` of a set whose twins share their lead (``heldout22`` on): one style form
    per style (``forms``; the styles are its keys), one persona per pair, texts under 60 words,
    the twins close but not copies (word-set overlap min 0.4, median 0.5, max 0.8) and
    ``heldout21``'s alarm-word balance (at least 40 twins a side, sides within 6, 30 pairs
    sharing one)."""
    return SetSpec(
        constant=name,
        name=name,
        styles=set(forms),
        has_style_form=style_form_checker(forms),
        forms=forms,
        reference=reference,
        max_words=60,
        min_overlap=0.4,
        median_overlap=0.5,
        max_overlap=0.8,
        alarm_each_at_least=40,
        alarm_max_difference=6,
        alarm_shared_at_least=30,
        earlier_includes=earlier_includes,
        distinct_personas=True,
        openers=openers,
        closers=closers,
        lead_start=lead_start,
        persona_then=persona_then,
    )
