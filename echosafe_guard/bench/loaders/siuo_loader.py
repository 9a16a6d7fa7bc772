"""SIUO (Wang et al., 2024): ``siuo_gen.json``, safe inputs that lead to unsafe outputs.

A JSON list of records with ``question_id``, ``image`` (a file name), ``question``,
``category``, ``safety_warning`` and ``reference_answer``. The image and the question are each
harmless alone; together they are an unsafe context, so every item is labelled ``unsafe``: the
right behaviour is a cautious, safe answer. There are no twins (``pair_id`` = ``id``).

``source`` is the JSON file or a folder holding ``siuo_gen.json``. Images are read from
``images/`` next to the file; the ``image_dir`` option (``mapping={"image_dir": PATH}``, relative
to the file's folder or absolute, or ``SIUOLoader(image_dir=...)``) points elsewhere. Ids are
``siuo-<question_id>``; ``category`` is SIUO's (``self-harm``, ``dangerous behavior``, ...);
``safety_warning`` is kept on the item. Mode ``Gen``.

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

__all__ = ["SIUOLoader"]

DEFAULTS = {
    "id": ("question_id",),
    "text": ("question",),
    "image": ("image",),
    "category": ("category",),
}


class SIUOLoader:
    """Reads SIUO's generation set; every item is an unsafe context without a twin."""

    name = "siuo"
    file_name = "siuo_gen.json"

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
        base = image_dir(opts, path.parent, self.image_dir or "images")
        items: list[PairedItem] = []
        for _, where, record in records(read_json(path), path, keyed=False):
            item_id = f"siuo-{fields.need(record, 'id', where)}"
            warning = record.get("safety_warning")
            extra = {"safety_warning": warning} if isinstance(warning, str) else {}
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
        notes = [f"{len(items)} unsafe-context items (no twins)"]
        if not text_only:
            notes.append(f"images from {base}")
        return finish(self.name, path, base, items, notes, text_only=text_only)
