"""MOSSBench (Li et al., 2024): benign image queries that look risky, with harmful twins.

``source`` is the root of the release (the folder that holds ``data/``):

- ``data/images_information/information.json``: the 300 benign queries, label ``safe``;
- ``data_contrast/images_information/information.json`` (optional): the harmful twins, label
  ``unsafe``, on the same image ids.

Both files are a JSON object keyed by ``pid`` (a list of records is accepted too); a record has
``pid``, ``question``, ``image`` (relative to its ``data…/`` folder, e.g. ``images/1.png``) and
``metadata``. A benign record and a contrast record with the same ``pid`` are twins (pair id
``mossbench-pair-<pid>``); ids are ``mossbench-<pid>`` (benign) and ``mossbench-contrast-<pid>``.
Image paths are relative to the root (``data/images/1.png``). Mode ``Gen``.

Category: MOSSBench's own label for an item is its oversensitivity stimulus, ``metadata.over``
(``type 1``/``type 2``/``type 3``), named here as in the paper: ``exaggerated_risk``,
``negated_harm``, ``counterintuitive_interpretation`` (another value is kept as written). The
numeric ``metadata.harm`` codes are unnamed in the release and only the benign file has them, so
they are not used. A contrast record without ``metadata.over`` takes its benign twin's.

``mapping`` may rename the record fields: ``id`` (``pid``), ``text`` (``question``), ``image``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    BadRows,
    Fields,
    Label,
    finish,
    image_ref,
    make_item,
    read_json,
    records,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import PairedItem

__all__ = ["MOSSBenchLoader"]

BENIGN_DIR = "data"
CONTRAST_DIR = "data_contrast"
INFO = Path("images_information") / "information.json"
OVERSENSITIVITY = {
    "type 1": "exaggerated_risk",
    "type 2": "negated_harm",
    "type 3": "counterintuitive_interpretation",
}
DEFAULTS = {"id": ("pid",), "text": ("question",), "image": ("image",)}


class MOSSBenchLoader:
    """Reads a MOSSBench release folder into benign (safe) / contrast (unsafe) twins."""

    name = "mossbench"

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
        fields = Fields.build(DEFAULTS, {"id", "text", "image"}, columns)
        benign_file = source / BENIGN_DIR / INFO
        if not benign_file.is_file():
            raise DataFormatError(
                f"{source}: not a MOSSBench folder: {BENIGN_DIR}/{INFO.as_posix()} not found"
            )
        rows = BadRows(on_bad_row)
        benign = self._read(benign_file, BENIGN_DIR, fields, rows)
        contrast_file = source / CONTRAST_DIR / INFO
        contrast = (
            self._read(contrast_file, CONTRAST_DIR, fields, rows) if contrast_file.is_file() else {}
        )
        notes: list[str] = []
        if not contrast:
            notes.append(f"no {CONTRAST_DIR}/{INFO.as_posix()}: benign items only, no twins")
        orphans = sorted(set(contrast) - set(benign), key=_pid_order)
        if orphans:
            notes.append(f"{len(orphans)} contrast items have no benign twin: {', '.join(orphans)}")
        items: list[PairedItem] = []
        for pid, (where, record) in benign.items():
            twin = contrast.get(pid)
            pair = f"mossbench-pair-{pid}" if twin else None
            with rows.row(where):
                items.append(_item(where, record, fields, pid, pair, "safe", None))
            if twin:
                with rows.row(twin[0]):
                    items.append(_item(*twin, fields, pid, pair, "unsafe", _over(record)))
        for pid in orphans:
            with rows.row(contrast[pid][0]):
                items.append(_item(*contrast[pid], fields, pid, None, "unsafe", None))
        pairs = sum(pid in contrast for pid in benign)
        notes.insert(0, f"{len(benign)} benign, {len(contrast)} contrast items; {pairs} twin pairs")
        return finish(
            self.name,
            source,
            source,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
        )

    @staticmethod
    def _read(
        path: Path, folder: str, fields: Fields, rows: BadRows
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for _, where, record in records(read_json(path), path):
            with rows.row(where):
                pid = fields.need(record, "id", where)
                if pid in out:
                    raise DataFormatError(f"{where}: duplicate pid {pid!r} in {folder}")
                out[pid] = (where, record)
        return out


def _item(
    where: str,
    record: dict[str, Any],
    fields: Fields,
    pid: str,
    pair_id: str | None,
    label: Label,
    fallback_over: str | None,
) -> PairedItem:
    """A benign (``safe``) or contrast (``unsafe``) item; images live in the record's folder."""
    item_id = f"mossbench-{pid}" if label == "safe" else f"mossbench-contrast-{pid}"
    folder = BENIGN_DIR if label == "safe" else CONTRAST_DIR
    image = image_ref(fields.raw(record, "image", where), where)
    over = _over(record) or fallback_over or "unknown"
    return make_item(
        where,
        id=item_id,
        pair_id=pair_id or item_id,
        label=label,
        category=OVERSENSITIVITY.get(over.lower(), over),
        text=fields.need(record, "text", where),
        image=None if image is None else f"{folder}/{image}",
        mode=IMAGE_MODE,
        oversensitivity=over,
    )


def _over(record: dict[str, Any]) -> str | None:
    meta = record.get("metadata")
    over = meta.get("over") if isinstance(meta, dict) else None
    return over.strip() if isinstance(over, str) and over.strip() else None


def _pid_order(pid: str) -> tuple[int, str]:
    return (int(pid), pid) if pid.isdigit() else (1 << 62, pid)
