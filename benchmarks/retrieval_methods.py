"""The re-ranking methods compared by benchmarks/retrieval_relevance.py, in numpy on each fold's
memory, and their metrics (top-1 verdict and category agreement)."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from harness import log

from echosafe_guard.memory.insight import Insight
from echosafe_guard.paired import PairedItem
from echosafe_guard.policy.models import Policy
from echosafe_guard.retrieval.intent_rerank import fit_intent_axis

Arr = npt.NDArray[Any]


def insight_text(ins: Insight) -> str:
    return f"{ins.scenario} Intent signals: {'; '.join(ins.intent_signals)}."


# -- metrics -----------------------------------------------------------------------------------


def metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """rows: one per query with pair, category, cat_ok, verdict_ok (top-1 missing: both False)."""
    if not rows:
        return {"queries": 0}
    by_pair: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_pair[r["pair"]].append(r["verdict_ok"])
    return {
        "category_at_1": round(float(np.mean([r["cat_ok"] for r in rows])), 4),
        "verdict_at_1": round(float(np.mean([r["verdict_ok"] for r in rows])), 4),
        "twin_split": round(float(np.mean([all(v) for v in by_pair.values()])), 4),
        "queries": len(rows),
        "pairs": len(by_pair),
    }


def breakdown(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    cats = sorted({r["category"] for r in rows})
    return {
        "overall": metrics(rows),
        "per_category": {c: metrics([r for r in rows if r["category"] == c]) for c in cats},
    }


def key3(m: dict[str, Any]) -> tuple[float, float, float]:
    return (m["twin_split"], m["verdict_at_1"], m["category_at_1"])


# -- the folds and the methods (numpy, on each fold's memory) ---------------------------------


class Fold:
    """One held-out pair: its two queries and the memory seeded from every other pair."""

    def __init__(self, pair: str, queries: list[int], mem: list[Insight], text_of: dict[str, Arr]):
        self.pair = pair
        self.queries = queries
        self.mem = mem
        self.K = np.stack([np.asarray(i.vector, dtype=np.float32) for i in mem])
        self.T = np.stack([text_of[insight_text(i)] for i in mem])
        self.unsafe = np.array([i.verdict.value == "unsafe" for i in mem])
        self.cat = np.array([i.category for i in mem])
        self.cache: dict[Any, Any] = {}


Picker = Callable[[Fold, Arr], int]  # (fold, query key) -> index of the top insight in fold.mem


def raw_key(_: dict[str, Any]) -> Picker:
    return lambda f, q: int(np.argmax(f.K @ q))


def insight_text_key(_: dict[str, Any]) -> Picker:
    return lambda f, q: int(np.argmax(f.T @ q))


def fusion(p: dict[str, Any]) -> Picker:
    def pick(f: Fold, q: Arr) -> int:
        s = f.K @ q
        top = np.argsort(-s)[: p["candidates"]]
        return int(top[np.argmax((1 - p["alpha"]) * s[top] + p["alpha"] * (f.T[top] @ q))])

    return pick


def best_of(s: Arr, top: Arr, want: Arr) -> int:
    ok = top[want]
    return int(ok[0]) if len(ok) else int(top[0])


def knn_vote(p: dict[str, Any]) -> Picker:
    def pick(f: Fold, q: Arr) -> int:
        s = f.K @ q
        top = np.argsort(-s)[: max(p["k"], 20)]
        vote = f.unsafe[top[: p["k"]]].sum() * 2 > p["k"]
        return best_of(s, top, f.unsafe[top] == vote)

    return pick


def unit(v: Arr) -> Arr:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def global_axis(p: dict[str, Any]) -> Picker:
    def pick(f: Fold, q: Arr) -> int:
        if "u" not in f.cache:
            f.cache["u"] = unit(f.K[f.unsafe].mean(0) - f.K[~f.unsafe].mean(0))
        u = f.cache["u"]
        return int(np.argmax(f.K @ q + p["beta"] * (f.K @ u) * float(q @ u)))

    return pick


def category_axes(p: dict[str, Any]) -> Picker:
    def pick(f: Fold, q: Arr) -> int:
        if "U" not in f.cache:
            rows = []
            for c in sorted(set(f.cat)):
                m = f.cat == c
                if (m & f.unsafe).any() and (m & ~f.unsafe).any():
                    rows.append(unit(f.K[m & f.unsafe].mean(0) - f.K[m & ~f.unsafe].mean(0)))
            f.cache["U"] = np.stack(rows)
        axes = f.cache["U"]
        return int(np.argmax(f.K @ q + p["beta"] * ((f.K @ axes.T) * (axes @ q)).sum(1)))

    return pick


def local_discriminant(p: dict[str, Any]) -> Picker:
    def pick(f: Fold, q: Arr) -> int:
        s = f.K @ q
        top = np.argsort(-s)[: p["candidates"]]
        axis = fit_intent_axis(f.K[top], f.unsafe[top], shrinkage=p["shrinkage"])
        if axis is None:
            return int(top[0])
        return best_of(s, top, f.unsafe[top] == (axis.log_odds(q) > 0))

    return pick


def intent_rerank(p: dict[str, Any]) -> Picker:
    """The shipped method (IntentRerank.rerank's arithmetic on fit_intent_axis)."""

    def pick(f: Fold, q: Arr) -> int:
        ck = ("axis", p["shrinkage"])
        if ck not in f.cache:
            f.cache[ck] = fit_intent_axis(
                f.K, f.unsafe, shrinkage=p["shrinkage"], min_per_verdict=p["min_per_verdict"]
            )
        axis = f.cache[ck]
        s = f.K @ q
        top = np.argsort(-s, kind="stable")[: p["candidates"]]
        if axis is None:
            return int(top[0])
        push = p["weight"] * np.tanh(axis.log_odds(q) / 2)
        adj = s[top] + push * np.where(f.unsafe[top], 1.0, -1.0)
        return int(top[np.argsort(-adj, kind="stable")[0]])

    return pick


def grid(base: dict[str, Any], **axes: list[Any]) -> list[dict[str, Any]]:
    return [
        {**base, **dict(zip(axes, vals, strict=True))} for vals in itertools.product(*axes.values())
    ]


def methods(
    policy: Policy,
) -> dict[str, tuple[str, Callable[..., Picker], dict[str, Any], list[dict[str, Any]]]]:
    it = policy.retrieval.intent
    n = max(policy.retrieval.k, policy.retrieval.candidates)
    shipped = {
        "shrinkage": it.shrinkage,
        "weight": it.weight,
        "candidates": n,
        "min_per_verdict": it.min_per_verdict,
    }
    return {
        "raw_key": ("cosine of the context keys (MiniLM text key), top 1", raw_key, {}, [{}]),
        "insight_text_key": (
            "request text embedding vs a second key: the insight's own "
            "scenario + intent signals, embedded once at write time",
            insight_text_key,
            {},
            [{}],
        ),
        "fusion": (
            "top-N by key, re-scored (1-alpha)*key cosine + alpha*insight-text cosine",
            fusion,
            {"alpha": 0.5, "candidates": 20},
            grid({"candidates": 20}, alpha=[0.3, 0.5, 0.7]),
        ),
        "knn_vote": (
            "majority verdict of the k nearest keys, then the nearest insight of that verdict",
            knn_vote,
            {"k": 5},
            grid({}, k=[3, 5, 9, 15]),
        ),
        "global_axis_metric": (
            "W = I + beta*u*u^T, u = unit(mean unsafe key - mean safe key) of the memory",
            global_axis,
            {"beta": 3.0},
            grid({}, beta=[1.0, 3.0, 10.0]),
        ),
        "category_axes_metric": (
            "W = I + beta*sum_c u_c*u_c^T, one unsafe-vs-safe axis per category",
            category_axes,
            {"beta": 1.0},
            grid({}, beta=[0.3, 1.0, 3.0]),
        ),
        "local_discriminant": (
            "shrinkage LDA among the top-N candidates only; nearest "
            "candidate of the predicted verdict",
            local_discriminant,
            {"candidates": 50, "shrinkage": 0.5},
            grid({}, candidates=[20, 50], shrinkage=[0.5, 0.9]),
        ),
        "intent_rerank": (
            "SHIPPED (retrieval.rerank: intent): shrinkage LDA axis of the whole "
            "memory; top-N by key, each moved by weight*tanh(log-odds/2) towards "
            "the predicted verdict",
            intent_rerank,
            shipped,
            grid(shipped, shrinkage=[0.5, 0.8, 0.9, 0.95, 0.99], weight=[0.05, 0.1, 0.2, 1.0]),
        ),
    }


def run_picker(
    folds: list[Fold], items: list[PairedItem], Q: Arr, pick: Picker
) -> list[dict[str, Any]]:
    rows = []
    for f in folds:
        for qi in f.queries:
            top = f.mem[pick(f, Q[qi])]
            it = items[qi]
            rows.append(
                {
                    "pair": it.pair_id,
                    "category": it.category,
                    "cat_ok": top.category == it.category,
                    "verdict_ok": top.verdict.value == it.label,
                }
            )
    return rows


def evaluate_methods(
    folds: list[Fold], items: list[PairedItem], Q: Arr, policy: Policy
) -> dict[str, Any]:
    cats = sorted({it.category for it in items})
    halves = [set(cats[0::2]), set(cats[1::2])]
    out: dict[str, Any] = {}
    for name, (desc, make, default, grid) in methods(policy).items():
        t0 = time.perf_counter()
        runs = {json.dumps(p, sort_keys=True): run_picker(folds, items, Q, make(p)) for p in grid}
        dkey = json.dumps(default, sort_keys=True)
        if dkey not in runs:
            runs[dkey] = run_picker(folds, items, Q, make(default))
        crossed: list[dict[str, Any]] = []
        chosen = {}
        for tune, report in (halves, halves[::-1]):
            best = max(
                runs, key=lambda k: key3(metrics([r for r in runs[k] if r["category"] in tune]))
            )
            chosen["tuned_on " + ",".join(sorted(tune))] = json.loads(best)
            crossed += [r for r in runs[best] if r["category"] in report]
        out[name] = {
            "description": desc,
            "default_params": default,
            "default": breakdown(runs[dkey]),
            "category_split": {**breakdown(crossed), "chosen_params": chosen},
            "grid": {k: metrics(v) for k, v in runs.items()} if len(runs) > 1 else None,
        }
        o = out[name]["default"]["overall"]
        log(
            f"{name}: cat@1 {o['category_at_1']} verdict@1 {o['verdict_at_1']} "
            f"split {o['twin_split']} ({time.perf_counter() - t0:.1f} s)"
        )
    return out
