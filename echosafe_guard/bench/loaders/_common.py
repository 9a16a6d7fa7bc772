"""Helpers shared by the benchmark loaders.

Capped, error-wrapped reads (JSON, JSONL, CSV), field lookup with ``mapping`` overrides, label
parsing, item construction and the final checks every loader runs (unique ids, images present or
dropped with ``text_only``). Every bad input becomes a :class:`DataFormatError` that names the file
and, where there is one, the record.

``mapping`` keys are either paired-bench *fields* (``text=query``: read ``text`` from the column
``query``) or loader *options* (``image_dir=imgs``, ``modes=SD,TYPO``); each loader documents the
keys it accepts and refuses the others.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import MAX_FILE_BYTES, PairedItem

IMAGE_MODE = "Gen"
"""The mode of an item that carries an image and a text (MM-SafetyBench's SD setting)."""
TEXT_MODE = "text"
SHOW_MISSING = 20
TEXT_ONLY_HINT = "run with --text-only (text_only=True) to load the items without images"

Label = Literal["unsafe", "safe"]
_UNSAFE = frozenset({"unsafe", "harmful", "1", "true", "yes"})
_SAFE = frozenset({"safe", "benign", "harmless", "0", "false", "no"})


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path`` (a BOM is dropped), refusing files over ``MAX_FILE_BYTES``."""
    try:
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "no such file"
            raise DataFormatError(f"{path}: {what}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DataFormatError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        return path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot be read: {exc}") from exc


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc


def read_jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, record)`` per non-blank line; every line must be a JSON object."""
    out: list[tuple[str, dict[str, Any]]] = []
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{where}: not valid JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise DataFormatError(f"{where}: expected a JSON object, got {type_name(record)}")
        out.append((where, record))
    return out


def read_csv(path: Path, required: Iterable[str] = ()) -> list[tuple[str, dict[str, str]]]:
    """``(where, row)`` per data row of a CSV file with a header; ``required`` columns checked."""
    text = read_text(path)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = list(reader.fieldnames or [])
        missing = [c for c in required if c not in header]
        if missing:
            raise DataFormatError(
                f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})"
            )
        rows: list[tuple[str, dict[str, str]]] = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise DataFormatError(f"{where}: {len(header)} columns expected")
            rows.append((where, row))
    except csv.Error as exc:
        raise DataFormatError(f"{path}: not valid CSV: {exc}") from exc
    return rows


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def find_file(source: Path, default_name: str) -> Path:
    """``source`` itself, or ``source/default_name`` when ``source`` is a folder."""
    path = source / default_name if source.is_dir() else source
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    return path


def records(
    data: Any, path: Path, *, keyed: bool = True
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, where, record)`` for a JSON list of objects (key = position) or, when ``keyed``,
    an object of objects (key = the member name)."""
    if isinstance(data, list):
        pairs: Iterable[tuple[str, Any]] = ((str(i), r) for i, r in enumerate(data))
    elif keyed and isinstance(data, dict):
        pairs = ((str(k), r) for k, r in data.items())
    else:
        want = "a JSON list or object" if keyed else "a JSON list"
        raise DataFormatError(f"{path}: expected {want}, got {type_name(data)}")
    out: list[tuple[str, str, dict[str, Any]]] = []
    for key, record in pairs:
        where = f"{path}: record {key}" if isinstance(data, list) else f"{path}: record {key!r}"
        if not isinstance(record, dict):
            raise DataFormatError(f"{where}: expected an object, got {type_name(record)}")
        out.append((key, where, record))
    return out


def split_mapping(
    mapping: Mapping[str, str] | None,
    *,
    loader: str,
    fields: Iterable[str] = (),
    options: Iterable[str] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """``(column overrides, options)`` from ``mapping``; unknown keys are refused."""
    fields, options = tuple(fields), tuple(options)
    columns: dict[str, str] = {}
    opts: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if not isinstance(value, str) or not value.strip():
            raise DataFormatError(f"{loader}: mapping {key!r} needs a non-empty value")
        if key in fields:
            columns[key] = value.strip()
        elif key in options:
            opts[key] = value.strip()
        else:
            known = ", ".join([*fields, *options]) or "none"
            raise DataFormatError(f"{loader}: unknown mapping key {key!r} (accepted: {known})")
    return columns, opts


@dataclass(frozen=True)
class Fields:
    """Where each field is read from: candidate columns tried in order, first present wins."""

    columns: Mapping[str, tuple[str, ...]]
    required: frozenset[str]

    @classmethod
    def build(
        cls,
        defaults: Mapping[str, Sequence[str]],
        required: Iterable[str],
        overrides: Mapping[str, str] | None = None,
    ) -> Fields:
        cols = {f: tuple(c) for f, c in defaults.items()}
        for field_name, column in (overrides or {}).items():
            cols[field_name] = (column,)
        return cls(cols, frozenset(required))

    def raw(self, record: Mapping[str, Any], field_name: str, where: str) -> Any:
        cols = self.columns[field_name]
        for col in cols:
            if col in record and record[col] is not None:
                return record[col]
        if field_name in self.required:
            raise DataFormatError(
                f"{where}: no {field_name!r} field: looked for column(s) {', '.join(cols)}; "
                f"the record has {', '.join(sorted(map(str, record))) or 'no columns'} "
                f"(map it with --map {field_name}=COLUMN)"
            )
        return None

    def text(self, record: Mapping[str, Any], field_name: str, where: str) -> str | None:
        value = self.raw(record, field_name, where)
        return None if value is None else as_text(value, field_name, where)

    def need(self, record: Mapping[str, Any], field_name: str, where: str) -> str:
        """A required field as a non-empty, stripped string."""
        value = (self.text(record, field_name, where) or "").strip()
        if not value:
            cols = ", ".join(self.columns[field_name])
            raise DataFormatError(f"{where}: {field_name!r} (column {cols}) is missing or empty")
        return value


def as_text(value: Any, field_name: str, where: str) -> str:
    """A string field; integers are accepted (ids) and rendered."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataFormatError(f"{where}: {field_name!r} should be a string, got {type_name(value)}")


def required_text(record: Mapping[str, Any], column: str, where: str) -> str:
    """``record[column]`` as a non-empty string."""
    if column not in record or record[column] is None:
        have = ", ".join(sorted(map(str, record))) or "no fields"
        raise DataFormatError(f"{where}: missing field {column!r} (the record has {have})")
    text = as_text(record[column], column, where)
    if not text.strip():
        raise DataFormatError(f"{where}: field {column!r} is empty")
    return text


def parse_label(value: Any, where: str) -> Label:
    """``unsafe`` | ``safe`` from unsafe/harmful/1/true or safe/benign/0/false (any case)."""
    norm = str(value).strip().lower() if isinstance(value, (str, int, bool)) else None
    if norm in _UNSAFE:
        return "unsafe"
    if norm in _SAFE:
        return "safe"
    raise DataFormatError(
        f"{where}: label {value!r} is neither unsafe (unsafe, harmful, 1, true) nor safe "
        "(safe, benign, 0, false)"
    )


def image_ref(value: Any, where: str) -> str | None:
    """An image path from the data: a non-empty string, or None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DataFormatError(f"{where}: image path should be a string, got {type_name(value)}")
    return value


def image_dir(opts: Mapping[str, str], folder: Path, default: Path | str) -> Path:
    """The image folder: the ``image_dir`` option, else ``default``; relative to ``folder``."""
    return folder / Path(opts.get("image_dir") or default).expanduser()


def make_item(where: str, **fields: Any) -> PairedItem:
    try:
        return PairedItem.model_validate(fields)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors()
        )
        raise DataFormatError(f"{where}: {errs}") from exc


def finish(
    name: str,
    source: Path,
    base: Path,
    items: Sequence[PairedItem],
    notes: Iterable[str] = (),
    *,
    text_only: bool,
) -> LoadedBench:
    """The ``LoadedBench``: ids checked unique, images checked present or dropped (text_only)."""
    notes = list(notes)
    if not items:
        raise DataFormatError(f"{source}: no {name} items found")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataFormatError(f"{source}: duplicate id {item.id!r}")
        seen.add(item.id)
    if text_only:
        dropped = sum(item.image is not None for item in items)
        items = [item.model_copy(update={"image": None, "mode": TEXT_MODE}) for item in items]
        if dropped:
            notes.append(f"text-only: dropped the images of {dropped} items; all run in text mode")
    else:
        check_images(name, base, items)
    return LoadedBench(name=name, base=base, items=tuple(items), notes=tuple(notes))


def check_images(name: str, base: Path, items: Iterable[PairedItem]) -> None:
    """One ``DataFormatError`` listing every missing image (the first ``SHOW_MISSING``)."""
    missing: dict[str, None] = {}
    total = 0
    for item in items:
        if item.image is None:
            continue
        total += 1
        if not (base / item.image).is_file():
            missing[item.image] = None
    if missing:
        shown = list(missing)[:SHOW_MISSING]
        more = len(missing) - len(shown)
        raise DataFormatError(
            f"{name}: {len(missing)} image file(s) not found under {base} "
            f"({total} image references): {', '.join(shown)}"
            + (f" ... and {more} more" if more else "")
            + f"; download the images or {TEXT_ONLY_HINT}"
        )


class UnsafeListLoader:
    """A JSON list of unsafe items without twins (SIUO, VLSBench). Subclasses set the class
    attributes: ids are ``<name>-<id>``, the ``keep`` column is kept on the item, and images are
    read under ``image_default`` (or the ``image_dir`` option / argument), relative to the file's
    folder."""

    name: ClassVar[str]
    file_name: ClassVar[str]
    defaults: ClassVar[Mapping[str, tuple[str, ...]]]
    keep: ClassVar[str]
    image_default: ClassVar[str]

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
            mapping, loader=self.name, fields=self.defaults, options=("image_dir",)
        )
        fields = Fields.build(self.defaults, self.defaults, columns)
        path = find_file(source, self.file_name)
        base = image_dir(opts, path.parent, self.image_dir or self.image_default)
        items: list[PairedItem] = []
        for _, where, record in records(read_json(path), path, keyed=False):
            item_id = f"{self.name}-{fields.need(record, 'id', where)}"
            kept = record.get(self.keep)
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
                    **({self.keep: kept} if isinstance(kept, str) else {}),
                )
            )
        notes = [f"{len(items)} unsafe items (no twins)"]
        if not text_only:
            notes.append(f"images relative to {base}")
        return finish(self.name, path, base, items, notes, text_only=text_only)
