"""The loader registry: format name → loader, and :func:`load_bench`, the one entry point.

Format names: ``jsonl`` (the project's paired JSONL, also ``builtin`` and ``heldout``),
``mmsafetybench``, ``mmsafetybench_pp``, ``mossbench``, ``mssbench``, ``siuo``, ``vlsbench``,
``xstest``. Names are matched case-insensitively, with ``-`` read as ``_`` (``mmsafetybench++`` is
accepted too).
"""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.bench.loaders.base import BenchLoader, LoadedBench
from echosafe_guard.bench.loaders.jsonl_loader import JsonlLoader
from echosafe_guard.bench.loaders.mmsafetybench_loader import MMSafetyBenchLoader
from echosafe_guard.bench.loaders.mmsafetybench_pp_loader import MMSafetyBenchPPLoader
from echosafe_guard.bench.loaders.mossbench_loader import MOSSBenchLoader
from echosafe_guard.bench.loaders.mssbench_loader import MSSBenchLoader
from echosafe_guard.bench.loaders.siuo_loader import SIUOLoader
from echosafe_guard.bench.loaders.vlsbench_loader import VLSBenchLoader
from echosafe_guard.bench.loaders.xstest_loader import XSTestLoader
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.paired import BUNDLED

__all__ = ["LOADERS", "get_loader", "load_bench"]

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


def load_bench(
    source: str | Path,
    *,
    fmt: str | None = None,
    text_only: bool = False,
    mapping: dict[str, str] | None = None,
) -> LoadedBench:
    """Load ``source`` in format ``fmt``.

    Without ``fmt``, ``builtin``, ``heldout`` and ``*.jsonl`` files are read as the project's
    paired JSONL; any other source needs ``fmt`` (CLI ``--format``). ``text_only`` and
    ``mapping`` go to the loader (see :class:`~echosafe_guard.bench.loaders.base.BenchLoader`).
    """
    text = str(source)
    auto = fmt is None
    if fmt is None:
        if text not in BUNDLED and Path(text).suffix.lower() != ".jsonl":
            raise DataFormatError(
                f"{text}: cannot tell the benchmark format; pass --format (fmt=) one of "
                f"{', '.join(sorted(LOADERS))} (only builtin, heldout and *.jsonl files are "
                "detected)"
            )
        fmt = "jsonl"
    loader = get_loader(fmt)
    path = Path(text) if text in BUNDLED else Path(text).expanduser()
    try:
        return loader.load(path, text_only=text_only, mapping=mapping)
    except DataFormatError as exc:
        # Only a record the paired format rejects earns the hint (not a missing file or image).
        if not auto or text in BUNDLED or not path.is_file() or not str(exc).startswith(str(path)):
            raise
        raise DataFormatError(
            f"{exc} (read as the paired-bench JSONL because of the .jsonl suffix; for another "
            "benchmark's JSONL, e.g. MM-SafetyBench++ test.jsonl, pass --format mmsafetybench_pp)"
        ) from exc
