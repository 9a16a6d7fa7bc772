"""``NgramIntentModel``: a word n-gram logistic model of the request's wording, ``logit(unsafe)``.

The key's embedding places a request by topic; twins share their topic and differ in a few
words of the ask ("unseen", "without the accountant noticing", "report it"). This model reads
those words: TF-IDF over lower-cased word unigrams and bigrams (tokens of two or more word
characters; sublinear term frequency ``1 + ln tf``; smoothed ``idf = ln((1 + n) / (1 + df)) + 1``;
the vector L2-normalised), then ``logit = features · coef + bias``. It is the same featurisation
as scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)``, written out so the
request path needs no scikit-learn; ``scripts/fit_intent_ngrams.py`` fits it.

Pure data and arithmetic: no I/O here (:mod:`~echosafe_guard.retrieval.bundled_text_verdict`
loads the shipped file).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from echosafe_guard.exceptions import DataFormatError

__all__ = ["FORMAT", "NgramIntentModel", "ngram_counts", "tfidf"]

FORMAT = "echosafe-intent-ngrams/1"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def ngram_counts(text: str) -> Counter[str]:
    """Unigram and bigram counts of ``text`` (lower-cased; bigrams joined by one space)."""
    toks = _TOKEN.findall(text.lower())
    grams = Counter(toks)
    grams.update(f"{a} {b}" for a, b in itertools.pairwise(toks))
    return grams


def tfidf(counts: Mapping[str, int], idf: Mapping[str, float]) -> dict[str, float]:
    """The L2-normalised TF-IDF vector of ``counts`` over the vocabulary of ``idf``."""
    vec = {g: (1.0 + math.log(n)) * idf[g] for g, n in counts.items() if g in idf and n > 0}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return {g: v / norm for g, v in vec.items()} if norm > 0 else {}


@dataclass(frozen=True)
class NgramIntentModel:
    """``idf`` and ``coef`` share one vocabulary; ``trained_on``: the sets it was fitted on
    (name -> sha256 of the file), ``c``: the inverse L2 strength it was fitted with."""

    idf: Mapping[str, float]
    coef: Mapping[str, float]
    bias: float
    trained_on: Mapping[str, str]
    c: float

    def logit(self, text: str) -> float | None:
        """``logit(unsafe)`` of ``text``; None when it has no word to read (empty, symbols)."""
        if not _TOKEN.search(text):
            return None
        vec = tfidf(ngram_counts(text), self.idf)
        return self.bias + sum(v * self.coef[g] for g, v in vec.items())

    def to_json(self) -> dict[str, Any]:
        terms = sorted(self.idf)
        return {
            "format": FORMAT,
            "c": self.c,
            "bias": self.bias,
            "trained_on": dict(self.trained_on),
            "terms": terms,
            "idf": [self.idf[t] for t in terms],
            "coef": [self.coef[t] for t in terms],
        }

    @classmethod
    def from_json(cls, raw: Any, *, source: str = "intent model") -> NgramIntentModel:
        """Validate and build; a file of another shape is a :class:`DataFormatError`."""
        try:
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError(f"not an {FORMAT} file")
            terms, idf, coef = raw["terms"], raw["idf"], raw["coef"]
            if not (isinstance(terms, list) and len(terms) == len(idf) == len(coef)):
                raise ValueError("terms, idf and coef differ in length")
            if len(set(terms)) != len(terms) or not all(isinstance(t, str) for t in terms):
                raise ValueError("terms must be distinct strings")
            nums = [float(v) for v in _floats(idf, coef, [raw["bias"], raw["c"]])]
            if not all(math.isfinite(v) for v in nums):
                raise ValueError("a weight is not finite")
            trained = {str(k): str(v) for k, v in dict(raw["trained_on"]).items()}
            return cls(
                idf=dict(zip(terms, map(float, idf), strict=True)),
                coef=dict(zip(terms, map(float, coef), strict=True)),
                bias=float(raw["bias"]),
                trained_on=trained,
                c=float(raw["c"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"{source}: {exc}") from exc


def _floats(*groups: Iterable[Any]) -> Iterable[float]:
    for group in groups:
        for v in group:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(f"expected a number, got {type(v).__name__}")
            yield float(v)
