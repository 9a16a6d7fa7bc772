"""VLSBench (Hu et al., 2024): ``data.json``, image-text pairs whose harm leaks from neither alone.

A JSON list of records with ``instruction_id``, ``instruction``, ``image_path`` (relative to the
file's folder, e.g. ``imgs/0.png``), ``category``, ``sub_category``, ``source``,
``image_description`` and ``safety_reason``. Every item is labelled ``unsafe`` (the right
behaviour is a safe answer); there are no twins (``pair_id`` = ``id``).

``source`` is the JSON file or a folder holding ``data.json``. The ``image_dir`` option
(``mapping={"image_dir": PATH}`` or ``VLSBenchLoader(image_dir=...)``) moves the folder image
paths are relative to. Ids are ``vlsbench-<instruction_id>``; ``category`` is VLSBench's
(``Illegal Activity``, ...) and ``sub_category`` is kept on the item. Mode ``Gen``.

``mapping`` may also rename the fields: ``id``, ``text``, ``image``, ``category``.
"""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    Fields,
    find_file,
    finish,
    image_dir,
    image_ref,
    make_item,
    read_json,
    records,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.bench.paired import PairedItem

__all__ = ["VLSBenchLoader"]

DEFAULTS = {
    "id": ("instruction_id",),
    "text": ("instruction",),
    "image": ("image_path",),
    "category": ("category",),
}


class VLSBenchLoader:
    """Reads VLSBench's ``data.json``; every item is unsafe, without a twin."""

    name = "vlsbench"
    file_name = "data.json"

    def __init__(self, *, image_dir: Path | str | None = None) -> None:
        self.image_dir = None if image_dir is None else Path(image_dir)

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
    ) -> LoadedBench:
        columns, opts = split_mapping(
            mapping, loader=self.name, fields=DEFAULTS, options=("image_dir",)
        )
        fields = Fields.build(DEFAULTS, DEFAULTS, columns)
        path = find_file(source, self.file_name)
        base = image_dir(opts, path.parent, self.image_dir or ".")
        items: list[PairedItem] = []
        for _, where, record in records(read_json(path), path, keyed=False):
            item_id = f"vlsbench-{fields.need(record, 'id', where)}"
            sub = record.get("sub_category")
            extra = {"sub_category": sub} if isinstance(sub, str) else {}
            items.append(
                make_item(
                    where,
                    id=item_id,
                    pair_id=item_id,
                    label="unsafe",
                    category=fields.need(record, "category", where),
                    text=fields.need(record, "text", where),
                    image=image_ref(fields.raw(record, "image", where), where),
                    mode=IMAGE_MODE,
                    **extra,
                )
            )
        notes = [f"{len(items)} unsafe items (no twins)"]
        if not text_only:
            notes.append(f"images relative to {base}")
        return finish(self.name, path, base, items, notes, text_only=text_only)
