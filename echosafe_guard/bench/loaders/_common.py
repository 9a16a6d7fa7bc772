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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from echosafe_guard.bench.loaders.base import (
    LoadedBench,
    MissingImages,
    OnBadRow,
    SkippedRow,
    Target,
)
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import MAX_FILE_BYTES, PairedItem

IMAGE_MODE = "Gen"
"""The mode of an item that carries an image and a text (MM-SafetyBench's SD setting)."""
TEXT_MODE = "text"
SHOW_MISSING = 20
TEXT_ONLY_HINT = (
    "pass --missing-images drop (leave those items out) or --missing-images text (run them as "
    "text), or --text-only (text_only=True) to load every item without its image"
)
SKIP_HINT = "pass --on-bad-row skip (on_bad_row='skip') to leave such records out"

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
    return item_from(where, fields)


def item_from(where: str, fields: Mapping[str, Any]) -> PairedItem:
    """A ``PairedItem`` from a record; a validation error names ``where`` and every field."""
    try:
        return PairedItem.model_validate(dict(fields))
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors()
        )
        raise DataFormatError(f"{where}: {errs}") from exc


class BadRows:
    """Applies ``on_bad_row`` to the records of one load: ``with rows.row(where): ...`` lets a
    bad record's ``DataFormatError`` through (``fail``, with a hint) or records it (``skip``)."""

    def __init__(self, on_bad_row: OnBadRow = "fail") -> None:
        if on_bad_row not in ("skip", "fail"):
            raise DataFormatError(f"on_bad_row must be skip or fail, got {on_bad_row!r}")
        self.on_bad_row = on_bad_row
        self.skipped: list[SkippedRow] = []

    @contextmanager
    def row(self, where: str) -> Iterator[None]:
        try:
            yield
        except DataFormatError as exc:
            if self.on_bad_row == "fail":
                raise DataFormatError(f"{exc} ({SKIP_HINT})") from exc
            self.skipped.append(SkippedRow(where, str(exc).removeprefix(f"{where}: ")))


def finish(
    name: str,
    source: Path,
    base: Path,
    items: Sequence[PairedItem],
    notes: Iterable[str] = (),
    *,
    text_only: bool,
    missing_images: MissingImages = "fail",
    rows: BadRows | None = None,
    target: Target = "refusal",
) -> LoadedBench:
    """The ``LoadedBench``: ids checked unique, images checked present, dropped (``text_only``)
    or handled per ``missing_images``; ``rows`` carries the records already skipped."""
    notes = list(notes)
    rows = rows or BadRows()
    unique: list[PairedItem] = []
    seen: set[str] = set()
    for item in items:
        with rows.row(f"{source}: item {item.id}"):
            if item.id in seen:
                raise DataFormatError(f"{source}: duplicate id {item.id!r}")
            seen.add(item.id)
            unique.append(item)
    items = unique
    if text_only:
        dropped = sum(item.image is not None for item in items)
        items = [item.model_copy(update={"image": None, "mode": TEXT_MODE}) for item in items]
        if dropped:
            notes.append(f"text-only: dropped the images of {dropped} items; all run in text mode")
    else:
        items = _missing_images(name, base, items, notes, rows, missing_images)
    if rows.skipped:
        notes.append(f"skipped {len(rows.skipped)} record(s): see skipped")
    if not items:
        raise DataFormatError(f"{source}: no {name} items found")
    return LoadedBench(
        name=name,
        base=base,
        items=tuple(items),
        notes=tuple(notes),
        skipped=tuple(rows.skipped),
        target=target,
    )


def _missing_images(
    name: str,
    base: Path,
    items: Sequence[PairedItem],
    notes: list[str],
    rows: BadRows,
    policy: MissingImages,
) -> list[PairedItem]:
    if policy == "fail":
        check_images(name, base, items)
        return list(items)
    if policy not in ("drop", "text"):
        raise DataFormatError(f"missing_images must be drop, fail or text, got {policy!r}")
    out: list[PairedItem] = []
    missing = 0
    for item in items:
        if item.image is None or (base / item.image).is_file():
            out.append(item)
            continue
        missing += 1
        if policy == "drop":
            rows.skipped.append(SkippedRow(item.id, f"image not found: {base / item.image}"))
        else:
            out.append(item.model_copy(update={"image": None, "mode": TEXT_MODE}))
    if missing:
        notes.append(
            f"{missing} item(s) whose image file is missing under {base} were "
            + ("dropped (their twins stay, unpaired)" if policy == "drop" else "run as text")
        )
    return out


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
