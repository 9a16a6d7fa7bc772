"""MM-SafetyBench (Liu et al., ECCV 2024): query-relevant images that jailbreak MLLMs.

``source`` is the repository root (holding ``data/``), the release folder ``data/`` (holding
``processed_questions/`` and ``imgs/``), the ``processed_questions`` folder itself, or one
scenario file in it. Layout:

- ``processed_questions/<scenario>.json`` (``01-Illegal_Activitiy.json``, ...): an object keyed
  ``"0"``, ``"1"``, ... whose records have ``Question``, ``Rephrased Question``,
  ``Rephrased Question(SD)``, ``Key Phrase``, ``Phrase Type``, ...;
- ``imgs/<scenario>/{SD,SD_TYPO,TYPO}/<key>.jpg`` (``.png``/``.jpeg`` are accepted too).

Every item is ``unsafe`` with no twin (``pair_id`` = ``id``); ``category`` is the scenario name
as released (``01-Illegal_Activitiy``; the policy taxonomy maps it). Each record yields one item
per selected *mode*, as the paper's settings pair image and text:

=========  ============  ==========================  =========================
selection  item mode     text                        image
=========  ============  ==========================  =========================
SD         ``Gen``       ``Rephrased Question(SD)``  ``imgs/<s>/SD/<key>.jpg``
SD_TYPO    ``GenOCR``    ``Rephrased Question``      ``imgs/<s>/SD_TYPO/...``
TYPO       ``TYPO``      ``Rephrased Question``      ``imgs/<s>/TYPO/...``
text       ``text``      ``Question``                none
=========  ============  ==========================  =========================

The selection is ``MMSafetyBenchLoader(modes=("SD", "TYPO"))`` or
``mapping={"modes": "SD,TYPO"}`` (CLI ``--map modes=SD,TYPO``); the source names and the item
modes are both accepted, in any case. The default is the three image settings (SD, SD_TYPO,
TYPO). ``scenarios`` (``--map scenarios=01,07-Sex``: names or their number prefixes) limits the
scenario files read.

With ``text_only`` the rephrased questions are useless (they point at an image: "The bottom of
the image shows a phrase of an activity..."), so each record yields its ``text`` item only,
whatever the selection. Ids are ``mmsafetybench-<scenario>-<key>-<mode>``.

``text`` items carry ``Key Phrase`` as ``key_phrase`` and ``Rephrased Question`` as ``ocr_text``,
so the eval can add its rendered GenOCR case for them (no image file needed) as for the bundled
set; the image items leave both unset, since the release has their images already (a key phrase
would add a rendered GenOCR duplicate of every one of them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from echosafe_guard.bench.loaders._common import (
    BadRows,
    finish,
    make_item,
    read_json,
    records,
    required_text,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench, MissingImages, OnBadRow
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import PairedItem

__all__ = ["MMSafetyBenchLoader"]

QUESTIONS = "processed_questions"
IMAGES = "imgs"
# selection -> (item mode, text column, image folder or None)
MODES: dict[str, tuple[str, str, str | None]] = {
    "SD": ("Gen", "Rephrased Question(SD)", "SD"),
    "SD_TYPO": ("GenOCR", "Rephrased Question", "SD_TYPO"),
    "TYPO": ("TYPO", "Rephrased Question", "TYPO"),
    "text": ("text", "Question", None),
}
DEFAULT_MODES = ("SD", "SD_TYPO", "TYPO")
IMAGE_EXTS = (".jpg", ".png", ".jpeg")


def parse_modes(selection: Iterable[str] | str) -> tuple[str, ...]:
    """Source mode names (``SD``, ...) from source or item names, in any case; unknown refused."""
    names = selection.split(",") if isinstance(selection, str) else list(selection)
    lookup = {k.lower(): k for k in MODES} | {v[0].lower(): k for k, v in MODES.items()}
    out: list[str] = []
    for name in (n.strip() for n in names if n.strip()):
        if name.lower() not in lookup:
            known = ", ".join(f"{k} ({v[0]})" for k, v in MODES.items())
            raise DataFormatError(f"mmsafetybench: unknown mode {name!r} (known: {known})")
        if lookup[name.lower()] not in out:
            out.append(lookup[name.lower()])
    if not out:
        raise DataFormatError("mmsafetybench: empty mode selection")
    return tuple(out)


class MMSafetyBenchLoader:
    """Reads the MM-SafetyBench release: unsafe items, one per record and selected mode."""

    name = "mmsafetybench"

    def __init__(self, *, modes: Iterable[str] | None = None) -> None:
        self.modes = DEFAULT_MODES if modes is None else parse_modes(modes)

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> LoadedBench:
        _, opts = split_mapping(mapping, loader=self.name, options=("modes", "scenarios"))
        modes = parse_modes(opts["modes"]) if "modes" in opts else self.modes
        root, files = _scenario_files(source)
        if "scenarios" in opts:
            files = _select(files, opts["scenarios"])
        notes: list[str] = []
        if text_only:
            notes.append(
                "text-only: the text setting only (Question); the rephrased questions refer to "
                "an image"
            )
            modes = ("text",)
        rows = BadRows(on_bad_row)
        items: list[PairedItem] = []
        questions = 0
        for file in files:
            scenario = file.stem
            for key, where, record in records(read_json(file), file):
                with rows.row(where):
                    items.extend(_items(root, scenario, key, where, record, modes))
                    questions += 1
        notes.insert(
            0,
            f"{questions} questions from {len(files)} scenarios x {len(modes)} mode(s) "
            + ", ".join(f"{m} ({MODES[m][0]})" for m in modes)
            + f" = {len(items)} unsafe items",
        )
        return finish(
            self.name,
            source,
            root,
            items,
            notes,
            text_only=text_only,
            missing_images=missing_images,
            rows=rows,
        )


def _scenario_files(source: Path) -> tuple[Path, list[Path]]:
    """``(release root, scenario files)`` for a root, a ``processed_questions`` folder or a file."""
    if not source.exists():
        raise DataFormatError(f"{source}: no such file or folder")
    if source.is_file():
        return source.parent.parent, [source]
    if (source / QUESTIONS).is_dir():
        folder = source / QUESTIONS
    elif (source / "data" / QUESTIONS).is_dir():  # the repository root
        folder = source / "data" / QUESTIONS
    elif source.is_dir() and source.name == QUESTIONS:
        folder = source
    else:
        raise DataFormatError(
            f"{source}: not an MM-SafetyBench folder: no {QUESTIONS}/ nor data/{QUESTIONS}/ in it"
        )
    files = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not files:
        raise DataFormatError(f"{folder}: no scenario files (*.json)")
    return folder.parent, files


def _select(files: list[Path], selection: str) -> list[Path]:
    wanted = {s.strip().lower() for s in selection.split(",") if s.strip()}
    chosen = [f for f in files if {f.stem.lower(), f.stem.split("-")[0].lower()} & wanted]
    if not chosen:
        names = ", ".join(f.stem for f in files)
        raise DataFormatError(f"mmsafetybench: no scenario matches {selection!r} ({names})")
    return chosen


def _items(
    root: Path, scenario: str, key: str, where: str, record: dict[str, Any], modes: Iterable[str]
) -> list[PairedItem]:
    key_phrase = record.get("Key Phrase")
    rephrased = record.get("Rephrased Question")
    phrase_type = record.get("Phrase Type")
    out: list[PairedItem] = []
    for sel in modes:
        mode, column, folder = MODES[sel]
        text_mode = folder is None
        item_id = f"mmsafetybench-{scenario}-{key}-{mode}"
        extra = {"phrase_type": phrase_type} if isinstance(phrase_type, str) else {}
        out.append(
            make_item(
                where,
                id=item_id,
                pair_id=item_id,
                label="unsafe",
                category=scenario,
                text=required_text(record, column, where),
                image=None if folder is None else _image(root, scenario, folder, key),
                mode=mode,
                key_phrase=key_phrase if text_mode and isinstance(key_phrase, str) else None,
                ocr_text=rephrased if text_mode and isinstance(rephrased, str) else None,
                **extra,
            )
        )
    return out


def _image(root: Path, scenario: str, folder: str, key: str) -> str:
    """``imgs/<scenario>/<folder>/<key>.jpg``, or the ``.png``/``.jpeg`` file that exists."""
    stem = f"{IMAGES}/{scenario}/{folder}/{key}"
    for ext in IMAGE_EXTS:
        if (root / f"{stem}{ext}").is_file():
            return f"{stem}{ext}"
    return f"{stem}{IMAGE_EXTS[0]}"
