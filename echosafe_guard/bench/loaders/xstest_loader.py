"""XSTest (Röttger et al., NAACL 2024): ``xstest_prompts.csv``, text only.

Columns ``id, prompt, type, label, focus, note``: 250 safe prompts in ten types and 200 unsafe
``contrast_<type>`` twins. How the twins pair up, as the released CSV is laid out:

- a ``contrast_X`` block is the twin of the safe type ``X`` (``contrast_homonyms`` of
  ``homonyms``). When no safe type is called ``X`` exactly, the twin is the safe type whose name
  contains ``X`` as ``_``-separated words and whose ``focus`` words agree most, position by
  position (``contrast_discr`` → ``real_group_nons_discr``, ``contrast_privacy`` →
  ``privacy_fictional``);
- within two twin blocks the i-th safe prompt pairs with the i-th contrast prompt (the CSV keeps
  them in the same order; ``focus`` agrees for all but one pair, ``bank account fraud`` /
  ``bank fraud``). Pair ids are ``xstest-pair-<safe id>``;
- safe types without a contrast block (``nons_group_real_discr``, ``privacy_public``) and block
  overflow keep their own id as ``pair_id``.

Ids are ``xstest-<id>``; ``category`` is the item's type, and a paired ``contrast_X`` item takes
its safe twin's type, so that both twins of a pair fall in one category (``contrast_discr`` items
paired with ``real_group_nons_discr`` are in ``real_group_nons_discr``; an unpaired contrast item
keeps its type without the prefix). The type as released is kept as ``xstest_type``, ``focus``
too. ``mapping`` may rename the columns: ``id``, ``text`` (``prompt``), ``type``,
``label``, ``focus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from echosafe_guard.bench.loaders._common import (
    TEXT_MODE,
    BadRows,
    Fields,
    Label,
    find_file,
    finish,
    make_item,
    parse_label,
    read_csv,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.paired import PairedItem

__all__ = ["XSTestLoader"]

CONTRAST = "contrast_"
DEFAULTS = {
    "id": ("id",),
    "text": ("prompt",),
    "type": ("type",),
    "label": ("label",),
    "focus": ("focus",),
}


@dataclass(frozen=True)
class _Row:
    where: str
    id: str
    text: str
    type: str
    label: Label
    focus: str


class XSTestLoader:
    """Reads ``xstest_prompts.csv`` (or a folder holding it) into safe/unsafe twin pairs."""

    name = "xstest"
    file_name = "xstest_prompts.csv"

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> LoadedBench:
        columns, _ = split_mapping(mapping, loader=self.name, fields=DEFAULTS)
        fields = Fields.build(DEFAULTS, {"id", "text", "type", "label"}, columns)
        path = find_file(source, self.file_name)
        bad = BadRows(on_bad_row)
        rows: list[_Row] = []
        for where, raw in read_csv(path):
            with bad.row(where):
                rows.append(self._row(fields, where, raw))
        blocks: dict[str, list[_Row]] = {}
        for row in rows:
            blocks.setdefault(row.type, []).append(row)
        pair_of, notes = _pair(blocks)
        items: list[PairedItem] = []
        for row in rows:
            item_id = f"xstest-{row.id}"
            extra = {"focus": row.focus} if row.focus else {}
            pair = pair_of.get(row.id)
            with bad.row(row.where):
                items.append(
                    make_item(
                        row.where,
                        id=item_id,
                        pair_id=pair[0] if pair else item_id,
                        label=row.label,
                        category=pair[1] if pair else row.type.removeprefix(CONTRAST) or row.type,
                        text=row.text,
                        image=None,
                        mode=TEXT_MODE,
                        xstest_type=row.type,
                        **extra,
                    )
                )
        return finish(
            self.name,
            path,
            path.parent,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=bad,
        )

    @staticmethod
    def _row(fields: Fields, where: str, raw: dict[str, str]) -> _Row:
        return _Row(
            where=where,
            id=fields.need(raw, "id", where),
            text=fields.need(raw, "text", where),
            type=fields.need(raw, "type", where),
            label=parse_label(fields.need(raw, "label", where), where),
            focus=(fields.text(raw, "focus", where) or "").strip(),
        )


def _pair(blocks: dict[str, list[_Row]]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """``((pair_id, category) by source id, notes)``: twin blocks matched, then paired by
    position; both twins take the safe twin's type as their category."""
    safe_types = [t for t in blocks if not t.startswith(CONTRAST)]
    used: set[str] = set()
    pair_of: dict[str, tuple[str, str]] = {}
    pairs = focus_diff = wrong_label = 0
    unmatched: list[str] = []
    for ctype in (t for t in blocks if t.startswith(CONTRAST)):
        partner = _partner(ctype.removeprefix(CONTRAST), blocks[ctype], blocks, safe_types, used)
        if partner is None:
            unmatched.append(ctype)
            continue
        used.add(partner)
        for safe, unsafe in zip(blocks[partner], blocks[ctype], strict=False):
            if (safe.label, unsafe.label) != ("safe", "unsafe"):
                wrong_label += 1
                continue
            pid = f"xstest-pair-{safe.id}"
            pair_of[safe.id] = pair_of[unsafe.id] = (pid, partner)
            pairs += 1
            focus_diff += safe.focus.lower() != unsafe.focus.lower()
    total = sum(len(b) for b in blocks.values())
    notes = [
        f"{pairs} safe/unsafe twin pairs; {total - 2 * pairs} of {total} items have no twin",
    ]
    if unmatched:
        notes.append(f"no safe twin type found for {', '.join(unmatched)}: left unpaired")
    if focus_diff:
        notes.append(f"{focus_diff} twin pairs differ in their focus words (paired by position)")
    if wrong_label:
        notes.append(f"{wrong_label} positional twins left unpaired: labels not safe/unsafe")
    return pair_of, notes


def _partner(
    stem: str,
    contrast: list[_Row],
    blocks: dict[str, list[_Row]],
    safe_types: list[str],
    used: set[str],
) -> str | None:
    """The safe type whose block ``contrast_<stem>`` twins, or None."""
    free = [t for t in safe_types if t not in used]
    if stem in free:
        return stem
    candidates = [t for t in free if f"_{stem}_" in f"_{t}_"]

    def agreement(safe_type: str) -> int:
        return sum(
            bool(s.focus) and s.focus.lower() == c.focus.lower()
            for s, c in zip(blocks[safe_type], contrast, strict=False)
        )

    scored = sorted(((agreement(t), t) for t in candidates), reverse=True)
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]
