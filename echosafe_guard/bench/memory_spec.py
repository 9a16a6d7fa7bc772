"""``MemorySpec``: what the guard-on run of ``eval`` knows (``--memory empty|seed:FILE|online``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from echosafe_guard.bench.loaders.base import MissingImages, OnBadRow
from echosafe_guard.exceptions import InputError

__all__ = ["MemorySpec"]


@dataclass(frozen=True)
class MemorySpec:
    """``empty``, ``seed:FILE`` (a benchmark in any loader format, ``builtin`` by default) or
    ``online``. ``fmt``, ``mapping``, ``on_bad_row`` and ``missing_images`` are how the seed file
    is loaded (:func:`~echosafe_guard.bench.loaders.load_bench`)."""

    kind: Literal["empty", "seed", "online"]
    source: str | None = None
    fraction: float = 1.0
    """``seed``: the share of the file's pairs that is seeded (chosen by a hash of the pair id),
    so one file can be split into seeded and held-out pairs."""
    fmt: str | None = None
    mapping: dict[str, str] | None = None
    on_bad_row: OnBadRow = "fail"
    missing_images: MissingImages = "fail"

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        fraction: float = 1.0,
        fmt: str | None = None,
        mapping: dict[str, str] | None = None,
        on_bad_row: OnBadRow = "fail",
        missing_images: MissingImages = "fail",
    ) -> MemorySpec:
        if not 0.0 < fraction <= 1.0:
            raise InputError("--seed-fraction must be in (0, 1]")
        if text in ("empty", "online"):
            return cls(kind=text)  # type: ignore[arg-type]
        if text.startswith("seed:") and len(text) > len("seed:"):
            return cls(
                kind="seed",
                source=text[len("seed:") :],
                fraction=fraction,
                fmt=fmt,
                mapping=mapping,
                on_bad_row=on_bad_row,
                missing_images=missing_images,
            )
        raise InputError(f"--memory must be empty, online or seed:FILE, got {text!r}")

    def __str__(self) -> str:
        if self.kind != "seed":
            return self.kind
        return f"seed:{self.source}" + ("" if self.fraction == 1.0 else f"@{self.fraction:g}")
