"""Fit the shipped n-gram intent model (``echosafe_guard/data/intent_ngrams.json``).

    python scripts/fit_intent_ngrams.py [--out FILE] [--sets builtin coverage heldout ...]

Training data: the request texts and labels of the project's seen twin sets (by default
``builtin``, ``coverage``, ``heldout``, ``heldout2`` ... ``heldout26``; every set reported or in
the default memory when the model was fitted). Never a set still held out: a set fitted on
cannot be reported as held out afterwards. Features:
:mod:`echosafe_guard.retrieval.ngram_intent_model` (word unigrams and bigrams seen in at least two
texts). Model: L2 logistic regression
(scikit-learn, a development-only dependency of this script), ``C`` chosen from a fixed grid by
leave-one-set-out accuracy over the training sets. Deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from echosafe_guard.paired import builtin_path, read_paired_jsonl
from echosafe_guard.retrieval.bundled_text_verdict import INTENT_NGRAMS_FILE
from echosafe_guard.retrieval.ngram_intent_model import NgramIntentModel, ngram_counts, tfidf

SETS = ("builtin", "coverage", "heldout", *(f"heldout{n}" for n in range(2, 27)))
GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
MIN_DF = 2
DIGITS = 7  # significant digits kept in the file


def _round(v: float) -> float:
    return float(f"{v:.{DIGITS}g}")


def load(sets: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, str]]:
    texts: list[str] = []
    unsafe: list[bool] = []
    group: list[str] = []
    hashes: dict[str, str] = {}
    for name in sets:
        _, items = read_paired_jsonl(name)
        hashes[name] = hashlib.sha256(builtin_path(name).read_bytes()).hexdigest()
        for it in items:
            texts.append(it.text)
            unsafe.append(it.label == "unsafe")
            group.append(name)
    return texts, np.array(unsafe), np.array(group), hashes


def vocabulary(counts: list[Counter[str]]) -> dict[str, float]:
    """``idf`` of every n-gram in at least ``MIN_DF`` texts (smoothed, as the model reads it)."""
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(counts)
    return {g: float(np.log((1 + n) / (1 + d)) + 1.0) for g, d in sorted(df.items()) if d >= MIN_DF}


def matrix(counts: list[Counter[str]], idf: dict[str, float]) -> csr_matrix:
    col = {g: j for j, g in enumerate(idf)}
    rows, cols, vals = [], [], []
    for i, c in enumerate(counts):
        for g, v in tfidf(c, idf).items():
            rows.append(i)
            cols.append(col[g])
            vals.append(v)
    return csr_matrix((vals, (rows, cols)), shape=(len(counts), len(idf)))


def fit(
    texts: list[str],
    unsafe: np.ndarray,
    group: np.ndarray,
    hashes: dict[str, str],
    grid: tuple[float, ...] = GRID,
) -> NgramIntentModel:
    """The model; ``C`` from ``grid`` by leave-one-set-out accuracy (one value: taken as is)."""
    counts = [ngram_counts(t) for t in texts]
    idf = vocabulary(counts)
    x = matrix(counts, idf)
    scores = {grid[0]: 0.0}
    for c in grid if len(grid) > 1 else ():  # leave one set out (the vocabulary is unsupervised)
        acc = []
        for g in sorted(set(group.tolist())):
            test = group == g
            clf = LogisticRegression(C=c, max_iter=5000).fit(x[~test], unsafe[~test])
            acc.append(float((clf.predict(x[test]) == unsafe[test]).mean()))
        scores[c] = float(np.mean(acc))
        print(f"C {c}: leave-one-set-out accuracy {scores[c]:.4f}")
    best = max(scores, key=lambda c: (scores[c], -c))
    clf = LogisticRegression(C=best, max_iter=5000).fit(x, unsafe)
    terms = list(idf)
    return NgramIntentModel(
        idf={t: _round(idf[t]) for t in terms},
        coef={t: _round(float(w)) for t, w in zip(terms, clf.coef_[0], strict=True)},
        bias=_round(float(clf.intercept_[0])),
        trained_on=hashes,
        c=best,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default = Path(__file__).resolve().parents[1] / "echosafe_guard" / "data" / INTENT_NGRAMS_FILE
    ap.add_argument("--out", type=Path, default=default)
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    args = ap.parse_args()
    model = fit(*load(tuple(args.sets)))
    args.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(model.idf)} n-grams, C {model.c}, {len(model.trained_on)} sets")


if __name__ == "__main__":
    main()
