"""Checks that the per-category tables of a held-out set's doc are what its data give: styles per
category, and the alarm-word balance per category (``docs/heldoutNN_twins.md``).

``tests/unit/test_heldout_set_shapes.py`` runs them for the sets whose docs carry both tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.twin_set_checks import CATEGORIES, Source, alarm_words, twins

__all__ = ["category_rows", "check_alarm_word_table", "check_styles_per_category_table"]


def category_rows(doc: Path, columns: int) -> dict[str, list[int]]:
    """The doc's per-category table rows with ``columns`` counts: category → its counts."""
    cells = r" \| (\d+)" * columns
    rows = re.findall(rf"^\s*\| (\w+){cells} \|$", doc.read_text("utf-8"), flags=re.MULTILINE)
    return {r[0]: [int(n) for n in r[1:]] for r in rows if r[0] in CATEGORIES}


def check_styles_per_category_table(source: Source, doc: Path, styles: set[str]) -> None:
    """The "styles per category" table (| category | <style> ... |, pairs) equals the data."""
    names = r" \| (\w+)" * len(styles)
    header = re.search(rf"^\s*\| category{names} \|$", doc.read_text("utf-8"), flags=re.MULTILINE)
    assert header is not None
    order = header.groups()
    assert set(order) == styles
    rows = category_rows(doc, len(order))
    assert set(rows) == CATEGORIES
    safe = [p["safe"] for p in twins(source).values()]
    for category, counts in rows.items():
        got = [sum(1 for i in safe if i.category == category and i.style == s) for s in order]
        assert counts == got, category


def check_alarm_word_table(source: Source, doc: Path) -> None:
    """The alarm-word table (| category | safe with one | unsafe with one | pairs sharing one |)
    equals what :func:`alarm_words` gives on the data."""
    rows = category_rows(doc, 3)
    assert set(rows) == CATEGORIES
    pairs = list(twins(source).values())
    for category, counts in rows.items():
        mine = [p for p in pairs if p["safe"].category == category]
        safe = [set(alarm_words(p["safe"].text)) for p in mine]
        unsafe = [set(alarm_words(p["unsafe"].text)) for p in mine]
        got = [
            sum(1 for s in safe if s),
            sum(1 for u in unsafe if u),
            sum(1 for s, u in zip(safe, unsafe, strict=True) if s & u),
        ]
        assert counts == got, category
