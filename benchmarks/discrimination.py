"""Benchmark how well retrieval tells twin requests apart (verdict of the insights shown).

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 python benchmarks/discrimination.py
        [--quick] [--json] [--no-mpnet] [--int8] [--memory default|builtin] [--add SET ...]
        [--heldout PATH|SET ...] [--out FILE] [--cache FILE]

Prints one JSON object (progress on stderr, silenced by ``--json``); the methods, protocols and
metrics live in ``discrimination_methods.py``. The memory is built from a bundled name
(``--memory``: ``default``, the default seed memory, builtin + heldout2 + heldout3 + heldout4;
or ``builtin``, the 156 bundled pairs alone; ``--add``: more bundled sets, to measure a bigger
memory before it is taken) as ``memory seed`` builds it: one insight per item, its hand-written
scenario / intent signals / guidance, keyed by the item's request.
Protocols:

* ``lopo`` (leave one pair out): per memory pair, memory = every other item;
* ``loco`` (leave one category out): per category, memory = the other five categories;
* ``loso:<set>`` (not for ``builtin``; leave one set out): per retired twin set in the
  memory, memory = the other sets, queries = that set's items (new styles and procedures: the
  protocol the default memory was chosen on);
* ``heldout:<name>`` (``--heldout PATH``, repeatable): memory = every memory item, queries = a
  paired JSONL file, a bundled set's name or XSTest's ``xstest_prompts.csv`` (or its folder).
  NEVER tune on these.

Every method sees, per query, only the memory of its fold (vectors, verdicts, categories and
insight texts) and the query text's embeddings; fitted state (probes, twins) is computed per
fold from that memory alone (off the request path in the guard). Per method and protocol:
``category_at_1``, ``verdict_at_1``, ``twin_split``, ``safe_unsafe_first`` (a safe twin whose
first shown insight is unsafe), ``unsafe_none_shown`` (an unsafe twin with no unsafe insight
among the ``k`` shown), ``brier`` of the method's ``p_unsafe``, a reliability table and the
three-way call (unsafe-evidence / unsure / safe-evidence), plus the added latency per request
measured side by side in this run (median ms). The row ``shipped`` is the default policy's
verdict model (``rerank: probe``, its ``retrieval.verdict`` as shipped, on the all-mpnet-base-v2
key), untouched by the tuning here; its rows also count, per setting of the decision's
thresholds (``discrimination_weak.FRONTIER``), the safe and unsafe twins that would get unsafe
evidence (``frontier``; ``frontier_sum`` over the numbered twin sets' protocols). ``--int8``
adds the ONNX Runtime int8 keys (own layout): ``*_int8`` rows beside their fp32 rows (the int8
variant is offered only if they lose nothing).
"""

from __future__ import annotations

import os

# one BLAS thread: the probe fits are small, and threaded BLAS on a shared 2-core box is slower
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from discrimination_methods import (  # noqa: E402
    CANDIDATES,
    INTENT,
    K_SHOWN,
    LOPO_METHODS,
    Arr,
    Bank,
    Memory,
    Method,
    cosine,
    folds_loco,
    folds_lopo,
    folds_loso,
    memory_items,
    methods,
    metrics,
    run,
    verdict_model,
)
from discrimination_tune import tune, tune_weak  # noqa: E402
from discrimination_weak import frontier, frontier_sum  # noqa: E402
from discrimination_weak import report as report_weak  # noqa: E402
from harness import emit, loadavg, log, parse, parser  # noqa: E402

from echosafe_guard.key.mpnet_weights import MPNET_DIM, MPNET_MODEL  # noqa: E402
from echosafe_guard.key.onnx_embedder import INT8_SUFFIX, OnnxEmbedder  # noqa: E402
from echosafe_guard.key.sentence_transformer_embedder import (  # noqa: E402
    MINILM_MODEL,
    SentenceTransformerEmbedder,
)
from echosafe_guard.paired import (  # noqa: E402
    BUILTIN,
    BUNDLED,
    DEFAULT_MEMORY,
    PairedItem,
    builtin_path,
    read_paired_jsonl,
)
from echosafe_guard.policy.loader import load_policy  # noqa: E402
from echosafe_guard.policy.models import Policy  # noqa: E402
from echosafe_guard.retrieval.bundled_text_verdict import BundledTextVerdict  # noqa: E402

TEXT_MODEL = BundledTextVerdict()  # the shipped file, loaded once on first use
ENCODERS = ("minilm", "mpnet")
INT8 = ("minilm_int8", "mpnet_int8")
MODELS = {
    "minilm": MINILM_MODEL,
    "mpnet": MPNET_MODEL,
    "minilm_int8": MINILM_MODEL + INT8_SUFFIX,
    "mpnet_int8": MPNET_MODEL + INT8_SUFFIX,
}
DIMS = {"minilm": 384, "mpnet": MPNET_DIM, "minilm_int8": 384, "mpnet_int8": MPNET_DIM}
TUNING = {
    "tuned_on": "the memory's items only (--memory): LOPO and LOCO",
    "default_memory": "builtin + heldout2 + heldout3 + heldout4, chosen over builtin alone on "
    "leave-one-set-out of the seen sets (loso rows) before heldout5 was run",
    "probe_l2": "chosen from {0.1, 0.3, 1, 3} by LOCO verdict_at_1 of probe_mpnet_key (also "
    "used for the MiniLM probes)",
    "calibration": "Platt scale fitted inside each fold's memory on logits of categories held "
    "out of the inner fit (3 inner folds); never on the queries",
    "unsure_band": "|p_unsafe - 0.5| < band, band chosen by LOCO so that the confident calls "
    "are right >= 0.9",
    "shipped_intent_rerank": "the intent re-ranker's policy defaults (shrinkage 0.9, weight 0.1, "
    "20 candidates), chosen earlier on LOPO of this same set (no longer the default rerank)",
    "weak_unsafe_min_similarity": "the decision rule's threshold. LOCO rows of the shipped "
    "verdict model give the lowest value whose kept weak unsafe calls (p < block_confidence) are "
    "right >= 0.85 (discrimination_weak.py; 0.42, shipped until issue 14's 0.50). 0.50 was chosen "
    "end to end with the local model on seen sets (heldout, heldout5, heldout6, XSTest)",
    "unsafe_first_at": "chosen from {0.5, 0.55, 0.6, 0.65, 0.7} on LOCO: the highest verdict_at_1 "
    "with safe_unsafe_first <= 0.15 (else the lowest safe_unsafe_first); *_lean_first rows "
    "use 0.5",
    "shipped": "the shipped default policy's retrieval.verdict (rerank: probe) on the "
    "all-mpnet-base-v2 key, as ProbeVerdictModel.assess (near-duplicates decide); not tuned here",
    "heldout": "never used for any choice",
}


def insight_text(it: PairedItem) -> str:
    return f"{it.scenario} Intent signals: {'; '.join(it.intent_signals)}."


# -- data -------------------------------------------------------------------------------------


class Encoders:
    def __init__(self, names: Sequence[str], cache: Path | None) -> None:
        self.models: dict[str, Any] = {
            n: SentenceTransformerEmbedder(MODELS[n]) for n in ENCODERS
        } | {n: OnnxEmbedder(MODELS[n.removesuffix("_int8")], variant="int8") for n in INT8}
        self.names = list(names)
        self.cache_path = cache
        self.cache: dict[str, Arr] = {}
        if cache is not None and cache.exists():
            with np.load(cache, allow_pickle=False) as z:
                keys, v = json.loads(str(z["keys"])), z["v"]
            # rows are saved padded to the widest model: each is cut back to its own model's
            # width, so that cached and newly embedded vectors stack together
            width = {MODELS[n]: DIMS[n] for n in MODELS}
            self.cache = {
                k: v[i, : width.get(k.split("\0", 1)[0], v.shape[1])] for i, k in enumerate(keys)
            }

    def embed(self, name: str, texts: Sequence[str]) -> Arr:
        model = MODELS[name]  # cache entries are keyed by the model, not the short name
        todo = list(dict.fromkeys(t for t in texts if f"{model}\0{t}" not in self.cache))
        if todo:
            out = self.models[name].embed(todo)
            for t, v in zip(todo, out, strict=True):
                self.cache[f"{model}\0{t}"] = v
        return np.stack([self.cache[f"{model}\0{t}"] for t in texts]).astype(np.float32)

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
        return self.embed(name, texts)[:, : DIMS[name]]


def bank(enc: Encoders, items: list[PairedItem], *, memory: bool) -> Bank:
    key = {n: enc.load_cached(n, [it.text for it in items]) for n in enc.names}
    if memory:
        text = {n: enc.load_cached(n, [insight_text(it) for it in items]) for n in enc.names}
        sig = {
            n: enc.load_cached(n, ["; ".join(it.intent_signals) for it in items]) for n in enc.names
        }
    else:  # held-out queries: the shipped text model's reading (fitted on the memory's sets)
        text, sig = {}, {}
        key[INTENT] = np.array(
            [[np.nan if (z := TEXT_MODEL.logit(it.text)) is None else z] for it in items],
            np.float32,
        )
    return Bank(items, key, text, sig)


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
        "note": "added, relative to a MiniLM-keyed cosine guard (the earlier default key) = method "
        "call minus the cosine_minilm top-k call (numpy over the memory, same run) plus the "
        "forward of every encoder besides MiniLM, minus MiniLM's forward for a method keyed by "
        "another encoder only (it replaces MiniLM)",
    }


# -- main -------------------------------------------------------------------------------------


def load_heldout(path: str) -> tuple[str, list[PairedItem]]:
    p = builtin_path(path) if path in BUNDLED else Path(path)
    if p.suffix == ".jsonl":
        return p.stem, read_paired_jsonl(p)[1]
    from echosafe_guard.bench.loaders.xstest_loader import XSTestLoader

    return "xstest", list(XSTestLoader().load(p, text_only=True).items)


def measure(name: str, rows: list[dict[str, Any]], band: float, policy: Policy) -> dict[str, Any]:
    """The metrics of one method on one protocol; the shipped row also says what the decision
    rule for weak unsafe evidence does there."""
    out = metrics(rows, band)
    if name == "shipped":
        out["weak_unsafe_rule"] = report_weak(
            rows, policy.weak_unsafe_min_similarity, policy.block_confidence or 1.0
        )
        out["frontier"] = frontier(rows)
    return out


def arguments() -> argparse.Namespace:
    ap = parser(__doc__, quick="LOCO only, short latency run")
    ap.add_argument("--heldout", action="append", default=[], help="paired JSONL, set or CSV")
    ap.add_argument("--add", action="append", default=[], choices=sorted(BUNDLED), help="set")
    ap.add_argument("--no-mpnet", action="store_true", help="skip all-mpnet-base-v2 methods")
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz)")
    ap.add_argument("--int8", action="store_true", help="add the ONNX int8 keys' rows")
    ap.add_argument(
        "--memory", choices=(DEFAULT_MEMORY, BUILTIN), default=DEFAULT_MEMORY, help="memory sets"
    )
    return parse(ap)


def main() -> None:
    args = arguments()
    start, load0 = time.perf_counter(), loadavg()
    encs: tuple[str, ...] = ("minilm",) if args.no_mpnet else ENCODERS
    if args.int8:
        encs += ("minilm_int8",) if args.no_mpnet else INT8
    enc = Encoders(encs, args.cache)
    items, sets = memory_items(args.memory, args.add)
    mem = bank(enc, items, memory=True)
    held = [(name, bank(enc, its, memory=False)) for name, its in map(load_heldout, args.heldout)]
    enc.save()
    log(f"embedded {len(items)} memory items and {len(held)} held-out sets")
    cfg, tuning = tune(mem, not args.no_mpnet)
    policy = load_policy()
    shipped = policy.retrieval.verdict
    tuning["shipped_equals_tuned"] = shipped == cfg
    tuning["shipped_min_similarity"] = policy.retrieval.min_similarity
    bands = {"shipped": shipped.band}  # every other row reads p_unsafe in the tuned band
    log(f"tuned on LOCO: {tuning}")
    table = methods(not args.no_mpnet, cfg, shipped)
    if args.int8:
        for e in encs[-len(INT8) if not args.no_mpnet else -1 :]:
            base = e.removesuffix("_int8")
            table[f"cosine_{e}"] = (cosine(e), (e,))
            table[f"probe_{e}"] = (verdict_model(cfg, (e,), name=f"probe_{e}", key=e), (e,))
            if base == "mpnet":
                shipped_int8 = verdict_model(
                    shipped, (e,), name="shipped_i8", key=e, as_shipped=True
                )
                table["shipped_int8"] = (shipped_int8, (e,))
                bands["shipped_int8"] = shipped.band
    protocols: list[tuple[str, Bank, list[tuple[Arr, Arr]]]] = [("loco", mem, folds_loco(mem))]
    if not args.quick:
        protocols.insert(0, ("lopo", mem, folds_lopo(mem)))
    everything = np.arange(len(items))
    protocols += [(proto, mem, folds) for proto, folds in folds_loso(len(items), sets)]
    protocols += [
        (f"heldout:{name}", qb, [(everything, np.arange(len(qb.items)))]) for name, qb in held
    ]
    tuning |= tune_weak(table["shipped"][0], mem, policy)
    results: dict[str, dict[str, Any]] = defaultdict(dict)
    for name, (meth, encs_used) in table.items():
        for proto, qb, folds in protocols:
            if proto == "lopo" and name not in LOPO_METHODS:
                continue
            results[name][proto] = measure(
                name, run(meth, mem, qb, folds), bands.get(name, cfg.band), policy
            )
            r = results[name][proto]
            log(
                f"{name:28s} {proto:16s} cat {r['category_at_1']} verdict {r['verdict_at_1']} "
                f"split {r['twin_split']} safe_u1 {r['safe_unsafe_first']} "
                f"unsafe_none {r['unsafe_none_shown']} brier {r['brier']}"
            )
        results[name]["encoders"] = list(encs_used)
    if "shipped" in results:
        results["shipped"]["frontier_sum"] = frontier_sum(results["shipped"])
    lat = latency(enc, table, mem, 8 if args.quick else 40)
    result = {
        "benchmark": "echosafe_guard twin discrimination (retrieval verdict)",
        "memory": f"memory seed {'+'.join([args.memory, *args.add])}: one insight per item "
        f"({len(items)} items)",
        "k_shown": K_SHOWN,
        "candidates": CANDIDATES,
        "tuning": {**TUNING, **tuning},
        "methods": results,
        "latency": lat,
        "machine": {"cpu_count": os.cpu_count(), "loadavg_start": load0, "loadavg_end": loadavg()},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
