"""``BundledTextVerdict``: the :class:`TextVerdict` the guard uses, the shipped n-gram model.

It reads ``echosafe_guard/data/intent_ngrams.json`` (or ``path``) on first use, once, under a
lock; the constructor does no I/O. The file was fitted by ``scripts/fit_intent_ngrams.py`` on
the project's seen twin sets (its ``trained_on`` names them with their sha256). A file that
cannot be read or validated raises :class:`~echosafe_guard.exceptions.DataFormatError` on every
call, so the caller can fall back to the probe alone.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from pathlib import Path

from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.retrieval.ngram_intent_model import NgramIntentModel
from echosafe_guard.retrieval.text_verdict import TextVerdict

__all__ = ["BundledTextVerdict", "INTENT_NGRAMS_FILE"]  # noqa: RUF022 - plain sorted()

INTENT_NGRAMS_FILE = "intent_ngrams.json"


class BundledTextVerdict:
    """Thread-safe, lazily loaded."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._model: NgramIntentModel | None = None
        self._error: DataFormatError | None = None
        self._lock = threading.Lock()

    def _source(self) -> Path:
        if self.path is not None:
            return self.path
        return Path(str(resources.files("echosafe_guard.data").joinpath(INTENT_NGRAMS_FILE)))

    def model(self) -> NgramIntentModel:
        """The loaded model (loads it on the first call; later calls reuse it or its error)."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None and self._error is None:
                src = self._source()
                try:
                    raw = json.loads(src.read_text(encoding="utf-8"))
                    self._model = NgramIntentModel.from_json(raw, source=str(src))
                except DataFormatError as exc:
                    self._error = exc
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                    self._error = DataFormatError(f"{src}: cannot read the intent model: {exc}")
            if self._error is not None:  # a fresh error each call: the first one's traceback stays
                raise DataFormatError(str(self._error)) from self._error
            assert self._model is not None
            return self._model

    def logit(self, text: str) -> float | None:
        return self.model().logit(text)


def _check_protocol(m: BundledTextVerdict) -> TextVerdict:
    return m  # mypy checks that BundledTextVerdict satisfies the TextVerdict Protocol
