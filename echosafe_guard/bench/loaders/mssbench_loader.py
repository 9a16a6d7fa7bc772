"""MSSBench (Zhou et al., 2024, "Multimodal Situational Safety"): the chat task, as twins.

The data was not available when this loader was written; the schema below follows the release's
README and its ``inference.py`` and can be adjusted with ``mapping``:

- ``source`` is the JSON file (``combined.json``, as released; ``combine.json`` is accepted too)
  or a folder holding it. The top level is either
  ``{"chat": [...], "embodied": [...]}`` (only ``chat`` is read; embodied records are counted in a
  note) or the list of chat records itself;
- a chat record has ``safe_image_path``, ``unsafe_image_path`` (the same query is safe in one
  situation and unsafe in the other), ``queries`` (a list of questions; a single string is
  accepted), ``intent``, ``unsafe_image`` (a caption) and ``Type`` (the situational category);
- image paths are relative to ``<folder>/chat`` when that folder exists (as ``inference.py``
  joins them), else to the file's folder; the ``image_dir`` option (``mapping={"image_dir":
  PATH}`` or ``MSSBenchLoader(image_dir=...)``, relative to the file's folder or absolute) sets
  it explicitly. A relative ``source`` works the same as an absolute one.

Each query of each record gives a twin pair with the same text: the safe image → ``safe``, the
unsafe image → ``unsafe``. Ids are ``mssbench-<record>.<query>-safe`` / ``-unsafe`` (``<record>``
is the record's ``id`` when it has one, else its position), pair ids ``mssbench-<record>.<query>``.
Mode ``Gen``.

With ``text_only`` both twins of a pair have the same text and no image, so no model can tell them
apart: pair accuracy is 0 by construction. The load says so in a note (printed by ``eval`` and
written into ``report.md``).

``mapping`` fields (default columns, first present wins): ``id`` (id), ``text`` (queries, query,
intent, question), ``safe_image`` (safe_image_path, safe_image), ``unsafe_image``
(unsafe_image_path), ``category`` (Type, type, category, scenario).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    BadRows,
    Fields,
    as_text,
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
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import PairedItem

__all__ = ["MSSBenchLoader"]

DEFAULTS = {
    "id": ("id",),
    "text": ("queries", "query", "intent", "question"),
    "safe_image": ("safe_image_path", "safe_image"),
    "unsafe_image": ("unsafe_image_path",),
    "category": ("Type", "type", "category", "scenario"),
}
REQUIRED = ("text", "safe_image", "unsafe_image", "category")


class MSSBenchLoader:
    """Reads MSSBench chat records into (safe image, unsafe image) twins of the same query."""

    name = "mssbench"
    file_name = "combined.json"
    file_names = ("combined.json", "combine.json")

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
            mapping, loader=self.name, fields=DEFAULTS, options=("image_dir",)
        )
        fields = Fields.build(DEFAULTS, REQUIRED, columns)
        path = _find(source, self.file_names)
        data = read_json(path)
        notes: list[str] = []
        if isinstance(data, dict):
            if "chat" not in data:
                raise DataFormatError(
                    f"{path}: expected a list of chat records or an object with a 'chat' list "
                    f"(keys: {', '.join(map(str, data)) or 'none'})"
                )
            embodied = data.get("embodied")
            if isinstance(embodied, list) and embodied:
                notes.append(f"skipped {len(embodied)} embodied-task records (chat task only)")
            data = data["chat"]
        # Relative to the file's folder (image_dir() joins it): "chat", not path.parent / "chat",
        # which a relative source would double (mss/mss/chat).
        default_dir = "chat" if (path.parent / "chat").is_dir() else "."
        base = image_dir(opts, path.parent, self.image_dir or default_dir)
        rows = BadRows(on_bad_row)
        items: list[PairedItem] = []
        for n, where, record in records(data, path, keyed=False):
            with rows.row(where):
                items.extend(_record_items(fields, n, where, record))
        notes.insert(0, f"{len(items) // 2} twin pairs (same query, safe vs unsafe image)")
        if text_only:
            notes.append(
                "text-only: both twins of a pair now have the same text and no image, so pair "
                "accuracy is 0 by construction (only RR and AR mean something)"
            )
        return finish(
            self.name,
            path,
            base,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
        )


def _find(source: Path, names: tuple[str, ...]) -> Path:
    """``source``, or the first of ``names`` in the folder ``source``."""
    if source.is_dir():
        for name in names:
            if (source / name).is_file():
                return source / name
        raise DataFormatError(f"{source}: no {' or '.join(names)} in this folder")
    return find_file(source, names[0])


def _record_items(fields: Fields, n: str, where: str, record: dict[str, Any]) -> list[PairedItem]:
    """The twin pairs of one chat record: each query with the safe and the unsafe image."""
    rid = (fields.text(record, "id", where) or "").strip() or n
    category = fields.need(record, "category", where)
    images = {
        label: image_ref(fields.raw(record, f"{label}_image", where), where)
        for label in ("safe", "unsafe")
    }
    for label, image in images.items():
        if image is None:
            raise DataFormatError(f"{where}: empty {label} image path")
    out: list[PairedItem] = []
    for j, text in enumerate(_queries(fields.raw(record, "text", where), where)):
        pair_id = f"mssbench-{rid}.{j}"
        for label, image in images.items():
            out.append(
                make_item(
                    where,
                    id=f"{pair_id}-{label}",
                    pair_id=pair_id,
                    label=label,
                    category=category,
                    text=text,
                    image=image,
                    mode=IMAGE_MODE,
                )
            )
    return out


def _queries(value: Any, where: str) -> list[str]:
    """The record's queries: a non-empty list of non-empty strings, or one string."""
    values = value if isinstance(value, list) else [value]
    out = [as_text(v, "text", where).strip() for v in values]
    if not out or not all(out):
        raise DataFormatError(
            f"{where}: the query field should be a non-empty string or list of strings "
            f"(got {type_name(value)} {value!r:.80})"
        )
    return out
