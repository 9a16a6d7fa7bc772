"""``UnsafeListLoader``: the shared reader of a JSON list of unsafe items without twins.

SIUO and VLSBench are constants on it (``siuo_loader``, ``vlsbench_loader``). A record with an
``options`` field (SIUO's multiple-choice file, ``siuo_mcqa.json``: an object ``{"A": ...}`` or a
list) keeps its options: they are appended to the question as ``(A) ...`` lines, in order, and the
record's ``correct_option`` is kept on the item; a load with such records says so in a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    BadRows,
    Fields,
    find_file,
    finish,
    image_dir,
    image_ref,
    make_item,
    read_json,
    records,
    split_mapping,
    type_name,
)
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow, Target
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import PairedItem

__all__ = ["UnsafeListLoader"]

OPTIONS = "options"
ANSWER = "correct_option"


class UnsafeListLoader:
    """A JSON list of unsafe items without twins (SIUO, VLSBench). Subclasses set the class
    attributes: ids are ``<name>-<id>``, the ``keep`` column is kept on the item, images are read
    under ``image_default`` (or the ``image_dir`` option / argument), relative to the file's
    folder, and ``target`` says what a right answer is."""

    name: ClassVar[str]
    file_name: ClassVar[str]
    defaults: ClassVar[Mapping[str, tuple[str, ...]]]
    keep: ClassVar[str]
    image_default: ClassVar[str]
    target: ClassVar[Target] = "refusal"
    target_note: ClassVar[str] = ""

    def __init__(self, *, image_dir: Path | str | None = None) -> None:
        self.image_dir = None if image_dir is None else Path(image_dir)

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> LoadedBench:
        columns, opts = split_mapping(
            mapping, loader=self.name, fields=self.defaults, options=("image_dir",)
        )
        fields = Fields.build(self.defaults, self.defaults, columns)
        path = find_file(source, self.file_name)
        base = image_dir(opts, path.parent, self.image_dir or self.image_default)
        rows = BadRows(on_bad_row)
        items: list[PairedItem] = []
        with_options = 0
        for _, where, record in records(read_json(path), path, keyed=False):
            with rows.row(where):
                item = self._item(fields, where, record)
                with_options += OPTIONS in record
                items.append(item)
        notes = [f"{len(items)} unsafe items (no twins)"]
        if with_options:
            notes.append(
                f"multiple-choice: {with_options} items carry their options appended to the "
                f"question as (A) ... lines; the answer key is kept as {ANSWER} (the refusal "
                "judge does not check the chosen letter)"
            )
        if self.target_note:
            notes.append(self.target_note)
        if not text_only:
            notes.append(f"images relative to {base}")
        return finish(
            self.name,
            path,
            base,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
            target=self.target,
        )

    def _item(self, fields: Fields, where: str, record: dict[str, Any]) -> PairedItem:
        item_id = f"{self.name}-{fields.need(record, 'id', where)}"
        text = fields.need(record, "text", where)
        extra: dict[str, Any] = {}
        kept = record.get(self.keep)
        if isinstance(kept, str):
            extra[self.keep] = kept
        if OPTIONS in record:
            text = f"{text}\n{_options(record[OPTIONS], where)}"
            answer = record.get(ANSWER)
            if isinstance(answer, str):
                extra[ANSWER] = answer
        return make_item(
            where,
            id=item_id,
            pair_id=item_id,
            label="unsafe",
            category=fields.need(record, "category", where),
            text=text,
            image=image_ref(fields.raw(record, "image", where), where),
            mode=IMAGE_MODE,
            **extra,
        )


def _options(value: Any, where: str) -> str:
    """``(A) first\\n(B) second`` from ``{"A": "first", ...}`` or ``["first", ...]``."""
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        pairs = [(chr(ord("A") + i), v) for i, v in enumerate(value)]
    else:
        raise DataFormatError(f"{where}: 'options' should be an object or a list, got "
                              f"{type_name(value)}")
    if not pairs or not all(isinstance(v, str) and v.strip() for _, v in pairs):
        raise DataFormatError(f"{where}: 'options' should hold non-empty strings")
    return "\n".join(f"({k}) {str(v).strip()}" for k, v in pairs)
