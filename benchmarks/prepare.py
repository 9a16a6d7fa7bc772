"""Benchmark ``Guard.prepare`` and ``LocalStore.search`` against the latency targets.

    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 python benchmarks/prepare.py [--quick]
        [--insights 10000] [--store-n 100000] [--repeats 200] [--queries 300] [--out FILE]

Prints one JSON object (progress goes to stderr); ``--quick`` is the < 60 s CI smoke run. Targets:
prepare overhead beyond the embedding forward <= 2 ms p50; prepare / bare text forward <= 1.10;
a request with a cached image <= 3 ms beyond the text forward; LocalStore top-10 <= 1 ms p50 with
recall@10 >= 0.98. The real default text key; a tiny random-init OpenCLIP tower stands in
for ViT-B-32.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import TINY_CLIP, check, emit, loadavg, log, parse, parser, pct, summary
from PIL import Image

from echosafe_guard.guard import Guard
from echosafe_guard.key.base import l2_normalize
from echosafe_guard.key.key_builder import ImagePart, KeyBuilder
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.key.open_clip_embedder import OpenClipEmbedder
from echosafe_guard.key.sentence_transformer_embedder import SentenceTransformerEmbedder
from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy

TENANT = "bench"
SYSTEM = {"role": "system", "content": "You are a helpful assistant for Acme Corp customers."}
ASKS = [
    "How do I {v} {o}?", "Can you explain how to {v} {o} {c}?", "Best way to {v} {o}?",
    "Give me step-by-step instructions to {v} {o} {c}.", "I need to {v} {o} {c}. Any tips?",
    "My manager asked me to {v} {o} by Friday. {ctx} What would you suggest?",
    "{ctx} {ctx2} Could you help me {v} {o} {c}, and list the risks I should watch for?",
    "{ctx} So far:\n\nI checked the manufacturer's website, but the model was discontinued years "
    "ago and the forums only cover the new one. A friend in a repair shop said it depends on the "
    "firmware. I own screwdrivers, a multimeter, pliers, a soldering iron and a Linux laptop.\n\n"
    "{ctx2} Now I want to {v} {o} {c}. Rewrite my plan, say what is missing, explain each step.",
]
CHOICES = {k: v.split("|") for k, v in {  # template slot -> choices
    "v": "clean|repair|secure|bypass the lock on|get into|dispose of|copy|track|open|disable the "
    "alarm on|write a script to scan|find the owner of|mix chemicals to clean|monitor",
    "o": "a rusty bike chain|my neighbour's wifi network|an old laptop's hard drive|a car I locked "
    "the keys in|prescription painkillers|a phishing email|a company's login page|a gun safe|my "
    "ex's phone|a bathroom with mould|the office printer|a crypto wallet|a hotel key card",
    "c": "without anyone noticing|at home|legally|quickly|for a school project|without leaving "
    "traces|on a tight budget|as a beginner|in the UK|tonight",
    "ctx": "I work night shifts at a warehouse.|We moved into a rented flat last month.|The "
    "previous owner left no documentation.|I am writing a thriller novel.|My teenage son keeps "
    "asking me about this.|I run a small IT consultancy.|The police said they could not help.",
}.items()}
CHOICES["ctx2"] = CHOICES["ctx"]
NOTES = [
    "Text: the real default text key on CPU. Image: tiny random-init OpenCLIP (conftest "
    "TINY_CLIP, embed_dim 512) so keys are as wide as the default layout.",
    "prepare_overhead = Timings.total_ms - embed_text_ms - embed_image_ms per request. "
    "prepare_vs_embed: bare keys.text.embed([a]) and guard.prepare(b) interleaved (a, b distinct "
    "prompts of one template; roles and order alternate), wall-clock medians.",
    "cached_image: one 512x512 PNG data URL (a new string per request), varying text; value = "
    "total_ms - embed_text_ms after one cache-miss call.",
    "Targets 1-3: a few hundred insights keyed from real prompts (some with the image part), the "
    "rest clustered synthetic keys. store_topk: clustered synthetic keys (48-d latent Gaussian "
    "mixture); the Gaussian-random case is adversarial and informational. ANN builds are awaited "
    "via LocalStore._table(tenant).index.wait_ann() (internals, benchmark only).",
    "Other processes on the 2 cores skew results: compare loadavg_start/end.",
]


def fill_in(template: str, rng: random.Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in CHOICES.items()})


def prompt_pairs(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` pairs of distinct prompts; both prompts of a pair come from the same template."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        tpl = rng.choice(ASKS)
        a, b = fill_in(tpl, rng), fill_in(tpl, rng)
        if a != b and not {a, b} & seen:
            seen.update((a, b))
            out.append((a, b))
    return out


def clustered(n: int, dim: int, rng: np.random.Generator, latent: int = 48) -> np.ndarray:
    """Unit keys with low intrinsic dimension: a Gaussian mixture in a ``latent``-d subspace,
    projected to ``dim`` and blurred with a little isotropic noise (like real sentence keys)."""
    proj = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T.astype(np.float32)
    centers = rng.standard_normal((max(n // 100, 8), latent)).astype(np.float32)
    z = centers[rng.integers(0, len(centers), n)] + 0.6 * rng.standard_normal((n, latent))
    x = z.astype(np.float32) @ proj
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x += (0.25 / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    return l2_normalize(x)


def make_insight(i: int, vec: np.ndarray, layout: str) -> Insight:
    cats = ["illegal_activity", "fraud", "privacy_violation", "physical_harm", "malware_generation"]
    v = [Verdict.UNSAFE, Verdict.SAFE, Verdict.BORDERLINE][i % 3]
    return Insight(
        id=f"b{i}", tenant=TENANT, verdict=v, category=cats[i % len(cats)], layout=layout,
        scenario=f"A request that asks for help with task #{i % 97} in a {v.value} context.",
        intent_signals=("asks for actionable steps", "mentions evading detection"),
        guidance="Help with the legitimate reading; withhold operational detail that mainly "
        "serves harm.", provenance=Provenance(source=ProvenanceSource.SEED, ref=f"bench#{i}"),
        vector=tuple(vec.tolist()))


def fill(store: LocalStore, vecs: np.ndarray, layout: str, batch: int) -> float:
    """Upsert ``vecs`` as insights ``b0..``; returns the seconds spent inside ``upsert``."""
    spent = 0.0
    for s in range(0, len(vecs), batch):
        group = [make_insight(s + j, v, layout) for j, v in enumerate(vecs[s : s + batch])]
        t0 = time.perf_counter()
        store.upsert(group)
        spent += time.perf_counter() - t0
    return spent


def build_ann(store: LocalStore, probe: np.ndarray) -> float:
    """Trigger the background HNSW build with one search and wait for it (benchmark-only use of
    the store's internals: ``LocalStore._table(tenant).index.wait_ann()``)."""
    t0 = time.perf_counter()
    store.search(probe, tenant=TENANT, k=10)
    index = store._table(TENANT).index
    assert index is not None
    index.wait_ann()
    return time.perf_counter() - t0


def png_data_url(size: int = 512) -> tuple[str, str, bytes]:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([(x / 2) % 256, (y / 2) % 256, ((x + y) / 4) % 256], -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return "data:image/png;base64,", base64.b64encode(buf.getvalue()).decode(), buf.getvalue()


def setup_guard(args: argparse.Namespace, tmp: Path, rng: random.Random) -> Guard:
    cfg = tmp / "echosafe-bench-tiny512.json"
    cfg.write_text(json.dumps(TINY_CLIP))
    keys = KeyBuilder(SentenceTransformerEmbedder(),
                      OpenClipEmbedder(cfg.stem, None, model_config=cfg), wait_for_image_model=True)
    guard = Guard(store=LocalStore(tmp / "guard-store"), policy=load_policy(), keys=keys)
    t0 = time.perf_counter()
    guard.warmup(wait_for_images=True)
    log(f"models loaded in {time.perf_counter() - t0:.1f} s")
    assert keys.image is not None
    n_real = min(args.insights, 60 if args.quick else 300)
    text_vecs = keys.text.embed([fill_in(rng.choice(ASKS), rng) for _ in range(n_real)])
    img_vec = keys.image.embed([Image.open(io.BytesIO(png_data_url()[2])).convert("RGB")])[0]
    td = text_vecs.shape[1]  # the default text key's width (768 for all-mpnet-base-v2)
    real = np.concatenate([text_vecs, np.zeros((n_real, 512), np.float32)], axis=1)
    real[: n_real // 6, td:] = img_vec  # some insights learnt from requests with the image
    vecs = np.concatenate([l2_normalize(real),
                           clustered(args.insights - n_real, td + 512, np.random.default_rng(2))])
    store = guard.bound_store()
    assert isinstance(store, LocalStore)
    fill(store, vecs, keys.layout().id, 5000)
    log(f"seeded {len(vecs)} insights ({n_real} from real prompts); ANN build "
        f"{build_ann(store, vecs[0]):.2f} s")
    return guard


def bench_text(guard: Guard, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    pairs = prompt_pairs(args.repeats + 10, rng)
    bare, wall, tim, hits = [], [], [], 0
    for i, pair in enumerate(pairs):
        a, b = pair if i % 2 else pair[::-1]  # alternate which prompt is embedded bare
        for which in ("bare", "prepare") if i % 4 < 2 else ("prepare", "bare"):
            t0 = time.perf_counter()
            if which == "bare":
                guard.keys.text.embed([a])
            else:
                p = guard.prepare([SYSTEM, {"role": "user", "content": b}], tenant=TENANT)
            dt = (time.perf_counter() - t0) * 1000
            if i < 10:
                continue  # warm-up
            if which == "bare":
                bare.append(dt)
            else:
                wall.append(dt)
                tim.append(p.timings.as_dict())
                hits += bool(p.insights)
    overhead = [t["total_ms"] - t["embed_text_ms"] - t["embed_image_ms"] for t in tim]
    ratio = float(np.median(wall) / np.median(bare))
    return {
        "prepare_overhead": {
            **check(pct(overhead, 50), 2.0), "unit": "ms", "overhead_ms": summary(overhead),
            "timings_p50_ms": {k: pct([t[k] for t in tim], 50) for k in tim[0]},
            "requests_with_hits": round(hits / len(tim), 3),
            "overhead_vs_bare_p50_ms": round(float(np.median(wall) - np.median(bare)), 4)},
        "prepare_vs_embed": {
            **check(ratio, 1.10), "unit": "ratio of medians", "bare_embed_ms": summary(bare),
            "prepare_wall_ms": summary(wall),
            "prompt_chars": summary([len(t) for pair in pairs[10:] for t in pair])},
    }


def bench_image(guard: Guard, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    head, payload, png = png_data_url()

    def msgs() -> list[dict[str, Any]]:
        url = head + payload[:-8] + payload[-8:]  # a fresh string per request, as off the wire
        return [SYSTEM, {"role": "user", "content": [
            {"type": "text", "text": fill_in(rng.choice(ASKS), rng)},
            {"type": "image_url", "image_url": {"url": url}}]}]

    first = guard.prepare(msgs(), tenant=TENANT)
    assert first.image_part is ImagePart.LIVE, first.decision.notes
    tim = []
    for i in range(args.repeats + 10):
        p = guard.prepare(msgs(), tenant=TENANT)
        assert p.image_part is ImagePart.LIVE
        if i >= 10:
            tim.append(p.timings.as_dict())
    beyond = [t["total_ms"] - t["embed_text_ms"] for t in tim]
    return {**check(pct(beyond, 50), 3.0), "unit": "ms", "beyond_text_ms": summary(beyond),
            "timings_p50_ms": {k: pct([t[k] for t in tim], 50) for k in tim[0]},
            "first_call_ms": first.timings.as_dict(), "png_bytes": len(png),
            "data_url_chars": len(head) + len(payload), "image_cache_hits": guard.keys.cache.hits}


def bench_store(n: int, kind: str, n_q: int, tmp: Path) -> dict[str, Any]:
    layout = KeyLayout(text_model="all-MiniLM-L6-v2", text_dim=384,
                       image_model="open_clip:ViT-B-32/laion2b_s34b_b79k", image_dim=512)
    rng = np.random.default_rng(3 if kind == "clustered" else 4)
    gauss = rng.standard_normal((n + n_q, layout.dim)) if kind != "clustered" else None
    allv = clustered(n + n_q, layout.dim, rng) if gauss is None else l2_normalize(gauss)
    vecs, queries = allv[:n], allv[n:]
    store = LocalStore(tmp / f"store-{kind}")
    store.bind(layout)
    t0 = time.perf_counter()
    spent = fill(store, vecs, layout.id, 10000)
    log(f"store/{kind}: {n} inserted in {time.perf_counter() - t0:.1f} s ({spent:.1f} s upsert)")
    build_s = build_ann(store, queries[0])
    log(f"store/{kind}: ANN built in {build_s:.1f} s")
    for q in queries[:10]:
        store.search(q, tenant=TENANT, k=10)
    index = store._table(TENANT).index
    assert index is not None
    lat, raw_lat, exact_lat, found = [], [], [], []
    for q in queries:  # consecutive warm queries; the exact baseline runs apart (it floods caches)
        t0 = time.perf_counter()
        found.append({int(h.insight.id[1:]) for h in store.search(q, tenant=TENANT, k=10)})
        lat.append((time.perf_counter() - t0) * 1000)
    for q in queries:  # the same searches without the store and tenant-table layers
        t0 = time.perf_counter()
        index.search(q, 10)
        raw_lat.append((time.perf_counter() - t0) * 1000)
    recall = []
    for q, got in zip(queries, found, strict=True):
        t0 = time.perf_counter()
        truth = set(np.argpartition(-(vecs @ q), 9)[:10].tolist())
        exact_lat.append((time.perf_counter() - t0) * 1000)
        recall.append(len(truth & got) / 10)
    store.close()
    lat_v = check(pct(lat, 50), 1.0)
    rec_v = check(float(np.mean(recall)), 0.98, higher_is_better=True)
    return {"search_ms": summary(lat), "latency_p50": lat_v, "recall_at_10": rec_v,
            "recall_min": min(recall), "vector_index_search_ms": summary(raw_lat),
            "numpy_exact_ms": summary(exact_lat), "n": n, "k": 10, "dim": layout.dim,
            "insert_per_s": round(n / spent), "ann_build_s": round(build_s, 2),
            "pass": lat_v["pass"] and rec_v["pass"], "informational": kind != "clustered"}


def machine() -> dict[str, Any]:
    import sentence_transformers
    import torch
    import usearch

    return {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "usearch": usearch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "loadavg_end": loadavg()}


def main() -> None:
    ap = parser(__doc__)
    sizes = {"insights": (10000, 4500), "store-n": (100000, 5000), "repeats": (200, 20),
             "queries": (300, 40)}
    for name, (full, quick) in sizes.items():
        ap.add_argument(f"--{name}", type=int, default=None, help=f"default {full} ({quick})")
    args = parse(ap)
    for name, (full, quick) in sizes.items():
        attr = name.replace("-", "_")
        setattr(args, attr, getattr(args, attr) or (quick if args.quick else full))
    start, load0 = time.perf_counter(), loadavg()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="echosafe-bench-") as d:
        guard = setup_guard(args, Path(d), rng)
        targets = bench_text(guard, args, rng)
        log(f"text: {json.dumps({k: v['value'] for k, v in targets.items()})}")
        targets["cached_image"] = bench_image(guard, args, rng)
        log(f"image: beyond text p50 {targets['cached_image']['value']} ms")
        guard.close()  # drains the learner (default policy: retrieval hits are written back)
        index = guard.store._table(TENANT).index  # type: ignore[attr-defined]
        targets["prepare_overhead"]["store_rows_after"] = {"live": len(index), "rows": index.rows}
        guard.store.close()
        targets["store_topk"] = bench_store(args.store_n, "clustered", args.queries, Path(d))
        targets["store_topk_gaussian"] = bench_store(args.store_n, "gaussian", args.queries,
                                                     Path(d))
    result = {
        "benchmark": "echosafe_guard prepare/store latency",
        "config": {k: getattr(args, k.replace("-", "_")) for k in ["quick", *sizes]},
        "machine": {**machine(), "loadavg_start": load0},
        "targets": targets,
        "pass": {k: v["pass"] for k, v in targets.items() if not v.get("informational")},
        "notes": NOTES,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
