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

from echosafe_guard.bench.loaders._common import load_unsafe_list
from echosafe_guard.bench.loaders.base import LoadedBench

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
        return load_unsafe_list(
            self.name,
            source,
            file_name=self.file_name,
            defaults=DEFAULTS,
            keep="sub_category",
            image_default=self.image_dir or ".",
            text_only=text_only,
            mapping=mapping,
        )
