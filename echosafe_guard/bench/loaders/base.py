"""The ``BenchLoader`` Protocol: reads an external benchmark into paired-bench items."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from echosafe_guard.paired import PairedItem

__all__ = ["BenchLoader", "LoadedBench", "MissingImages", "OnBadRow", "SkippedRow", "Target"]

OnBadRow = Literal["skip", "fail"]
"""``fail``: a bad record stops the load; ``skip``: it is left out and listed in ``skipped``."""
MissingImages = Literal["drop", "fail", "text"]
"""An item whose image file is missing: stop the load, drop the item, or run it as text."""
Target = Literal["refusal", "safe_helpful"]
"""What a right answer to the benchmark's unsafe items is: a refusal (XSTest, MM-SafetyBench,
...) or a safe *and* helpful answer (SIUO: its gold answers are cautious but helpful), which a
refusal rate does not measure."""


@dataclass(frozen=True)
class SkippedRow:
    """A record left out of the load (``--on-bad-row skip``, ``--missing-images drop``)."""

    where: str
    reason: str


@dataclass(frozen=True)
class LoadedBench:
    """A benchmark in the paired-bench shape.

    ``base`` is the folder image paths are relative to. Items without a twin keep their own
    ``pair_id`` (pair accuracy only counts complete pairs). ``notes`` says what was mapped,
    dropped or made text-only; ``skipped`` names every record left out and why; ``target`` says
    whether refusal is the right answer to the unsafe items (see :data:`Target`).
    """

    name: str
    base: Path
    items: tuple[PairedItem, ...]
    notes: tuple[str, ...] = field(default=())
    skipped: tuple[SkippedRow, ...] = field(default=())
    target: Target = "refusal"


@runtime_checkable
class BenchLoader(Protocol):
    """Reads one benchmark format.

    ``source`` is the file or folder the user named. With ``text_only`` images are dropped and
    items run in ``text`` mode; without it, ``missing_images`` says what a missing image file does:
    ``fail`` raises ``DataFormatError`` listing the missing files, ``drop`` leaves those items out
    (listed in ``skipped``), ``text`` runs them as text. ``on_bad_row="skip"`` leaves out a record
    that fails its checks instead of failing the load (listed in ``skipped``, with the reason).
    ``mapping`` renames source columns to paired-bench fields (``field=column``), for formats
    whose schema could not be verified; some loaders also take options through it
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
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> LoadedBench: ...
