"""Evaluation cases: a bench item in one mode, as the chat messages sent to the model."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from echosafe_guard.bench.genocr import GENOCR, genocr_available, genocr_variant, render_key_phrase
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.exceptions import DataFormatError, InputError
from echosafe_guard.paired import PairedItem
from echosafe_guard.policy.models import Taxonomy

__all__ = ["EvalCase", "build_cases", "case_messages", "source_category"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class EvalCase:
    """One item in one mode. ``pair_key`` pairs twins within a mode; ``category`` is resolved
    through the policy taxonomy (``source_category`` keeps the benchmark's own name)."""

    id: str
    pair_key: str
    label: Literal["unsafe", "safe"]
    category: str
    source_category: str
    mode: str
    text: str
    image_path: Path | None = None
    key_phrase: str | None = None
    """GenOCR: the phrase rendered into the image."""

    @property
    def image_ref(self) -> str | None:
        if self.key_phrase is not None:
            return f"genocr:{self.key_phrase}"
        return None if self.image_path is None else str(self.image_path)

    def image_bytes(self) -> tuple[bytes, str] | None:
        """``(bytes, mime type)`` of the case's image, or None for a text case."""
        if self.key_phrase is not None:
            return render_key_phrase(self.key_phrase), "image/png"
        if self.image_path is None:
            return None
        try:
            size = self.image_path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise DataFormatError(f"{self.image_path}: image over {MAX_IMAGE_BYTES} bytes")
            data = self.image_path.read_bytes()
        except OSError as exc:
            raise DataFormatError(f"{self.image_path}: cannot read image: {exc}") from exc
        mime = mimetypes.guess_type(self.image_path.name)[0] or "image/png"
        return data, mime


def source_category(item: PairedItem) -> str:
    """The benchmark's own category name (before a ``--map 'category:NAME=KEY'`` rename)."""
    original = (item.model_extra or {}).get("source_category")
    return original if isinstance(original, str) and original else item.category


def _case(item: PairedItem, *, base: Path, taxonomy: Taxonomy, genocr: bool) -> EvalCase:
    src = item
    if genocr:
        item = genocr_variant(item)
    image = None if genocr else item.image_path(base)
    return EvalCase(
        id=item.id,
        pair_key=f"{item.pair_id}|{item.mode}",
        label=item.label,
        category=taxonomy.resolve(item.category) or item.category,
        source_category=source_category(item),
        mode=item.mode,
        text=item.text,
        image_path=image,
        key_phrase=src.key_phrase if genocr else None,
    )


def build_cases(
    bench: LoadedBench,
    taxonomy: Taxonomy,
    *,
    modes: Sequence[str] | None = None,
    limit_pairs: int | None = None,
) -> list[EvalCase]:
    """Cases for ``bench`` in ``modes`` (None: each item's own mode, plus GenOCR for items with a
    ``key_phrase``). ``limit_pairs`` keeps the first N pair ids (a quick slice)."""
    items: Sequence[PairedItem] = bench.items
    if limit_pairs is not None:
        if limit_pairs < 1:
            raise InputError("limit must be >= 1")
        keep = list(dict.fromkeys(i.pair_id for i in items))[:limit_pairs]
        kept = set(keep)
        items = [i for i in items if i.pair_id in kept]
    wanted = None if modes is None else {m.lower() for m in modes}
    cases: list[EvalCase] = []
    for item in items:
        own = item.mode.lower()
        if wanted is None or own in wanted:
            cases.append(_case(item, base=bench.base, taxonomy=taxonomy, genocr=False))
        ocr = GENOCR.lower()
        if own != ocr and genocr_available(item) and (wanted is None or ocr in wanted):
            cases.append(_case(item, base=bench.base, taxonomy=taxonomy, genocr=True))
    if not cases:
        have = sorted({i.mode for i in bench.items})
        raise InputError(f"no items in the requested modes {sorted(wanted or [])}; have {have}")
    return cases


def case_messages(case: EvalCase, system: str | None = None) -> list[dict[str, Any]]:
    """The OpenAI-style messages for a case: the operator's ``system`` text (if any), the text,
    and the image as a data URL."""
    head = [{"role": "system", "content": system}] if system else []
    image = case.image_bytes()
    if image is None:
        return [*head, {"role": "user", "content": case.text}]
    data, mime = image
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return [
        *head,
        {
            "role": "user",
            "content": [
                {"type": "text", "text": case.text},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]
