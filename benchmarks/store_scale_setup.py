"""Set-up of benchmarks/store_scale.py: synthetic keys and their exact top-10, our own
redis-server, and loading the insights (upsert or raw pipeline)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis
from harness import REPO, log

from echosafe_guard.memory.insight import Insight, Provenance, ProvenanceSource, Verdict
from echosafe_guard.memory.redis.redis_schema import (
    REDIS_SCHEMA_VERSION,
    encode_doc,
    tenant_tag,
)
from echosafe_guard.memory.redis.redis_store import RedisStore

K = 10
BATCH = 1000
WARMUP = 20
CATEGORIES = ["illegal_activity", "fraud", "privacy_violation", "physical_harm", "malware"]
VERDICTS = [Verdict.UNSAFE, Verdict.SAFE, Verdict.BORDERLINE]


# -- keys ------------------------------------------------------------------------------------


def unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_keys(
    kind: str, n: int, n_q: int, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``n`` stored keys and ``n_q`` query keys (float32, unit norm) and a short description."""
    dim = args.dim
    rng = np.random.default_rng([n, 1 if kind == "clustered" else 2])
    if kind == "gaussian":
        allv = rng.standard_normal((n + n_q, dim), dtype=np.float32)
        return unit_rows(allv[:n]), unit_rows(allv[n:]), {"kind": kind}
    centres = unit_rows(rng.standard_normal((args.clusters, dim), dtype=np.float32))
    sigma = np.float32(args.noise / np.sqrt(dim))
    out = []
    for m in (n, n_q):
        labels = rng.integers(0, args.clusters, m)
        x = np.empty((m, dim), np.float32)
        for s in range(0, m, 100_000):
            part = rng.standard_normal((min(100_000, m - s), dim), dtype=np.float32)
            x[s : s + len(part)] = centres[labels[s : s + len(part)]] + sigma * part
        out.append(unit_rows(x))
        last_labels = labels
    cos_centre = float(np.mean(np.sum(out[1] * centres[last_labels], axis=1)))
    info = {
        "kind": kind,
        "clusters": args.clusters,
        "noise_norm": args.noise,
        "mean_query_cos_to_centre": round(cos_centre, 4),
    }
    return out[0], out[1], info


def key_base(prefix: str, layout_id: str) -> str:
    """The key prefix ``RedisStore`` documents: ``{prefix}:{layout id}:s{schema}``."""
    return f"{prefix}:{layout_id}:s{REDIS_SCHEMA_VERSION}"


def doc_key(base: str, tenant: str, insight_id: str) -> str:
    return f"{base}:i:{{{tenant_tag(tenant)}}}:{insight_id}"


def tenant_name(t: int, n_tenants: int) -> str:
    return "bench" if n_tenants == 1 else f"bench-{t}"


def exact_topk(vecs: np.ndarray, queries: np.ndarray, n_tenants: int) -> tuple[np.ndarray, Any]:
    """Exact top-K insight numbers per query (query j asks tenant ``j % T``; insight i is in
    tenant ``i % T``) and the mean top-1 / top-K cosine."""
    out = np.empty((len(queries), K), np.int64)
    top1, topk = [], []
    for t in range(n_tenants):
        members = np.arange(t, len(vecs), n_tenants)
        sub = vecs[members]
        for s in range(t, len(queries), 64 * n_tenants):
            qidx = np.arange(s, min(s + 64 * n_tenants, len(queries)), n_tenants)
            scores = queries[qidx] @ sub.T
            part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
            best = np.take_along_axis(scores, part, axis=1)
            out[qidx] = members[part]
            top1.extend(best.max(axis=1).tolist())
            topk.extend(best.min(axis=1).tolist())
    return out, {
        "mean_top1_cos": round(float(np.mean(top1)), 4),
        "mean_top10_cos": round(float(np.mean(topk)), 4),
    }


def recall(found: list[list[int]], truth: np.ndarray) -> dict[str, float]:
    r = [len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]
    return {"mean": round(float(np.mean(r)), 4), "min": round(float(np.min(r)), 2)}


# -- server ----------------------------------------------------------------------------------


@contextmanager
def server(args: argparse.Namespace, tmp: Path, tag: str) -> Iterator[str]:
    """A Redis URL: ``--redis-url`` as given, or a fresh server of our own for this run."""
    if args.redis_url:
        yield args.redis_url
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # tests/redis_server.py, the tests' server helper
    from tests.redis_server import RedisServer, free_port

    srv = RedisServer(tmp / tag, free_port()).start()
    try:
        if not args.aof:
            with redis.Redis.from_url(srv.url) as c:
                c.config_set("appendonly", "no")
        yield srv.url
    finally:
        srv.stop()


def used_memory(c: redis.Redis) -> dict[str, int]:
    info = c.info("memory")
    return {k: int(info[k]) for k in ("used_memory", "used_memory_rss")}


def server_latency(c: redis.Redis) -> dict[str, Any]:
    """FT.SEARCH server-side latency since the last ``CONFIG RESETSTAT``, in ms."""
    out: dict[str, Any] = {}
    for key, val in c.info("latencystats").items():
        if key.lower().endswith("ft.search"):
            items = val.items() if isinstance(val, dict) else []
            out |= {k: round(float(v) / 1000, 4) for k, v in items}
    for key, val in c.info("commandstats").items():
        if key.lower().endswith("ft.search") and isinstance(val, dict):
            out["calls"] = int(val.get("calls", 0))
            out["mean"] = round(float(val.get("usec_per_call", 0)) / 1000, 4)
    return out


def ft_info(c: redis.Redis, index: str) -> dict[str, Any]:
    """The scalar fields of ``FT.INFO``."""
    info = c.ft(index).info()
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float))}


def index_memory(info: dict[str, Any]) -> dict[str, float]:
    keys = [k for k in info if k.endswith(("_sz_mb", "_size_mb"))]
    return {k: round(float(info[k]), 3) for k in sorted(keys)}


def wait_indexed(c: redis.Redis, index: str, n: int, timeout: float = 3600.0) -> float:
    t0 = time.perf_counter()
    while True:
        info = ft_info(c, index)
        done = str(info.get("indexing", "0")) in ("0", "0.0")
        if done and int(float(info.get("num_docs", 0))) >= n:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{index}: not indexed after {timeout} s: {info}")
        time.sleep(0.2)


# -- loading ---------------------------------------------------------------------------------


PROVENANCE = Provenance(source=ProvenanceSource.SEED, ref="benchmarks/store_scale.py")


def make_insight(i: int, vec: np.ndarray, layout: str, n_tenants: int) -> Insight:
    v = VERDICTS[i % len(VERDICTS)]
    return Insight(
        id=f"b{i}",
        tenant=tenant_name(i % n_tenants, n_tenants),
        verdict=v,
        category=CATEGORIES[i % len(CATEGORIES)],
        layout=layout,
        scenario=f"A request that asks for help with task #{i % 97} in a {v.value} context.",
        intent_signals=("asks for actionable steps", "mentions evading detection"),
        guidance="Help with the legitimate reading; withhold operational detail that mainly "
        "serves harm.",
        provenance=PROVENANCE,
        vector=tuple(vec.tolist()),
    )


def load_upsert(store: RedisStore, vecs: np.ndarray, layout: str, n_tenants: int) -> dict:
    build = spent = 0.0
    for s in range(0, len(vecs), BATCH):
        t0 = time.perf_counter()
        group = [
            make_insight(s + j, v, layout, n_tenants) for j, v in enumerate(vecs[s : s + BATCH])
        ]
        t1 = time.perf_counter()
        store.upsert(group)
        spent += time.perf_counter() - t1
        build += t1 - t0
        if s and s % 100_000 == 0:
            log(f"  upserted {s}")
    assert store.pending_writes == 0 and store.dropped_writes == 0
    return {
        "path": "upsert",
        "batch": BATCH,
        "seconds_in_upsert": round(spent, 2),
        "insert_per_s": round(len(vecs) / spent),
        "insert_per_s_with_insight_build": round(len(vecs) / (spent + build)),
    }


def load_pipeline(
    store: RedisStore, vecs: np.ndarray, layout: str, n_tenants: int, prefix: str
) -> dict:
    """The documents ``upsert`` writes, built from ``encode_doc`` of a template insight per
    (tenant, verdict, category) combination with the id and the vector swapped in."""
    dtype = store.settings.numpy_dtype
    base = key_base(prefix, layout)
    period = len(VERDICTS) * len(CATEGORIES) * n_tenants
    templates = []
    for i in range(min(period, len(vecs))):
        doc = encode_doc(make_insight(i, vecs[i], layout, n_tenants), store.settings)
        head, tail = doc["rec"].split(f'"id":"b{i}"', 1)
        templates.append((doc, head + '"id":"b', '"' + tail))
    client = store.client
    t0 = time.perf_counter()
    for s in range(0, len(vecs), BATCH):
        pipe = client.pipeline(transaction=False)
        raw = vecs[s : s + BATCH].astype(dtype)
        for j, row in enumerate(raw):
            i = s + j
            doc, head, tail = templates[i % period]
            tag = doc["tenant"]
            mapping = {**doc, "rec": f"{head}{i}{tail}", "vec": row.tobytes()}
            pipe.hset(f"{base}:i:{{{tag}}}:b{i}", mapping=mapping)
        for t in range(min(n_tenants, len(raw))):
            pipe.sadd(f"{base}:tenants", tenant_name(t, n_tenants))
        pipe.execute()
        if s and s % 100_000 == 0:
            log(f"  written {s}")
    spent = time.perf_counter() - t0
    return {
        "path": "pipeline",
        "batch": BATCH,
        "seconds": round(spent, 2),
        "insert_per_s": round(len(vecs) / spent),
    }
