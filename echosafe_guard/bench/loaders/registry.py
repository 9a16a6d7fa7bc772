"""The loader registry: format name → loader, and :func:`load_bench`, the one entry point.

Format names: ``jsonl`` (the project's paired JSONL, also ``builtin``, ``heldout``, ``heldout2``
… ``heldout30`` and ``default``), ``mmsafetybench``, ``mmsafetybench_pp``, ``mossbench``,
``mssbench``, ``siuo``, ``vlsbench``, ``xstest``. Names are matched case-insensitively, with
``-`` read as ``_`` (``mmsafetybench++`` is accepted too).

``mapping`` keys of the form ``category:NAME`` are not the loader's: they rename a benchmark
category to a policy taxonomy key for this load (CLI ``--map 'category:Violent=physical_harm'``),
the escape for a category the policy does not map. The item keeps the name it was released with
as ``source_category``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from echosafe_guard.bench.loaders.base import BenchLoader, LoadedBench, MissingImages, OnBadRow
from echosafe_guard.bench.loaders.hub import KNOWN_FORMATS, is_hub_source, parse, snapshot
from echosafe_guard.bench.loaders.jsonl_loader import JsonlLoader
from echosafe_guard.bench.loaders.mmsafetybench_loader import MMSafetyBenchLoader
from echosafe_guard.bench.loaders.mmsafetybench_pp_loader import MMSafetyBenchPPLoader
from echosafe_guard.bench.loaders.mossbench_loader import MOSSBenchLoader
from echosafe_guard.bench.loaders.mssbench_loader import MSSBenchLoader
from echosafe_guard.bench.loaders.siuo_loader import SIUOLoader
from echosafe_guard.bench.loaders.vlsbench_loader import VLSBenchLoader
from echosafe_guard.bench.loaders.xstest_loader import XSTestLoader
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import BUNDLED, DEFAULT_MEMORY, is_bundled

__all__ = ["CATEGORY_PREFIX", "LOADERS", "get_loader", "load_bench", "split_category_map"]

CATEGORY_PREFIX = "category:"

LOADERS: dict[str, type[BenchLoader]] = {
    "jsonl": JsonlLoader,
    "mmsafetybench": MMSafetyBenchLoader,
    "mmsafetybench_pp": MMSafetyBenchPPLoader,
    "mossbench": MOSSBenchLoader,
    "mssbench": MSSBenchLoader,
    "siuo": SIUOLoader,
    "vlsbench": VLSBenchLoader,
    "xstest": XSTestLoader,
}
"""Format name → loader class (constructed without arguments by :func:`get_loader`)."""

_ALIASES = {"mmsafetybench++": "mmsafetybench_pp", "mm_safetybench": "mmsafetybench"}


def get_loader(name: str) -> BenchLoader:
    """A loader for the format ``name``; an unknown name raises ``DataFormatError``."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LOADERS:
        raise DataFormatError(
            f"unknown benchmark format {name!r} (known: {', '.join(sorted(LOADERS))})"
        )
    return LOADERS[key]()


def split_category_map(
    mapping: dict[str, str] | None,
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """``(the loader's mapping, category renames)``: ``category:NAME=KEY`` entries split off."""
    loader: dict[str, str] = {}
    categories: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if key.startswith(CATEGORY_PREFIX):
            name = key[len(CATEGORY_PREFIX) :].strip()
            if not name or not value.strip():
                raise DataFormatError(f"--map {key}={value}: expected category:NAME=KEY")
            categories[name] = value.strip()
        else:
            loader[key] = value
    return loader or None, categories


def _rename_categories(bench: LoadedBench, renames: dict[str, str]) -> LoadedBench:
    """Items whose category is a ``renames`` name (any case) take its key."""
    lookup = {name.lower(): key for name, key in renames.items()}
    counts: dict[tuple[str, str], int] = {}
    items = []
    for item in bench.items:
        key = lookup.get(item.category.lower())
        if key is None:
            items.append(item)
            continue
        counts[item.category, key] = counts.get((item.category, key), 0) + 1
        items.append(item.model_copy(update={"category": key, "source_category": item.category}))
    notes = [f"category map: {name} -> {key} ({n} items)" for (name, key), n in counts.items()]
    used = {name.lower() for name, _ in counts}
    unused = [name for name in renames if name.lower() not in used]
    if unused:
        notes.append(f"category map: no item has the category {', '.join(map(repr, unused))}")
    return replace(bench, items=tuple(items), notes=(*bench.notes, *notes))


def load_bench(
    source: str | Path,
    *,
    fmt: str | None = None,
    text_only: bool = False,
    mapping: dict[str, str] | None = None,
    on_bad_row: OnBadRow = "fail",
    missing_images: MissingImages = "fail",
) -> LoadedBench:
    """Load ``source`` in format ``fmt``.

    Without ``fmt``, ``builtin``, ``heldout``, ``heldout2`` … ``heldout30``, ``default`` and
    ``*.jsonl`` files are read as the project's paired JSONL (and a known hub dataset in its own
    format); any other source needs ``fmt`` (CLI ``--format``). ``hf:owner/name`` is downloaded
    from the Hugging Face hub first (:mod:`~echosafe_guard.bench.loaders.hub`). ``text_only``,
    ``mapping``, ``on_bad_row`` and ``missing_images`` go to the loader (see
    :class:`~echosafe_guard.bench.loaders.base.BenchLoader`), except the ``category:NAME=KEY``
    renames, applied here.
    """
    text = str(source)
    mapping, renames = split_category_map(mapping)
    if is_hub_source(text):
        repo = parse(text)[0].lower()
        fmt = fmt or KNOWN_FORMATS.get(repo)
        if fmt is None:
            raise DataFormatError(
                f"{text}: pass --format (fmt=) for this hub dataset; one of "
                f"{', '.join(sorted(LOADERS))}"
            )
        text = str(snapshot(text))
    auto = fmt is None
    if fmt is None:
        if not is_bundled(text) and Path(text).suffix.lower() != ".jsonl":
            raise DataFormatError(
                f"{text}: cannot tell the benchmark format; pass --format (fmt=) one of "
                f"{', '.join(sorted(LOADERS))} (only {', '.join([*BUNDLED, DEFAULT_MEMORY])} "
                "and *.jsonl files are detected)"
            )
        fmt = "jsonl"
    loader = get_loader(fmt)
    path = Path(text) if is_bundled(text) else Path(text).expanduser()
    try:
        bench = loader.load(
            path,
            text_only=text_only,
            mapping=mapping,
            on_bad_row=on_bad_row,
            missing_images=missing_images,
        )
    except DataFormatError as exc:
        # Only a record the paired format rejects earns the hint (not a missing file or image).
        if not auto or is_bundled(text) or not path.is_file() or not str(exc).startswith(str(path)):
            raise
        raise DataFormatError(
            f"{exc} (read as the paired-bench JSONL because of the .jsonl suffix; for another "
            "benchmark's JSONL, e.g. MM-SafetyBench++ test.jsonl, pass --format mmsafetybench_pp)"
        ) from exc
    return _rename_categories(bench, renames) if renames else bench
