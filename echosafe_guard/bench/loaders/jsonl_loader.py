"""The project's own paired-bench JSONL (``echosafe_guard.paired``), or ``builtin``.

Items are used as written: ids are not re-prefixed (``memory seed`` and earlier reports know them),
image paths stay relative to the file's folder. ``mapping`` is refused: the format is the project's
own, there is nothing to map.
"""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.bench.loaders._common import finish
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import read_paired_jsonl

__all__ = ["JsonlLoader"]


class JsonlLoader:
    """Reads a paired-bench JSONL file, or ``builtin`` (the bundled set)."""

    name = "jsonl"

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
    ) -> LoadedBench:
        if mapping:
            raise DataFormatError(
                f"{self.name}: the paired-bench JSONL takes no mapping "
                f"(got {', '.join(sorted(mapping))}); its fields are fixed"
            )
        path, items = read_paired_jsonl(source)
        return finish(self.name, path, path.parent, items, text_only=text_only)
