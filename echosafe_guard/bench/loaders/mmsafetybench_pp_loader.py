"""MM-SafetyBench++ as released on the Hugging Face hub (``EchoSafe-MLLM/MM-SafetyBench-plus-plus``,
CC BY 4.0): parquet files with the images embedded, plus a ``test.jsonl``; safe/unsafe twins over
MM-SafetyBench scenarios.

``source`` is any of:

- a local snapshot folder, as ``huggingface_hub.snapshot_download`` leaves it (a ``local_dir`` or
  the hub cache's ``snapshots/<revision>/``, whose files are symlinks): its ``*.parquet`` files
  are read (those with ``test`` in their name when there are several splits; ``.cache/`` is
  ignored), else its ``test.jsonl``;
- one ``.parquet`` file, or the ``test.jsonl`` file (or a folder holding only ``test.jsonl``);
- ``hf:EchoSafe-MLLM/MM-SafetyBench-plus-plus`` (CLI ``--bench hf:...``), downloaded into the hub
  cache first: see :func:`~echosafe_guard.bench.loaders.hub.snapshot`.

The fields third-party readers use are ``image`` (embedded: the datasets ``Image`` struct
``{bytes, path}``, or raw bytes), ``category`` (spelled ``HateSpeech``, ``Illegal_Activity``,
``Fraud``, ``Sex``, ...: the default policy's aliases map them), ``mode`` (``Gen``/``GenOCR``) and
``label``. Other fields are looked up under the column names such a file plausibly uses (first
present wins), and ``mapping`` (CLI ``--map field=column``) names the column outright:

=============  =====================================================  ========
field          default columns                                        required
=============  =====================================================  ========
``id``         id, question_id, qid, item_id                          no (row)
``pair_id``    pair_id, pair, group_id, pair_key                      no (= id)
``label``      label, safety_label, type, is_harmful, is_unsafe       yes
``category``   category, scenario, harm_category                      yes
``text``       text, question, query, prompt, instruction             yes
``image``      image, image_path, img, img_path                       no
``mode``       mode, setting                                          no
``key_phrase`` key_phrase, Key Phrase                                 no
=============  =====================================================  ========

Labels read ``unsafe``/``harmful``/``1``/``true`` as unsafe and ``safe``/``benign``/``0``/``false``
as safe. Without a mode column an item with an image runs in ``Gen`` mode, one without in
``text``. A required field that cannot be found raises ``DataFormatError`` naming the field, the
columns tried and the columns the record has.

Embedded images go through the same checks as a request's images
(:func:`echosafe_guard.images.image_from_bytes`: accepted formats, byte and pixel caps) and are
written once, by content hash, into an image folder: the ``image_dir`` option
(``mapping={"image_dir": PATH}`` or ``MMSafetyBenchPPLoader(image_dir=...)``) or by default
``$ECHOSAFE_CACHE_DIR`` (else ``~/.cache/echosafe-guard``) ``/mmsafetybench_pp/images``. An image
that fails the checks is a bad row (``on_bad_row``). For ``test.jsonl`` image paths are relative
to the file's folder, or to ``image_dir``. Ids are ``mmsafetybench_pp-<id>``, pair ids
``mmsafetybench_pp-pair-<pair_id>`` (an item without a pair column is its own pair).

Reading parquet needs ``pyarrow`` (a dependency of echosafe-guard).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    TEXT_MODE,
    BadRows,
    Fields,
    finish,
    image_dir,
    image_ref,
    make_item,
    parse_label,
    read_jsonl,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.exceptions import DataFormatError, ImageError
from echosafe_guard.images import image_from_bytes
from echosafe_guard.paired import PairedItem
from echosafe_guard.policy.models import ImagePolicy

__all__ = ["MMSafetyBenchPPLoader"]

PREFIX = "mmsafetybench_pp"
DEFAULTS = {
    "id": ("id", "question_id", "qid", "item_id"),
    "pair_id": ("pair_id", "pair", "group_id", "pair_key"),
    "label": ("label", "safety_label", "type", "is_harmful", "is_unsafe"),
    "category": ("category", "scenario", "harm_category"),
    "text": ("text", "question", "query", "prompt", "instruction"),
    "image": ("image", "image_path", "img", "img_path"),
    "mode": ("mode", "setting"),
    "key_phrase": ("key_phrase", "Key Phrase"),
}
REQUIRED = ("label", "category", "text")
PARQUET_BATCH = 64
EXTS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif"}


def default_image_dir() -> Path:
    """Where embedded images are written unless ``image_dir`` says otherwise."""
    root = os.environ.get("ECHOSAFE_CACHE_DIR") or Path.home() / ".cache" / "echosafe-guard"
    return Path(root).expanduser() / PREFIX / "images"


class MMSafetyBenchPPLoader:
    """Reads MM-SafetyBench++: its parquet files (embedded images) or ``test.jsonl``."""

    name = "mmsafetybench_pp"
    file_name = "test.jsonl"

    def __init__(
        self, *, image_dir: Path | str | None = None, image_policy: ImagePolicy | None = None
    ) -> None:
        self.image_dir = None if image_dir is None else Path(image_dir)
        self.image_policy = image_policy or ImagePolicy()

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
        files = _source_files(source)
        rows = BadRows(on_bad_row)
        items: list[PairedItem] = []
        if files[0].suffix.lower() == ".parquet":
            folder = (
                default_image_dir()
                if "image_dir" not in opts and self.image_dir is None
                else image_dir(opts, files[0].parent, self.image_dir or ".")
            )
            base = folder.resolve()
            for where, record in _parquet_records(files):
                with rows.row(where):
                    image = None if text_only else self._embedded(record, fields, where, base)
                    items.append(_item(fields, where, record, image))
            read = f"{len(files)} parquet file(s)"
        else:
            base = image_dir(opts, files[0].parent, self.image_dir or ".")
            for where, record in read_jsonl(files[0]):
                with rows.row(where):
                    image = image_ref(fields.raw(record, "image", where), where)
                    items.append(_item(fields, where, record, image))
            read = files[0].name
        notes = [f"{_summary(items)} (read {read})"]
        if columns:
            notes.append("mapped: " + ", ".join(f"{f}={c}" for f, c in sorted(columns.items())))
        return finish(
            self.name,
            files[0],
            base,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
        )

    def _embedded(
        self, record: dict[str, Any], fields: Fields, where: str, base: Path
    ) -> str | None:
        """The embedded image, checked and written under ``base``; its file name."""
        value = fields.raw(record, "image", where)
        if isinstance(value, dict):
            value = value.get("bytes")
        if value is None:
            return None
        if isinstance(value, str):  # a path column, not an embedded image
            return image_ref(value, where)
        if not isinstance(value, (bytes, bytearray)):
            raise DataFormatError(f"{where}: 'image' should hold image bytes, got {type(value)}")
        try:
            checked = image_from_bytes(
                bytes(value), where=where, source="mmsafetybench_pp", policy=self.image_policy
            )
        except ImageError as exc:
            raise DataFormatError(f"{where}: embedded image refused: {exc}") from exc
        name = f"{checked.sha256[:32]}{EXTS.get(checked.format, '.img')}"
        target = base / name
        if not target.is_file():
            try:
                base.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
                tmp.write_bytes(checked.data)
                os.replace(tmp, target)
            except OSError as exc:
                raise DataFormatError(f"{where}: cannot write the image to {base}: {exc}") from exc
        return name


def _item(fields: Fields, where: str, record: dict[str, Any], image: str | None) -> PairedItem:
    tail = where.rsplit(":", 1)[-1].strip().removeprefix("row ")
    item_id = f"{PREFIX}-{(fields.text(record, 'id', where) or '').strip() or tail}"
    pair = (fields.text(record, "pair_id", where) or "").strip()
    mode = (fields.text(record, "mode", where) or "").strip()
    return make_item(
        where,
        id=item_id,
        pair_id=f"{PREFIX}-pair-{pair}" if pair else item_id,
        label=parse_label(fields.raw(record, "label", where), where),
        category=fields.need(record, "category", where),
        text=fields.need(record, "text", where),
        image=image,
        mode=mode or (IMAGE_MODE if image else TEXT_MODE),
        key_phrase=fields.text(record, "key_phrase", where),
    )


def _source_files(source: Path) -> list[Path]:
    """The parquet files, or the one JSONL file, that ``source`` names."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DataFormatError(f"{source}: no such file or folder")
    parquet = sorted(
        p for p in source.rglob("*.parquet") if ".cache" not in p.relative_to(source).parts
    )
    tests = [p for p in parquet if "test" in p.name.lower()]
    if tests or parquet:
        return tests or parquet
    for candidate in (source / "test.jsonl", source / "data" / "test.jsonl"):
        if candidate.is_file():
            return [candidate]
    raise DataFormatError(
        f"{source}: not an MM-SafetyBench++ folder: no *.parquet file and no test.jsonl in it"
    )


def _parquet_records(files: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` per row of the parquet ``files``, read in small batches."""
    try:
        import pyarrow.parquet as pq  # only parquet sources need it
    except ImportError as exc:
        raise DataFormatError(
            "reading parquet needs pyarrow: pip install 'pyarrow>=15'"
        ) from exc
    for path in files:
        try:
            reader = pq.ParquetFile(path)
            n = 0
            for batch in reader.iter_batches(batch_size=PARQUET_BATCH):
                for record in batch.to_pylist():
                    yield f"{path}: row {n}", record
                    n += 1
        except (OSError, ValueError) as exc:  # pyarrow's ArrowException derives from both
            raise DataFormatError(f"{path}: not a readable parquet file: {exc}") from exc


def _summary(items: list[PairedItem]) -> str:
    """Counts of labels, complete pairs (one unsafe + one safe twin) and other groups."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.pair_id, []).append(item.label)
    shapes = Counter(
        "pair" if sorted(g) == ["safe", "unsafe"] else "single" if len(g) == 1 else "other"
        for g in groups.values()
    )
    labels = Counter(item.label for item in items)
    text = (
        f"{len(items)} items ({labels['unsafe']} unsafe, {labels['safe']} safe); "
        f"{shapes['pair']} safe/unsafe pairs, {shapes['single']} items without a twin"
    )
    if shapes["other"]:
        text += f"; {shapes['other']} pair ids group other than one unsafe and one safe item"
    return text
