"""Searching in benchmarks/store_scale.py: one client, many threads, many asyncio tasks, and the
sweep over EF_RUNTIME values."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import redis
from harness import summary
from store_scale_setup import WARMUP, K, recall, server_latency

from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.redis.redis_schema import (
    RedisIndexSettings,
)
from echosafe_guard.memory.redis.redis_store import RedisStore

# -- searching -------------------------------------------------------------------------------


def ids(hits: list[Any]) -> list[int]:
    return [int(h.insight.id[1:]) for h in hits]


def open_store(url: str, prefix: str, settings: RedisIndexSettings, layout: KeyLayout) -> Any:
    store = RedisStore(url, prefix=prefix, index=settings)
    store.bind(layout)
    return store


def single_client(
    make: Callable[[], RedisStore], queries: np.ndarray, tenants: list[str]
) -> tuple[list[float], list[list[int]]]:
    store = make()
    for j in range(WARMUP):
        store.search(queries[j % len(queries)], tenant=tenants[j % len(queries)], k=K)
    lat, found = [], []
    for q, t in zip(queries, tenants, strict=True):
        t0 = time.perf_counter()
        hits = store.search(q, tenant=t, k=K)
        lat.append((time.perf_counter() - t0) * 1000)
        found.append(ids(hits))
    store.close()
    return lat, found


def concurrent_threads(
    make: Callable[[], RedisStore], queries: np.ndarray, tenants: list[str], clients: int, per: int
) -> dict[str, Any]:
    stores = [make() for _ in range(clients)]
    barrier = threading.Barrier(clients)
    spans: list[list[tuple[float, float]]] = [[] for _ in range(clients)]

    def run(c: int) -> None:
        store = stores[c]
        for j in range(WARMUP // 4):
            store.search(queries[j], tenant=tenants[j], k=K)
        barrier.wait()
        for j in range(per):
            x = (c * per + j) % len(queries)
            t0 = time.perf_counter()
            store.search(queries[x], tenant=tenants[x], k=K)
            spans[c].append((t0, time.perf_counter()))

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for s in stores:
        s.close()
    return span_summary([x for sp in spans for x in sp])


def concurrent_asyncio(
    make: Callable[[], RedisStore], queries: np.ndarray, tenants: list[str], clients: int, per: int
) -> dict[str, Any]:
    store = make()

    async def task(c: int, spans: list[tuple[float, float]]) -> None:
        for j in range(per):
            x = (c * per + j) % len(queries)
            t0 = time.perf_counter()
            await store.asearch(queries[x], tenant=tenants[x], k=K)
            spans.append((t0, time.perf_counter()))

    async def main() -> list[tuple[float, float]]:
        for j in range(WARMUP):
            await store.asearch(queries[j], tenant=tenants[j], k=K)
        spans: list[tuple[float, float]] = []
        await asyncio.gather(*(task(c, spans) for c in range(clients)))
        await store.aclose()
        return spans

    return span_summary(asyncio.run(main()))


def span_summary(spans: list[tuple[float, float]]) -> dict[str, Any]:
    lat = [(b - a) * 1000 for a, b in spans]
    wall = max(b for _, b in spans) - min(a for a, _ in spans)
    return {"latency_ms": summary(lat), "queries": len(spans), "qps": round(len(spans) / wall)}


def search_at_ef(
    c: redis.Redis,
    make: Callable[[], RedisStore],
    queries: np.ndarray,
    tenants: list[str],
    truths: dict[str, np.ndarray],
    args: argparse.Namespace,
) -> dict[str, Any]:
    c.config_resetstat()
    lat, found = single_client(make, queries, tenants)
    single = {"latency_ms": summary(lat), "queries": len(lat), "server_ft_search_ms": {}}
    single["server_ft_search_ms"] = server_latency(c)
    out: dict[str, Any] = {
        "recall_at_10": {name: recall(found, t) for name, t in truths.items()},
        "single_client": single,
    }
    if args.clients > 1:
        c.config_resetstat()
        per = args.conc_queries
        out[f"threads_{args.clients}"] = concurrent_threads(
            make, queries, tenants, args.clients, per
        )
        out[f"threads_{args.clients}"]["server_ft_search_ms"] = server_latency(c)
        c.config_resetstat()
        out[f"asyncio_{args.clients}"] = concurrent_asyncio(
            make, queries, tenants, args.clients, per
        )
        out[f"asyncio_{args.clients}"]["server_ft_search_ms"] = server_latency(c)
    return out
