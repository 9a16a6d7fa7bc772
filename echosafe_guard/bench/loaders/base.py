"""The ``BenchLoader`` Protocol: reads an external benchmark into paired-bench items."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from echosafe_guard.paired import PairedItem

__all__ = ["BenchLoader", "LoadedBench"]


@dataclass(frozen=True)
class LoadedBench:
    """A benchmark in the paired-bench shape.

    ``base`` is the folder image paths are relative to. Items without a twin keep their own
    ``pair_id`` (pair accuracy only counts complete pairs). ``notes`` says what was mapped,
    dropped or made text-only.
    """

    name: str
    base: Path
    items: tuple[PairedItem, ...]
    notes: tuple[str, ...] = field(default=())


@runtime_checkable
class BenchLoader(Protocol):
    """Reads one benchmark format.

    ``source`` is the file or folder the user named. With ``text_only`` images are dropped and
    items run in ``text`` mode; without it, a missing image raises ``DataFormatError`` listing the
    missing files. ``mapping`` renames source columns to paired-bench fields (``field=column``),
    for formats whose schema could not be verified; some loaders also take options through it
    (``image_dir=PATH``, MM-SafetyBench's ``modes=SD,TYPO``). Each loader's module docstring
    lists the keys it accepts; any other key raises ``DataFormatError``. Every bad input (an
    unreadable file, invalid JSON/CSV, a missing field) raises ``DataFormatError`` naming the file
    and, where there is one, the record.
    """

    @property
    def name(self) -> str: ...

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
    ) -> LoadedBench: ...
