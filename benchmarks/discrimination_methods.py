"""The methods ``discrimination.py`` compares, its protocols (LOPO, LOCO, held out), metrics
and the tuning on the bundled set (see ``discrimination.py`` for what is measured).

Every method sees, per query, only the memory of its fold (vectors, verdicts, categories and
insight texts) and the query text's embeddings; fitted state (probes, twins) is computed per
fold from that memory alone (off the request path in the guard).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from echosafe_guard.paired import (
    BUILTIN,
    DEFAULT_MEMORY,
    DEFAULT_MEMORY_SETS,
    PairedItem,
    read_paired_jsonl,
)
from echosafe_guard.policy.retrieval import VerdictPolicy
from echosafe_guard.retrieval.intent_rerank import fit_intent_axis
from echosafe_guard.retrieval.probe import fit_calibrated_probe, fit_probe
from echosafe_guard.retrieval.text_verdict import fuse_logits
from echosafe_guard.retrieval.verdict_model import Call, fit_twins, score_candidates

Arr = npt.NDArray[Any]
K_SHOWN = 3
CANDIDATES = 20
CALL_SIGN = {Call.UNSAFE: 1, Call.UNSURE: 0, Call.SAFE: -1}
INTENT = "intent"  # a query bank's key: the shipped text model's log-odds (NaN: none), shape (1,)


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
    call: Call | None = None  # the method's own three-way call (None: read p_unsafe in the band)
    near_unsafe: float | None = None  # cosine of the nearest unsafe candidate (None: none)


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
    cfg: VerdictPolicy,
    encs: tuple[str, ...],
    *,
    name: str,
    key: str = "minilm",
    as_shipped: bool = False,
) -> Method:
    """The component (echosafe_guard.retrieval.verdict_model) with ``key`` as the store's key
    (candidates, twins, contrast) and a probe on the concatenated keys of ``encs`` (a key
    layout holding them all): probe, twin contrast, cosine vote. ``as_shipped``: also as
    ``ProbeVerdictModel.assess`` (a near-duplicate, cosine >= ``duplicate_at``, goes first and
    its verdict is the call), with the shipped text model's log-odds fused at ``cfg.text_weight``
    where the query bank has them (key ``INTENT``: held-out queries only, since the text model
    was fitted on the memory's sets), and report ``cfg``'s own call (its band)."""

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
        text_w = cfg.text_weight if as_shipped else 0.0
        text_z = float(q[INTENT][0]) if INTENT in q and np.isfinite(q[INTENT][0]) else None
        res = score_candidates(
            cfg,
            query=q[key],
            cand_scores=s[top],
            cand_unsafe=m.unsafe[top],
            twin_vectors=m.key(key)[twins[top]],
            probe_logit=None if probe is None else fuse_logits(probe.logit(feats), text_z, text_w),
            k=K_SHOWN,
        )
        order = [int(top[i]) for i in res.order]
        near = s[top][m.unsafe[top]]
        near_unsafe = float(near.max()) if len(near) else None
        if not as_shipped:
            return Out(order, res.p_unsafe, near_unsafe=near_unsafe)
        call = res.call
        if len(top) and s[top[0]] >= cfg.duplicate_at:  # top[0]: the most similar candidate
            call = Call.UNSAFE if m.unsafe[top[0]] else Call.SAFE
            order = [int(top[0]), *(i for i in order if i != top[0])][:K_SHOWN]
        return Out(order, res.p_unsafe, call, near_unsafe)

    return run


LOPO_METHODS = frozenset(
    {
        "cosine_minilm",
        "shipped_intent_rerank",
        "probe_minilm",
        "cosine_mpnet_key",
        "probe_mpnet_key",
        "probe_minilm+mpnet",
        "shipped",
    }
)
"""The methods also run leave-one-pair-out (156 folds; the others run LOCO and held out)."""


def methods(
    with_mpnet: bool, base: VerdictPolicy, shipped: VerdictPolicy
) -> dict[str, tuple[Method, tuple[str, ...]]]:
    """name -> (method, encoders its request path needs); ``base``: the tuned configuration;
    ``shipped``: the default policy's (``rerank: probe`` on the all-mpnet-base-v2 key), the row
    ``shipped``."""
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
            "shipped": (
                verdict_model(shipped, p, name="shipped", key="mpnet", as_shipped=True),
                p,
            ),
            "shipped_without_text": (
                verdict_model(
                    shipped.model_copy(update={"text_weight": 0.0}),
                    p,
                    name="shipped_nt",
                    key="mpnet",
                    as_shipped=True,
                ),
                p,
            ),
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


def memory_items(name: str, extra: Sequence[str] = ()) -> tuple[list[PairedItem], dict[str, Arr]]:
    """The memory's items (``name``, then the bundled sets ``extra``), and per retired twin set
    in it (not ``builtin``) its positions."""
    first = DEFAULT_MEMORY_SETS if name == DEFAULT_MEMORY else (name,)
    names = list(dict.fromkeys([*first, *extra]))  # each set once, in order
    items: list[PairedItem] = []
    sets: dict[str, Arr] = {}
    for s in names:
        part = read_paired_jsonl(s)[1]
        if s != BUILTIN:
            sets[s] = np.arange(len(items), len(items) + len(part))
        items += part
    return items, sets


def folds_loso(n: int, sets: dict[str, Arr]) -> list[tuple[str, list[tuple[Arr, Arr]]]]:
    return [(f"loso:{s}", [(np.setdiff1d(np.arange(n), idx), idx)]) for s, idx in sets.items()]


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
                    "call": None if o.call is None else CALL_SIGN[o.call],
                    "near_unsafe": o.near_unsafe,
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
    own = [i for i, r in enumerate(rows) if r["call"] is not None]  # the method's own calls
    call[own] = [rows[i]["call"] for i in own]
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
