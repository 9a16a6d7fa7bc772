"""The project's own paired-bench JSONL (``echosafe_guard.paired``), ``builtin``, ``heldout``,
``heldout2`` … ``heldout30`` or ``default`` (the default seed memory: its sets' records in
order).

Items are used as written: ids are not re-prefixed (``memory seed`` and earlier reports know them),
image paths stay relative to the file's folder. ``mapping`` is refused: the format is the project's
own, there is nothing to map. With ``on_bad_row="skip"`` a line that is not a valid item (or
repeats an id) is left out and listed in ``skipped``.
"""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.bench.loaders._common import BadRows, finish, item_from, read_jsonl
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import PairedItem, bundled_paths, is_bundled

__all__ = ["JsonlLoader"]


class JsonlLoader:
    """Reads a paired-bench JSONL file, or ``builtin`` / ``heldout`` / ``heldout2`` …
    ``heldout30`` / ``default`` (bundled)."""

    name = "jsonl"

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> LoadedBench:
        if mapping:
            raise DataFormatError(
                f"{self.name}: the paired-bench JSONL takes no mapping "
                f"(got {', '.join(sorted(mapping))}); its fields are fixed"
            )
        paths = bundled_paths(str(source)) if is_bundled(str(source)) else (source,)
        path = paths[0]
        rows = BadRows(on_bad_row)
        items: list[PairedItem] = []
        for where, record in (r for p in paths for r in read_jsonl(p)):
            with rows.row(where):
                items.append(item_from(where, record))
        return finish(
            self.name,
            path,
            path.parent,
            items,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
        )
