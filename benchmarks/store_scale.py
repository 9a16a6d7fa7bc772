"""Scale benchmark of ``RedisStore``: insert rate, top-10 latency, recall@10 and memory.

Run from the repository root (prints ONE JSON object on stdout, progress on stderr)::

    python benchmarks/store_scale.py --quick                      # CI smoke run, < 60 s
    python benchmarks/store_scale.py                              # 10k and 100k (default)
    python benchmarks/store_scale.py --sizes 1000000 --dists clustered --types FLOAT16
    python benchmarks/store_scale.py --redis-url redis://host:6379/0 --out results.json

For every N in ``--sizes`` (default ``10000,100000``: ~20 min on a 2-core machine; ``1000000``
works but needs ~7 GB of RAM and, at the 500-1300 insights/s HNSW insertion rate measured on 2
cores, 15-35 min of loading per configuration), every key distribution in ``--dists`` and every
vector type in ``--types`` the benchmark loads N insights of ``--dim`` (512) dimensions into one
tenant (``bench``; ``--tenants T`` spreads them over T tenants, queries then cycle through the
tenants, to show the tenant pre-filter cost) and measures:

* insert rate. Sizes up to ``--upsert-max`` (100000) go through ``RedisStore.upsert`` in
  batches of 1000 validated ``Insight`` objects (path ``upsert``; the rate counts only the time
  inside ``upsert``, the rate including building the pydantic objects is reported too). Larger
  sizes write the same hash documents (``encode_doc`` of per-category template insights, with
  the id and vector swapped in) through a redis-py pipeline (path ``pipeline``), because
  building a million pydantic insights is slow client work that says nothing about Redis;
* top-10 latency (wall clock of ``RedisStore.search``, including the client's parsing of the
  hits) for one client running ``--queries`` sequential queries, and for ``--clients`` (16)
  concurrent clients, both as threads that each own a ``RedisStore`` and as asyncio tasks
  sharing one store through ``asearch``; per-query p50/p99 and aggregate QPS. The server-side
  FT.SEARCH percentiles from ``INFO latencystats`` are reported next to them;
* recall@10 against exact search (numpy brute force over the same float32 keys; for FLOAT16
  also against the float16-rounded keys the index holds) at every EF_RUNTIME in ``--ef``
  (``auto``: the store's default, by index size, ``RedisIndexSettings.ef_for``);
* memory: the ``used_memory`` delta over the load divided by N, ``MEMORY USAGE`` of sampled
  hash documents and the index's own figures from ``FT.INFO``.

Key distributions: ``clustered`` (the realistic case) draws unit keys around ``--clusters``
(200) random unit centres with isotropic Gaussian noise of total norm ``--noise`` (0.5, i.e.
cosine ~0.89 to the centre); queries are fresh points from the same clusters. ``gaussian`` is
iid random unit keys (the adversarial case, informational).

Server: unless ``--redis-url`` is given, a fresh redis-server 8.2 with RediSearch from the PyPI
wheels (``tests/redis_server.py``) is started on loopback for every configuration, so memory
deltas start from an empty server. The helper always starts with AOF (appendfsync everysec); the
benchmark then runs ``CONFIG SET appendonly no`` so the load is not slowed by AOF writes and
rewrites (``--aof`` keeps AOF on). With ``--redis-url`` every configuration uses its own key
prefix and drops its index and documents afterwards.

Goals (checked on every result, binding only at N >= 1M on clustered keys): single-client top-10
p99 <= 2 ms, recall@10 >= 0.98, <= 3 KB (3072 B) per insight with FLOAT16.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
from harness import check, emit, log, parse, parser
from store_scale_search import open_store, search_at_ef
from store_scale_setup import (
    BATCH,
    WARMUP,
    K,
    doc_key,
    exact_topk,
    ft_info,
    index_memory,
    key_base,
    load_pipeline,
    load_upsert,
    make_keys,
    server,
    tenant_name,
    unit_rows,
    used_memory,
    wait_indexed,
)

from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.redis.redis_schema import (
    RedisIndexSettings,
)
from echosafe_guard.memory.redis.redis_store import RedisStore

REPO = Path(__file__).resolve().parents[1]
GOAL_P99_MS = 2.0
GOAL_RECALL = 0.98
GOAL_BYTES_FP16 = 3072
GOAL_MIN_N = 1_000_000
NOTES = [
    "latency_ms: wall clock per RedisStore.search/asearch call (query build, round trip, "
    "parsing the 10 hits into Insight objects); server_ft_search_ms: INFO latencystats and "
    "commandstats for FT.SEARCH over the same phase (includes the warm-up queries).",
    "threads_N: N threads, each with its own RedisStore (own connection), started together; "
    "asyncio_N: N tasks on one event loop sharing one RedisStore through asearch. qps = all "
    "queries / wall time of the phase. Client and server share the machine's cores.",
    "recall_at_10.exact_float32: against numpy brute force over the float32 keys that were "
    "inserted; exact_float16_stored: against the float16-rounded keys the index holds.",
    "bytes_per_insight: INFO used_memory after loading and indexing minus before binding the "
    "store, divided by N (hash documents + index + tenants set). hash_doc_bytes_mean: MEMORY "
    "USAGE of ~50 sampled documents. index_bytes_per_insight: FT.INFO total_index_memory_sz_mb "
    "(which in RediSearch 2.10 excludes the vector index); vector_index_bytes_per_insight: "
    "FT.INFO vector_index_sz_mb.",
    "loadavg_1m: the machine's 1-minute load average around each configuration (other work "
    "on the machine inflates latencies).",
]
REFERENCE_100K = {
    "note": "measured earlier on this machine at 100k (FLOAT32)",
    "ef10": {"p50_ms": 0.21, "recall_at_10": 0.954},
    "ef50": {"p50_ms": 0.30, "recall_at_10": 1.0},
    "bytes_per_insight_float32": 5500,
}


# -- one configuration -----------------------------------------------------------------------


def memory_report(
    c: redis.Redis, store: RedisStore, base: str, before: dict[str, int], n: int, n_tenants: int
) -> dict[str, Any]:
    after = used_memory(c)
    info = ft_info(c, store.index_name)
    step = max(1, n // 50)
    sample = [
        c.memory_usage(doc_key(base, tenant_name(i % n_tenants, n_tenants), f"b{i}"), samples=0)
        for i in range(0, n, step)
    ]
    delta = after["used_memory"] - before["used_memory"]
    idx = index_memory(info)
    total_mb = idx.get("total_index_memory_sz_mb")
    return {
        "bytes_per_insight": round(delta / n),
        "used_memory_delta_mb": round(delta / 2**20, 1),
        "used_memory_after_mb": round(after["used_memory"] / 2**20, 1),
        "used_memory_rss_after_mb": round(after["used_memory_rss"] / 2**20, 1),
        "hash_doc_bytes_mean": round(float(np.mean([s or 0 for s in sample]))),
        "index_bytes_per_insight": round(total_mb * 2**20 / n) if total_mb else None,
        "vector_index_bytes_per_insight": round(idx.get("vector_index_sz_mb", 0) * 2**20 / n),
        "ft_info_mb": idx,
        "ft_info_num_docs": int(float(info.get("num_docs", 0))),
    }


def run_config(
    url: str, n: int, kind: str, vtype: str, keys: tuple, args: argparse.Namespace
) -> dict[str, Any]:
    vecs, queries, truths, tenants = keys
    layout = KeyLayout(text_model="bench", text_dim=args.dim, image_model="none", image_dim=0)
    prefix = f"bench{os.getpid()}-{kind}-{vtype}-{n}".lower()
    settings = RedisIndexSettings(vector_type=vtype, m=args.m, ef_construction=args.ef_construction)
    c = redis.Redis.from_url(url)
    load_before = round(os.getloadavg()[0], 2)
    before = used_memory(c)
    store = open_store(url, prefix, settings, layout)
    t0 = time.perf_counter()
    if n <= args.upsert_max:
        insert = load_upsert(store, vecs, layout.id, args.tenants)
    else:
        insert = load_pipeline(store, vecs, layout.id, args.tenants, prefix)
    insert["index_catch_up_s"] = round(wait_indexed(c, store.index_name, n), 2)
    insert["wall_s"] = round(time.perf_counter() - t0, 2)
    log(f"{kind}/{vtype}/{n}: loaded via {insert['path']}: {insert['insert_per_s']}/s")
    check = store.get(tenant_name(7 % args.tenants, args.tenants), "b7", with_vector=True)
    assert check is not None and check.vector is not None
    assert float(np.dot(check.vector, vecs[7])) > 0.999, "stored vector mismatch"
    memory = memory_report(c, store, key_base(prefix, layout.id), before, n, args.tenants)
    log(f"{kind}/{vtype}/{n}: {memory['bytes_per_insight']} B/insight")
    truth = {"exact_float32": truths["float32"]}
    if vtype == "FLOAT16":
        truth["exact_float16_stored"] = truths["float16"]
    search = {}
    for ef in args.ef:
        s = RedisIndexSettings(**{**settings.model_dump(), "ef_runtime": ef})
        search[f"ef{ef}"] = search_at_ef(
            c, lambda s=s: open_store(url, prefix, s, layout), queries, tenants, truth, args
        )
        r = search[f"ef{ef}"]
        r["ef_runtime_used"] = s.ef_for(n, 10)
        log(
            f"{kind}/{vtype}/{n} ef {ef} ({r['ef_runtime_used']}): "
            f"p50 {r['single_client']['latency_ms']['p50']} ms, "
            f"p99 {r['single_client']['latency_ms']['p99']} ms, "
            f"recall {r['recall_at_10']['exact_float32']['mean']}"
        )
    if args.redis_url:
        c.execute_command("FT.DROPINDEX", store.index_name, "DD")
        c.delete(f"{prefix}:layout", f"{key_base(prefix, layout.id)}:tenants")
    store.close()
    c.close()
    out = {
        "n": n,
        "distribution": kind,
        "vector_type": vtype,
        "insert": insert,
        "memory": memory,
        "search": search,
        "loadavg_1m": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
    }
    out["goals"] = goals(out)
    return out


def goals(r: dict[str, Any]) -> dict[str, Any]:
    binding = r["n"] >= GOAL_MIN_N and r["distribution"] == "clustered"
    per_ef = {}
    for ef, s in r["search"].items():
        per_ef[ef] = {
            "p99_ms": check(s["single_client"]["latency_ms"]["p99"], GOAL_P99_MS, binding=binding),
            "recall_at_10": check(
                s["recall_at_10"]["exact_float32"]["mean"],
                GOAL_RECALL,
                binding=binding,
                higher_is_better=True,
            ),
        }
    ok = [ef for ef, g in per_ef.items() if g["p99_ms"]["pass"] and g["recall_at_10"]["pass"]]
    out: dict[str, Any] = {"per_ef": per_ef, "ef_meeting_latency_and_recall": ok}
    if r["vector_type"] == "FLOAT16":
        out["bytes_per_insight"] = check(
            r["memory"]["bytes_per_insight"], GOAL_BYTES_FP16, binding=binding
        )
    return out


# -- main ------------------------------------------------------------------------------------


def server_facts(url: str) -> dict[str, Any]:
    with redis.Redis.from_url(url) as c:
        mods = c.execute_command("MODULE", "LIST")
        mod_list = []
        for m in mods:
            d = m if isinstance(m, dict) else dict(zip(m[::2], m[1::2], strict=False))
            d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
            name = d.get("name")
            mod_list.append(
                {"name": name.decode() if isinstance(name, bytes) else name, "ver": d.get("ver")}
            )
        info = c.info("server")
        return {
            "redis_version": info.get("redis_version"),
            "modules": mod_list,
            "appendonly": c.config_get("appendonly").get("appendonly"),
        }


def parse_args() -> argparse.Namespace:
    ap = parser(__doc__, quick="N=2000, FLOAT32, ef auto: CI smoke run")
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    strs = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    ap.add_argument("--sizes", type=ints, default=None, help="insight counts (10000,100000)")
    ap.add_argument("--n", type=int, default=None, help="one insight count (= --sizes N)")
    ap.add_argument("--dists", type=strs, default=["clustered", "gaussian"])
    ap.add_argument("--types", type=strs, default=None, help="FLOAT32,FLOAT16")
    efs = lambda s: [x if x == "auto" else int(x) for x in strs(s)]  # noqa: E731
    ap.add_argument("--ef", type=efs, default=None, help="EF_RUNTIME values (10,50,100,auto)")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--m", type=int, default=16, help="HNSW M (store default 16)")
    ap.add_argument("--ef-construction", type=int, default=200, help="store default 200")
    ap.add_argument("--queries", type=int, default=None, help="sequential queries (300)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (16; 1: off)")
    ap.add_argument("--conc-queries", type=int, default=None, help="queries per client (60)")
    ap.add_argument("--tenants", type=int, default=1, help="spread insights over T tenants")
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.5, help="noise norm around a centre")
    ap.add_argument("--upsert-max", type=int, default=100_000, help="larger N: pipeline path")
    ap.add_argument("--redis-url", default=None, help="use this server instead of our own")
    ap.add_argument("--aof", action="store_true", help="keep AOF (everysec) on our server")
    args = parse(ap)
    q = args.quick
    args.sizes = [args.n] if args.n else args.sizes or ([2000] if q else [10_000, 100_000])
    args.types = [t.upper() for t in args.types or (["FLOAT32"] if q else ["FLOAT32", "FLOAT16"])]
    args.ef = args.ef or (["auto"] if q else [10, 50, 100, "auto"])
    args.queries = args.queries or (100 if q else 300)
    args.conc_queries = args.conc_queries or (20 if q else 60)
    bad = set(args.dists) - {"clustered", "gaussian"} or set(args.types) - {"FLOAT32", "FLOAT16"}
    if bad:
        ap.error(f"unknown distribution or vector type: {sorted(bad)}")
    return args


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    results, facts = [], {}
    with tempfile.TemporaryDirectory(prefix="echosafe-store-scale-") as d:
        for n in args.sizes:
            for kind in args.dists:
                t0 = time.perf_counter()
                vecs, queries, keyinfo = make_keys(kind, n, args.queries, args)
                truth32, contrast = exact_topk(vecs, queries, args.tenants)
                keyinfo |= contrast
                truths = {"float32": truth32}
                if "FLOAT16" in args.types:
                    v16 = unit_rows(vecs.astype(np.float16).astype(np.float32))
                    q16 = unit_rows(queries.astype(np.float16).astype(np.float32))
                    truths["float16"] = exact_topk(v16, q16, args.tenants)[0]
                    del v16
                tenants = [tenant_name(j % args.tenants, args.tenants) for j in range(len(queries))]
                log(f"{kind}/{n}: keys and exact top-10 in {time.perf_counter() - t0:.1f} s")
                for vtype in args.types:
                    with server(args, Path(d), f"{kind}-{vtype}-{n}") as url:
                        facts = facts or server_facts(url)
                        keys = (vecs, queries, truths, tenants)
                        r = run_config(url, n, kind, vtype, keys, args)
                    r["keys"] = keyinfo
                    results.append(r)
                del vecs, queries, truths
    out = {
        "benchmark": "echosafe_guard RedisStore scale",
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("out", "json")
        }
        | {"k": K, "upsert_batch": BATCH, "warmup_queries": WARMUP},
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "redis_py": redis.__version__,
        },
        "server": facts,
        "goals": {
            "p99_ms_max": GOAL_P99_MS,
            "recall_at_10_min": GOAL_RECALL,
            "float16_bytes_per_insight_max": GOAL_BYTES_FP16,
            "binding_at": f"n >= {GOAL_MIN_N}, clustered keys; otherwise informational",
        },
        "reference": REFERENCE_100K,
        "notes": NOTES,
        "results": results,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
