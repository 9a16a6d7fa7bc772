"""A RediSearch HNSW index over insight hashes: creation, schema check, rebuild and KNN queries."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np

from echosafe_guard.exceptions import IndexSchemaMismatchError, StoreError
from echosafe_guard.memory.base import Vector
from echosafe_guard.memory.insight import Insight, ScoredInsight, SearchFilter
from echosafe_guard.memory.redis.redis_schema import (
    RedisIndexSettings,
    expected_schema,
    index_fields,
    schema_of_info,
    tag_query,
    tenant_tag,
)

__all__ = ["RedisIndex"]

log = logging.getLogger("echosafe_guard.store")

_SHARE_TTL_S = 30.0


class RedisIndex:
    """The index ``name`` over the hashes under ``key_prefix`` (vectors of ``dim`` values)."""

    def __init__(self, name: str, key_prefix: str, dim: int, settings: RedisIndexSettings) -> None:
        self.name = name
        self.key_prefix = key_prefix
        self.dim = dim
        self.settings = settings
        self._shares: dict[str, tuple[float, float]] = {}
        self._size = 0
        """The index's document count, read with the last tenant share (``ef_runtime=auto``)."""

    def ensure(self, client: Any, timeout: float = 600.0) -> int:
        """Create the index if missing; refuse an existing one with another schema. Returns how
        many vectors were converted to this index's type (only when it had to be created).

        An index it creates over existing documents (left by a rebuild killed after dropping
        the old one) indexes them in the background: it returns once that is done. An existing
        index still indexing (a rebuild running, or killed just after creating it) is not
        waited for (searches see the documents indexed so far); it is logged."""
        import redis
        from redis.commands.search.index_definition import IndexDefinition, IndexType

        ft = client.ft(self.name)
        try:
            info = ft.info()
        except redis.exceptions.ResponseError:
            # A new store (one empty SCAN), or documents left without an index by a rebuild
            # killed after dropping it: vectors of the other type would never be indexed.
            converted = self.convert_all(client)
            definition = IndexDefinition(  # type: ignore[no-untyped-call]
                prefix=[self.key_prefix], index_type=IndexType.HASH
            )
            ft.create_index(index_fields(self.dim, self.settings), definition=definition)
            self.wait_indexed(client, timeout)
            return converted
        got, want = schema_of_info(info), expected_schema(self.dim, self.settings)
        if got != want:
            raise IndexSchemaMismatchError(
                f"Redis index {self.name} has schema {got}, this store expects {want}; run "
                "`echosafe-guard memory reindex --store ...` to rebuild it"
            )
        if not _idle(info):
            log.warning(
                "Redis index %s is still indexing (%s%% done): searches miss the rest until it "
                "is done",
                self.name,
                round(100 * float(info.get("percent_indexed", 0)), 1),
            )
        return 0

    def rebuild(self, client: Any, timeout: float = 600.0) -> int:
        """Drop and recreate the index (documents kept), converting stored vectors to this
        index's vector type. Returns how many vectors were converted.

        Every document is checked, and a vector is converted when its length says it has the
        other type (2 or 4 bytes a dimension), whatever the old index says: a rebuild killed
        half-way (index dropped, some vectors converted) is put right by the next one, or by the
        next store that opens and creates the index."""
        import redis

        ft = client.ft(self.name)
        with contextlib.suppress(redis.exceptions.ResponseError):  # no index: nothing to drop
            ft.dropindex(delete_documents=False)
        return self.ensure(client, timeout)  # the index is gone: this converts and creates it

    def convert_all(self, client: Any) -> int:
        """Convert every stored vector of the other type (told by its length) to this index's."""
        dst = np.dtype(self.settings.numpy_dtype)
        src = np.dtype("<f2" if dst.itemsize == 4 else "<f4")
        converted = 0
        keys: list[Any] = []
        for key in client.scan_iter(match=f"{self.key_prefix}*", count=1000):
            keys.append(key)
            if len(keys) >= 1000:
                converted += self._convert(client, keys, src, dst)
                keys = []
        return converted + self._convert(client, keys, src, dst)

    def _convert(self, client: Any, keys: list[Any], src: np.dtype[Any], dst: np.dtype[Any]) -> int:
        """Convert the vectors of ``keys`` in two pipelined round trips (read all, write all)."""
        if not keys:
            return 0
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "vec")
        raws = pipe.execute()
        pipe = client.pipeline(transaction=False)
        n = 0
        for key, raw in zip(keys, raws, strict=True):
            if raw is not None and len(raw) == self.dim * src.itemsize:
                pipe.hset(key, "vec", np.frombuffer(raw, dtype=src).astype(dst).tobytes())
                n += 1
        pipe.execute()
        return n

    def wait_indexed(self, client: Any, timeout: float) -> None:
        """FT.CREATE over existing documents indexes them in the background: wait for it."""
        deadline = time.monotonic() + timeout
        while True:
            if _idle(client.ft(self.name).info()):
                return
            if time.monotonic() > deadline:
                raise StoreError(f"index {self.name} still indexing after {timeout} s")
            time.sleep(0.05)

    # -- the tenant's share of the index decides the hybrid policy ---------------------------
    #
    # RediSearch's planner may choose brute force over every document matching the tenant
    # pre-filter even when that is (nearly) the whole index: 13 ms instead of 0.5 ms at 10k
    # insights (benchmarks/store_scale.py). A tenant holding a large share of the index is
    # searched with HYBRID_POLICY BATCHES (HNSW batches, filtered); small tenants keep the
    # planner's choice, which is exact and fast for them.

    def _count_queries(self, tenant: str) -> tuple[Any, Any]:
        from redis.commands.search.query import Query

        mine = Query(f"@tenant:{{{tenant_tag(tenant)}}}").paging(0, 0).dialect(2)
        return mine, Query("*").paging(0, 0).dialect(2)

    def _cached_share(self, tenant: str) -> float | None:
        hit = self._shares.get(tenant)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def _store_share(self, tenant: str, mine: int, total: int) -> float:
        share = mine / total if total else 0.0
        self._size = int(total)
        self._shares[tenant] = (share, time.monotonic() + _SHARE_TTL_S)
        return share

    def count(self, client: Any, tenant: str) -> int:
        mine, _ = self._count_queries(tenant)
        return int(client.ft(self.name).search(mine).total)

    def tenant_share(self, client: Any, tenant: str) -> float:
        cached = self._cached_share(tenant)
        if cached is not None:
            return cached
        mine, every = self._count_queries(tenant)
        ft = client.ft(self.name)
        return self._store_share(tenant, ft.search(mine).total, ft.search(every).total)

    async def atenant_share(self, aclient: Any, tenant: str) -> float:
        cached = self._cached_share(tenant)
        if cached is not None:
            return cached
        mine, every = self._count_queries(tenant)
        ft = aclient.ft(self.name)
        return self._store_share(
            tenant, (await ft.search(mine)).total, (await ft.search(every)).total
        )

    def query(
        self, vector: Vector, tenant: str, k: int, filters: SearchFilter, *, share: float = 0.0
    ) -> tuple[Any, dict[str, Any]]:
        """A KNN query pre-filtered by tenant, status and the optional filters (dialect 2)."""
        from redis.commands.search.query import Query

        ef = self.settings.ef_for(self._size, k)
        batches = " HYBRID_POLICY BATCHES" if share >= self.settings.batches_min_share else ""
        knn = f"KNN {k} @vec $v EF_RUNTIME {ef}{batches} AS dist"
        q = (
            Query(f"({tag_query(tenant, filters)})=>[{knn}]")
            .sort_by("dist")
            .return_fields("rec", "dist")
            .paging(0, k)
            .dialect(2)
        )
        vec = np.asarray(vector, dtype=self.settings.numpy_dtype)
        return q, {"v": vec.tobytes()}

    @staticmethod
    def hits(result: Any, min_score: float, filters: SearchFilter) -> list[ScoredInsight]:
        """Scored insights from an FT.SEARCH result (cosine similarity = 1 - distance)."""
        out = []
        for doc in result.docs:
            score = 1.0 - float(doc.dist)
            if score < min_score:
                continue
            ins = Insight.model_validate_json(doc.rec)
            if filters.matches(ins):
                out.append(ScoredInsight(insight=ins, score=score))
        return out


def _idle(info: dict[str, Any]) -> bool:
    """FT.INFO says every document is indexed."""
    idle = str(info.get("indexing", "0")) in ("0", "0.0")
    return idle and float(info.get("percent_indexed", 1)) >= 1
