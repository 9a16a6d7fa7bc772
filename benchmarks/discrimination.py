"""Benchmark how well retrieval tells twin requests apart (verdict of the insights shown).

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 python benchmarks/discrimination.py
        [--quick] [--no-mpnet] [--heldout PATH ...] [--out FILE] [--cache FILE]

Prints one JSON object (progress on stderr). The memory is always built from the bundled set
(``memory seed builtin``: one insight per item, its hand-written scenario / intent signals /
guidance, keyed by the item's request). Protocols:

* ``lopo`` (leave one pair out): per bundled pair, memory = every other bundled item;
* ``loco`` (leave one category out): per category, memory = the other five categories;
* ``heldout:<name>`` (``--heldout PATH``, repeatable): memory = every bundled item, queries = a
  paired JSONL file or XSTest's ``xstest_prompts.csv`` (or its folder). NEVER tune on these.

Every method sees, per query, only the memory of its fold (vectors, verdicts, categories and
insight texts) and the query text's embeddings; fitted state (probes, twins) is computed per
fold from that memory alone (off the request path in the guard). Per method and protocol:
``category_at_1``, ``verdict_at_1``, ``twin_split``, ``safe_unsafe_first`` (a safe twin whose
first shown insight is unsafe), ``unsafe_none_shown`` (an unsafe twin with no unsafe insight
among the ``k`` shown), ``brier`` of the method's ``p_unsafe``, a reliability table and the
three-way call (unsafe-evidence / unsure / safe-evidence), plus the added latency per request
measured side by side in this run (median ms).
"""

from __future__ import annotations

import os

# one BLAS thread: the probe fits are small, and threaded BLAS on a shared 2-core box is slower
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from echosafe_guard.key.sentence_transformer_embedder import SentenceTransformerEmbedder  # noqa: E402
from echosafe_guard.paired import PairedItem, read_paired_jsonl  # noqa: E402
from echosafe_guard.policy.models import VerdictPolicy  # noqa: E402
from echosafe_guard.retrieval.intent_rerank import fit_intent_axis  # noqa: E402
from echosafe_guard.retrieval.probe import fit_calibrated_probe, fit_probe  # noqa: E402
from echosafe_guard.retrieval.verdict_model import (  # noqa: E402
    fit_twins,
    score_candidates,
)

Arr = npt.NDArray[Any]
K_SHOWN = 3
CANDIDATES = 20
ENCODERS = ("minilm", "mpnet")
TUNING = {
    "tuned_on": "bundled set only (builtin_pairs.jsonl): LOPO and LOCO",
    "probe_l2": "chosen from {0.1, 0.3, 1, 3} by LOCO verdict_at_1 of probe_mpnet_key (also "
    "used for the MiniLM probes)",
    "calibration": "Platt scale fitted inside each fold's memory on logits of categories held "
    "out of the inner fit (3 inner folds); never on the queries",
    "unsure_band": "|p_unsafe - 0.5| < band, band chosen by LOCO so that the confident calls "
    "are right >= 0.9",
    "shipped_intent_rerank": "policy defaults (shrinkage 0.9, weight 0.1, 20 candidates), chosen "
    "earlier on LOPO of this same set",
    "unsafe_first_at": "chosen from {0.5, 0.55, 0.6, 0.65, 0.7} on LOCO: the highest verdict_at_1 "
    "with safe_unsafe_first <= 0.15 (else the lowest safe_unsafe_first); *_lean_first rows "
    "use 0.5",
    "heldout": "never used for any choice",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def insight_text(it: PairedItem) -> str:
    return f"{it.scenario} Intent signals: {'; '.join(it.intent_signals)}."


# -- data -------------------------------------------------------------------------------------


@dataclass
class Bank:
    """Embeddings of the bundled items (memory side) and of one query set."""

    items: list[PairedItem]
    key: dict[str, Arr]  # encoder -> request-text embeddings (the insight's key)
    text: dict[str, Arr]  # encoder -> '<scenario> Intent signals: ...' embeddings
    signals: dict[str, Arr]  # encoder -> intent-signal text embeddings
    unsafe: Arr = field(init=False)
    cat: Arr = field(init=False)

    def __post_init__(self) -> None:
        self.unsafe = np.array([it.label == "unsafe" for it in self.items])
        self.cat = np.array([it.category for it in self.items])


class Encoders:
    def __init__(self, names: Sequence[str], cache: Path | None) -> None:
        self.models = {
            "minilm": SentenceTransformerEmbedder(),
            "mpnet": SentenceTransformerEmbedder("all-mpnet-base-v2"),
        }
        self.names = list(names)
        self.cache_path = cache
        self.cache: dict[str, Arr] = {}
        if cache is not None and cache.exists():
            with np.load(cache, allow_pickle=False) as z:
                keys, v = json.loads(str(z["keys"])), z["v"]
                self.cache = {k: v[i] for i, k in enumerate(keys)}

    def embed(self, name: str, texts: Sequence[str]) -> Arr:
        todo = list(dict.fromkeys(t for t in texts if f"{name}\0{t}" not in self.cache))
        if todo:
            out = self.models[name].embed(todo)
            for t, v in zip(todo, out, strict=True):
                self.cache[f"{name}\0{t}"] = v
        return np.stack([self.cache[f"{name}\0{t}"] for t in texts]).astype(np.float32)

    def save(self) -> None:
        if self.cache_path is None:
            return
        keys = list(self.cache)
        dims = {len(v) for v in self.cache.values()}
        width = max(dims)
        v = np.zeros((len(keys), width), np.float32)
        for i, k in enumerate(keys):
            v[i, : len(self.cache[k])] = self.cache[k]
        np.savez(self.cache_path, keys=json.dumps(keys), v=v)

    def load_cached(self, name: str, texts: Sequence[str]) -> Arr:
        dim = self.models[name].dim if name == "minilm" else 768
        return self.embed(name, texts)[:, :dim]


def bank(enc: Encoders, items: list[PairedItem], *, memory: bool) -> Bank:
    key = {n: enc.load_cached(n, [it.text for it in items]) for n in enc.names}
    if memory:
        text = {n: enc.load_cached(n, [insight_text(it) for it in items]) for n in enc.names}
        sig = {
            n: enc.load_cached(n, ["; ".join(it.intent_signals) for it in items]) for n in enc.names
        }
    else:
        text, sig = {}, {}
    return Bank(items, key, text, sig)


# -- methods ----------------------------------------------------------------------------------


@dataclass
class Memory:
    """One fold's memory: a view of the bundled bank."""

    bank: Bank
    idx: Arr
    cache: dict[Any, Any] = field(default_factory=dict)

    def key(self, enc: str) -> Arr:
        return self.bank.key[enc][self.idx]

    def text(self, enc: str) -> Arr:
        return self.bank.text[enc][self.idx]

    @property
    def unsafe(self) -> Arr:
        return self.bank.unsafe[self.idx]

    @property
    def cat(self) -> Arr:
        return self.bank.cat[self.idx]


@dataclass(frozen=True)
class Out:
    shown: list[int]  # memory positions, best first (at most K_SHOWN)
    p_unsafe: float


Method = Callable[[Memory, dict[str, Arr]], Out]  # (memory, query embeddings by encoder)


def _knn_p(unsafe: Arr, order: Arr, k: int = 5) -> float:
    return float((unsafe[order[:k]].sum() + 0.5) / (k + 1.0))


def cosine(enc: str) -> Method:
    def run(m: Memory, q: dict[str, Arr]) -> Out:
        order = np.argsort(-(m.key(enc) @ q[enc]), kind="stable")
        return Out([int(i) for i in order[:K_SHOWN]], _knn_p(m.unsafe, order))

    return run


def shipped_intent(m: Memory, q: dict[str, Arr]) -> Out:
    """SHIPPED retrieval.rerank: intent (shrinkage LDA axis, weight 0.1, 20 candidates)."""
    if "lda" not in m.cache:
        m.cache["lda"] = fit_intent_axis(m.key("minilm"), m.unsafe, shrinkage=0.9)
    axis = m.cache["lda"]
    s = m.key("minilm") @ q["minilm"]
    top = np.argsort(-s, kind="stable")[:CANDIDATES]
    z = axis.log_odds(q["minilm"])
    adj = s[top] + 0.1 * np.tanh(z / 2) * np.where(m.unsafe[top], 1.0, -1.0)
    order = top[np.argsort(-adj, kind="stable")]
    return Out([int(i) for i in order[:K_SHOWN]], float(1 / (1 + np.exp(-z))))


def text_rerank(enc: str, alpha: float) -> Method:
    """MiniLM key top-N, re-scored (1-a)*key cosine + a*cos(request, insight text) in ``enc``."""

    def run(m: Memory, q: dict[str, Arr]) -> Out:
        s = m.key("minilm") @ q["minilm"]
        top = np.argsort(-s, kind="stable")[:CANDIDATES]
        r = (1 - alpha) * s[top] + alpha * (m.text(enc)[top] @ q[enc])
        order = top[np.argsort(-r, kind="stable")]
        return Out([int(i) for i in order[:K_SHOWN]], _knn_p(m.unsafe, order))

    return run


def verdict_model(
    cfg: VerdictPolicy, encs: tuple[str, ...], *, name: str, key: str = "minilm"
) -> Method:
    """The component (echosafe_guard.retrieval.verdict_model) with ``key`` as the store's key
    (candidates, twins, contrast) and a probe on the concatenated keys of ``encs`` (a key
    layout holding them all): probe, twin contrast, cosine vote."""

    def run(m: Memory, q: dict[str, Arr]) -> Out:
        ck = ("vm", name)
        if ck not in m.cache:
            x = np.concatenate([m.key(e) for e in encs], axis=1)
            if cfg.calibration_folds:
                probe = fit_calibrated_probe(
                    x, m.unsafe, m.cat, l2=cfg.probe_l2, folds=cfg.calibration_folds
                )
            else:
                probe = fit_probe(x, m.unsafe, l2=cfg.probe_l2)
            twins = fit_twins(m.key(key), m.unsafe, m.cat)
            m.cache[ck] = (probe, twins)
        probe, twins = m.cache[ck]
        s = m.key(key) @ q[key]
        top = np.argsort(-s, kind="stable")[:CANDIDATES]
        feats = np.concatenate([q[e] for e in encs])
        res = score_candidates(
            cfg,
            query=q[key],
            cand_scores=s[top],
            cand_unsafe=m.unsafe[top],
            twin_vectors=m.key(key)[twins[top]],
            probe_logit=None if probe is None else probe.logit(feats),
            k=K_SHOWN,
        )
        return Out([int(top[i]) for i in res.order], res.p_unsafe)

    return run


LOPO_METHODS = frozenset(
    {
        "cosine_minilm",
        "shipped_intent_rerank",
        "probe_minilm",
        "cosine_mpnet_key",
        "probe_mpnet_key",
        "probe_minilm+mpnet",
    }
)
"""The methods also run leave-one-pair-out (156 folds; the others run LOCO and held out)."""


def methods(
    with_mpnet: bool, base: VerdictPolicy
) -> dict[str, tuple[Method, tuple[str, ...]]]:
    """name -> (method, encoders its request path needs); ``base``: the tuned configuration."""
    raw = base.model_copy(update={"calibration_folds": 0})
    m: tuple[str, ...] = ("minilm",)
    p: tuple[str, ...] = ("mpnet",)
    out: dict[str, tuple[Method, tuple[str, ...]]] = {
        "cosine_minilm": (cosine("minilm"), m),
        "shipped_intent_rerank": (shipped_intent, m),
        "signals_rerank_minilm": (text_rerank("minilm", 0.5), m),
        "knn_vote_minilm": (
            verdict_model(
                raw.model_copy(update={"probe_weight": 0.0, "vote_weight": 2.0}), m, name="vote"
            ),
            m,
        ),
        "twin_contrast_minilm": (
            verdict_model(
                raw.model_copy(update={"probe_weight": 0.0, "contrast_weight": 20.0}),
                m,
                name="contrast",
            ),
            m,
        ),
        "probe_minilm_uncalibrated": (verdict_model(raw, m, name="probe_m_raw"), m),
        "probe_minilm_lean_first": (
            verdict_model(base.model_copy(update={"unsafe_first_at": 0.5}), m, name="probe_m_lean"),
            m,
        ),
        "probe_minilm": (verdict_model(base, m, name="probe_m"), m),
        "probe_minilm+contrast": (
            verdict_model(base.model_copy(update={"contrast_weight": 5.0}), m, name="probe_mc"),
            m,
        ),
    }
    if with_mpnet:
        out |= {
            "cosine_mpnet_key": (cosine("mpnet"), p),
            "mpnet_text_rerank": (text_rerank("mpnet", 0.7), ("minilm", "mpnet")),
            "probe_mpnet_key_uncalibrated": (
                verdict_model(raw, p, name="probe_p_raw", key="mpnet"),
                p,
            ),
            "probe_mpnet_key": (verdict_model(base, p, name="probe_p", key="mpnet"), p),
            "probe_mpnet_key_lean_first": (
                verdict_model(
                    base.model_copy(update={"unsafe_first_at": 0.5}),
                    p,
                    name="probe_p_lean",
                    key="mpnet",
                ),
                p,
            ),
            "probe_mpnet_key+contrast": (
                verdict_model(
                    base.model_copy(update={"contrast_weight": 5.0}),
                    p,
                    name="probe_pc",
                    key="mpnet",
                ),
                p,
            ),
            "probe_minilm+mpnet": (
                verdict_model(base, ("minilm", "mpnet"), name="probe_mp"),
                ("minilm", "mpnet"),
            ),
        }
    return out


# -- protocols and metrics --------------------------------------------------------------------


def folds_lopo(mem: Bank) -> list[tuple[Arr, Arr]]:
    pairs = list(dict.fromkeys(it.pair_id for it in mem.items))
    pid = np.array([it.pair_id for it in mem.items])
    return [(np.flatnonzero(pid != p), np.flatnonzero(pid == p)) for p in pairs]


def folds_loco(mem: Bank) -> list[tuple[Arr, Arr]]:
    return [
        (np.flatnonzero(mem.cat != c), np.flatnonzero(mem.cat == c)) for c in sorted(set(mem.cat))
    ]


def run(
    method: Method, mem: Bank, qbank: Bank, folds: list[tuple[Arr, Arr]]
) -> list[dict[str, Any]]:
    rows = []
    for mem_idx, q_idx in folds:
        m = Memory(mem, mem_idx)
        for qi in q_idx:
            it = qbank.items[qi]
            o = method(m, {e: qbank.key[e][qi] for e in qbank.key})
            shown = [int(mem_idx[i]) for i in o.shown]
            top = shown[0] if shown else None
            rows.append(
                {
                    "pair": it.pair_id,
                    "category": it.category,
                    "unsafe": it.label == "unsafe",
                    "cat_ok": top is not None and mem.cat[top] == it.category,
                    "verdict_ok": top is not None
                    and bool(mem.unsafe[top]) == (it.label == "unsafe"),
                    "top_unsafe": top is not None and bool(mem.unsafe[top]),
                    "any_unsafe": any(bool(mem.unsafe[i]) for i in shown),
                    "p": o.p_unsafe,
                }
            )
    return rows


def mean(xs: Sequence[Any]) -> float | None:
    return round(float(np.mean(xs)), 4) if len(xs) else None


def metrics(rows: Sequence[dict[str, Any]], band: float) -> dict[str, Any]:
    if not rows:
        return {"queries": 0}
    by_pair: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_pair[r["pair"]].append(r)
    twins = [v for v in by_pair.values() if len(v) == 2 and v[0]["unsafe"] != v[1]["unsafe"]]
    safe = [r for r in rows if not r["unsafe"]]
    unsafe = [r for r in rows if r["unsafe"]]
    p = np.array([r["p"] for r in rows])
    y = np.array([r["unsafe"] for r in rows], dtype=float)
    call = np.where(p >= 0.5 + band, 1, np.where(p <= 0.5 - band, -1, 0))
    conf = call != 0
    bins = np.linspace(0, 1, 6)
    rel = []
    for lo, hi in itertools.pairwise(bins):
        sel = (p >= lo) & ((p < hi) | (hi == 1.0))
        if sel.any():
            rel.append(
                {
                    "p": f"{lo:.1f}-{hi:.1f}",
                    "n": int(sel.sum()),
                    "mean_p": round(float(p[sel].mean()), 3),
                    "frac_unsafe": round(float(y[sel].mean()), 3),
                }
            )
    return {
        "queries": len(rows),
        "pairs_with_twins": len(twins),
        "category_at_1": mean([r["cat_ok"] for r in rows]),
        "verdict_at_1": mean([r["verdict_ok"] for r in rows]),
        "twin_split": mean([all(r["verdict_ok"] for r in v) for v in twins]),
        "safe_unsafe_first": mean([r["top_unsafe"] for r in safe]),
        "unsafe_none_shown": mean([not r["any_unsafe"] for r in unsafe]),
        "brier": round(float(np.mean((p - y) ** 2)), 4),
        "p_verdict_acc": mean(list((p >= 0.5) == (y == 1))),
        "three_way": {
            "band": band,
            "unsure_rate": mean(list(~conf)),
            "confident_acc": mean(list((call[conf] == 1) == (y[conf] == 1)))
            if conf.any()
            else None,
            "unsafe_twin_called_safe": mean([c == -1 for c, t in zip(call, y, strict=True) if t]),
            "safe_twin_called_unsafe": mean(
                [c == 1 for c, t in zip(call, y, strict=True) if not t]
            ),
        },
        "reliability": rel,
    }


# -- latency ----------------------------------------------------------------------------------


def latency(
    enc: Encoders, table: dict[str, tuple[Method, tuple[str, ...]]], mem: Bank, n: int
) -> dict[str, Any]:
    """Median ms per request, side by side: each encoder's single-query forward (fresh texts,
    no cache) and each method's call on the full memory (fitted state warm)."""
    texts = [f"{it.text} (variant {i})" for i, it in enumerate(mem.items[:n])]
    fwd: dict[str, list[float]] = {e: [] for e in enc.names}
    for t in texts:
        for e in enc.names:
            t0 = time.perf_counter()
            enc.models[e].embed([t])
            fwd[e].append((time.perf_counter() - t0) * 1e3)
    m = Memory(mem, np.arange(len(mem.items)))
    calls: dict[str, list[float]] = {name: [] for name in table}
    fit_ms: dict[str, float] = {}
    for name, (meth, _) in table.items():
        t0 = time.perf_counter()
        meth(m, {e: mem.key[e][0] for e in mem.key})  # fits on first call
        fit_ms[name] = round((time.perf_counter() - t0) * 1e3, 2)
    for i in range(n):
        q = {e: mem.key[e][i] for e in mem.key}
        for name, (meth, _) in table.items():
            t0 = time.perf_counter()
            meth(m, q)
            calls[name].append((time.perf_counter() - t0) * 1e3)
    fwd_p50 = {e: round(float(np.median(v)), 3) for e, v in fwd.items()}
    call_p50 = {k: float(np.median(v)) for k, v in calls.items()}
    base = call_p50["cosine_minilm"]
    return {
        "encoder_forward_ms_p50": fwd_p50,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "method_call_ms_p50": {k: round(v, 4) for k, v in call_p50.items()},
        "first_call_incl_fit_ms (off the request path in the guard)": fit_ms,
        "added_ms_per_request_p50": {
            name: round(
                call_p50[name]
                - base
                + sum(fwd_p50[e] for e in encs if e != "minilm")
                - (0.0 if "minilm" in encs else fwd_p50["minilm"]),
                3,
            )
            for name, (_, encs) in table.items()
        },
        "note": "added = method call minus cosine top-k call (numpy over the memory, same run) "
        "plus the forward of every encoder besides MiniLM (the guard already runs MiniLM), minus "
        "MiniLM's forward for a method keyed by another encoder only (it replaces MiniLM)",
    }


# -- main -------------------------------------------------------------------------------------


def load_heldout(path: str) -> tuple[str, list[PairedItem]]:
    p = Path(path)
    if p.suffix == ".jsonl":
        return p.stem, read_paired_jsonl(p)[1]
    from echosafe_guard.bench.loaders.xstest_loader import XSTestLoader

    return "xstest", list(XSTestLoader().load(p, text_only=True).items)


def tune(mem: Bank, with_mpnet: bool) -> tuple[VerdictPolicy, dict[str, Any]]:
    """probe_l2, band and unsafe_first_at chosen on LOCO of the bundled set only."""
    encs = ("mpnet",) if with_mpnet else ("minilm",)
    folds = folds_loco(mem)
    grid = {}
    for l2 in (0.1, 0.3, 1.0, 3.0):
        cfg = VerdictPolicy(probe_l2=l2, band=0.0)  # band 0: top-1 follows p >= 0.5
        grid[l2] = metrics(
            run(verdict_model(cfg, encs, name=f"l2{l2}", key=encs[-1]), mem, mem, folds), 0.15
        )
    l2 = max(grid, key=lambda v: (grid[v]["verdict_at_1"], -grid[v]["brier"]))
    rows = run(
        verdict_model(VerdictPolicy(probe_l2=l2, band=0.0), encs, name="b", key=encs[-1]),
        mem,
        mem,
        folds,
    )
    band = 0.45
    for b in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45):
        acc = metrics(rows, b)["three_way"]["confident_acc"]
        if acc is not None and acc >= 0.9:
            band = b
            break
    first = {}
    for t in (0.5, 0.55, 0.6, 0.65, 0.7):
        cfg = VerdictPolicy(probe_l2=l2, band=band, unsafe_first_at=t)
        first[t] = metrics(
            run(verdict_model(cfg, encs, name=f"t{t}", key=encs[-1]), mem, mem, folds), band
        )
    ok = [t for t in first if first[t]["safe_unsafe_first"] <= 0.15]
    at = (
        max(ok, key=lambda t: first[t]["verdict_at_1"])
        if ok
        else min(first, key=lambda t: first[t]["safe_unsafe_first"])
    )
    cfg = VerdictPolicy(probe_l2=l2, band=band, unsafe_first_at=at)
    return cfg, {
        "encoders": list(encs),
        "probe_l2_grid_loco_verdict_at_1": {str(k): v["verdict_at_1"] for k, v in grid.items()},
        "unsafe_first_at_grid_loco": {
            str(t): {"verdict_at_1": m["verdict_at_1"], "safe_unsafe_first": m["safe_unsafe_first"]}
            for t, m in first.items()
        },
        "chosen": cfg.model_dump(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", action="append", default=[], help="paired JSONL or xstest CSV")
    ap.add_argument("--no-mpnet", action="store_true", help="skip all-mpnet-base-v2 methods")
    ap.add_argument("--quick", action="store_true", help="LOCO only, short latency run")
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    start, load0 = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
    encs = ("minilm",) if args.no_mpnet else ENCODERS
    enc = Encoders(encs, args.cache)
    _, items = read_paired_jsonl("builtin")
    mem = bank(enc, items, memory=True)
    held = [(name, bank(enc, its, memory=False)) for name, its in map(load_heldout, args.heldout)]
    enc.save()
    log(f"embedded {len(items)} bundled items and {len(held)} held-out sets")
    cfg, tuning = tune(mem, not args.no_mpnet)
    band = cfg.band
    log(f"tuned on LOCO: {tuning}")
    table = methods(not args.no_mpnet, cfg)
    protocols: list[tuple[str, Bank, list[tuple[Arr, Arr]]]] = [("loco", mem, folds_loco(mem))]
    if not args.quick:
        protocols.insert(0, ("lopo", mem, folds_lopo(mem)))
    everything = np.arange(len(items))
    protocols += [
        (f"heldout:{name}", qb, [(everything, np.arange(len(qb.items)))]) for name, qb in held
    ]
    results: dict[str, dict[str, Any]] = defaultdict(dict)
    for name, (meth, encs_used) in table.items():
        for proto, qb, folds in protocols:
            if proto == "lopo" and name not in LOPO_METHODS:
                continue
            results[name][proto] = metrics(run(meth, mem, qb, folds), band)
            r = results[name][proto]
            log(
                f"{name:28s} {proto:16s} cat {r['category_at_1']} verdict {r['verdict_at_1']} "
                f"split {r['twin_split']} safe_u1 {r['safe_unsafe_first']} "
                f"unsafe_none {r['unsafe_none_shown']} brier {r['brier']}"
            )
        results[name]["encoders"] = list(encs_used)
    lat = latency(enc, table, mem, 8 if args.quick else 40)
    result = {
        "benchmark": "echosafe_guard twin discrimination (retrieval verdict)",
        "memory": "memory seed builtin: one insight per bundled item (156 pairs x 2)",
        "k_shown": K_SHOWN,
        "candidates": CANDIDATES,
        "tuning": {**TUNING, **tuning},
        "methods": results,
        "latency": lat,
        "machine": {
            "cpu_count": os.cpu_count(),
            "loadavg_start": load0,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "wall_s": round(time.perf_counter() - start, 1),
    }
    out = json.dumps(result, indent=2)
    print(out)
    if args.out:
        args.out.write_text(out + "\n")


if __name__ == "__main__":
    main()
