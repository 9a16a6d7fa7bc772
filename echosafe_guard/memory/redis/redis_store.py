"""``RedisStore``: insights in a Redis vector index (RediSearch HNSW over hashes).

Works with Redis Stack ≥ 7.2, Redis 8 with the query engine, and managed Redis with search.
Every search filters by tenant *inside* the KNN query, ``(@tenant:{…})=>[KNN k @vec $v]``.

Keys: ``{prefix}:{layout id}:s{schema}:i:{{tenant tag}}:{insight id}`` (the hash tag keeps a
tenant's keys in one cluster slot); the index is ``{prefix}:{layout id}:s{schema}:idx``. The
tenant tag is a hash of the tenant name, so tenant names never need query escaping. A write of
several insights is all or nothing, even if its process is killed: it is staged under
``…:stage:{txid}:…`` and committed by one key ``…:txn:{txid}`` (see ``staged_write``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from echosafe_guard.exceptions import (
    ConfigError,
    KeyLayoutMismatchError,
    StoreCorruptError,
    StoreError,
    StoreUnavailableError,
)
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.base import (
    ReindexResult,
    StoreCapabilities,
    Vector,
    check_insights,
    check_query,
)
from echosafe_guard.memory.insight import Insight, ScoredInsight, SearchFilter
from echosafe_guard.memory.redis.errors import map_errors
from echosafe_guard.memory.redis.redis_clients import RedisClients
from echosafe_guard.memory.redis.redis_index import RedisIndex
from echosafe_guard.memory.redis.redis_schema import (
    REDIS_SCHEMA_VERSION,
    RedisIndexSettings,
    decode_doc,
    encode_doc,
    tenant_tag,
)
from echosafe_guard.memory.redis.staged_write import TxnKeys, recover, write_all_or_nothing
from echosafe_guard.memory.redis.write_buffer import WriteBuffer
from echosafe_guard.memory.store_base import StoreBase

__all__ = ["REDIS_SCHEMA_VERSION", "RedisIndexSettings", "RedisStore"]

WRITE_BATCH = 256
"""Documents per pipeline round trip on writes (bulk loads: ``memory import``, seeding); a
write of several documents is all or nothing (``staged_write``)."""

log = logging.getLogger("echosafe_guard.redis")
_URL_OPTIONS = ("prefix", "vector_type", "m", "ef_construction", "ef_runtime", "durable")


class RedisStore(StoreBase):
    """An :class:`~echosafe_guard.memory.base.InsightStore` on Redis.

    Pass ``url`` (the store creates, owns and closes its clients) or ready clients (``client``,
    ``async_client``: never closed here). Writes that fail because Redis is unreachable are kept
    in a bounded buffer and retried before later operations and on :meth:`flush`/:meth:`close`;
    what overflows is counted in ``dropped_writes`` and logged. ``asearch`` uses redis.asyncio;
    ``reindex`` rebuilds the RediSearch index.
    """

    kind = "redis"
    capabilities = StoreCapabilities(native_async=True, reindex=True)

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        async_client: Any = None,
        prefix: str = "echosafe",
        index: RedisIndexSettings | None = None,
        socket_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        max_connections: int = 32,
        durable: bool = False,
        buffer_size: int = 10_000,
        retry_interval: float = 1.0,
    ) -> None:
        self._clients = RedisClients(
            url,
            client=client,
            async_client=async_client,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )
        self.prefix = prefix
        self.settings = index or RedisIndexSettings()
        self.durable = durable
        self._lock = threading.RLock()
        self._layout: KeyLayout | None = None
        self._index_ready = False
        self._idx: RedisIndex | None = None
        self._buffer = WriteBuffer(buffer_size, retry_interval)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store from a URL whose query may carry ``prefix``, ``vector_type``, ``m``,
        ``ef_construction``, ``ef_runtime`` and ``durable`` (other parameters go to redis-py)."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in query if k in _URL_OPTIONS}
        rest = urlencode([(k, v) for k, v in query if k not in _URL_OPTIONS])
        index = {
            k: ours.pop(k)
            for k in ("vector_type", "m", "ef_construction", "ef_runtime")
            if k in ours
        }
        try:
            settings = RedisIndexSettings.model_validate(index)
        except ValueError as exc:
            raise ConfigError(f"Redis store URL: {exc}") from exc
        durable = ours.pop("durable", "0").lower() in ("1", "true", "yes", "on")
        return cls(
            urlunsplit(parts._replace(query=rest)),
            prefix=ours.pop("prefix", "echosafe") or "echosafe",
            index=settings,
            durable=durable,
        )

    # -- connections -----------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self._clients.location

    @property
    def client(self) -> Any:
        """The sync client (created on first use from the URL)."""
        return self._clients.sync

    @property
    def async_client(self) -> Any | None:
        """The async client for the running event loop, or ``None``."""
        return self._clients.async_

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return map_errors(what, self.location)

    def _base(self) -> str:
        assert self._layout is not None
        return f"{self.prefix}:{self._layout.id}:s{REDIS_SCHEMA_VERSION}"

    @property
    def index_name(self) -> str:
        return f"{self._base()}:idx"

    def _key(self, tenant: str, insight_id: str) -> str:
        return TxnKeys(self._base()).final(self._suffix(tenant, insight_id))

    # -- layout and index --------------------------------------------------------------------

    def _layout_key(self) -> str:
        return f"{self.prefix}:layout"

    def layout(self) -> KeyLayout | None:
        if self._layout is None:
            with self._errors("layout lookup"):
                raw = self.client.get(self._layout_key())
            if raw is not None:
                try:
                    self._layout = KeyLayout.model_validate_json(raw)
                except ValueError as exc:
                    raise StoreCorruptError(
                        f"{self._layout_key()}: bad layout record: {exc}"
                    ) from exc
        return self._layout

    def bind(self, layout: KeyLayout) -> None:
        with self._errors("bind"):
            self.client.set(self._layout_key(), layout.model_dump_json(), nx=True)
        self._layout = None
        current = self.layout()
        if current is None or current.id != layout.id:
            raise KeyLayoutMismatchError(
                f"Redis store {self.location} (prefix {self.prefix!r}) was built with key layout "
                f"{current.describe() if current else '?'}, not {layout.describe()}; use the same "
                "embedders, or another prefix"
            )
        self._ensure_index()

    def _need_layout(self) -> KeyLayout:
        layout = self.layout()
        if layout is None:
            raise StoreError("bind the store to a key layout before writing (store.bind(layout))")
        return layout

    def _index(self) -> RedisIndex:
        if self._idx is None:
            layout = self._need_layout()
            self._idx = RedisIndex(self.index_name, f"{self._base()}:i:", layout.dim, self.settings)
        return self._idx

    def _ensure_index(self) -> None:
        if not self._index_ready:
            with self._errors("index creation"):
                self._index().ensure(self.client)
                self._recover()
            self._index_ready = True

    def reindex(self) -> ReindexResult:
        """Rebuild the index with this store's schema, keeping (and converting) the documents."""
        with self._errors("reindex"):
            converted = self._index().rebuild(self.client)
        self._index_ready = True
        return ReindexResult(index=self.index_name, converted_vectors=converted)

    # -- writes ------------------------------------------------------------------------------

    def _suffix(self, tenant: str, insight_id: str) -> str:
        return f"{{{tenant_tag(tenant)}}}:{insight_id}"

    def _recover(self) -> None:
        """Finish or undo writes of several insights left unfinished by a killed writer."""
        report = recover(self.client, self._base(), WRITE_BATCH)
        if report.rolled_forward or report.rolled_back:
            log.warning("%s: %s", self.location, report)

    def _write(self, insights: Sequence[Insight]) -> None:
        """One insight: one ``HSET``. Several: all or nothing (``staged_write``), pipelined in
        batches of :data:`WRITE_BATCH` documents (one round trip each), so a bulk load of any
        size neither builds one giant pipeline nor waits on one reply longer than the socket
        timeout allows; a duplicate id in the batch: the last one wins."""
        docs = {self._suffix(ins.tenant, ins.id): ins for ins in insights}
        if len(docs) == 1:
            (ins,) = docs.values()
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(self._key(ins.tenant, ins.id), mapping=encode_doc(ins, self.settings))
            pipe.sadd(f"{self._base()}:tenants", ins.tenant)
            pipe.execute()
        else:
            self._recover()  # an earlier write of ours or a killed writer's comes first
            write_all_or_nothing(
                self.client,
                self._base(),
                docs,
                [ins.tenant for ins in docs.values()],
                lambda ins: encode_doc(ins, self.settings),
                WRITE_BATCH,
            )
        if self.durable:
            local, _ = self.client.execute_command("WAITAOF", 1, 0, 5000)
            if int(local) < 1:
                raise StoreError("WAITAOF: the write was not fsync'd to the local AOF in 5 s")

    def _flush_buffer(self, *, force: bool = False) -> None:
        with self._errors("flush"):
            self._buffer.drain(self._write, force=force)

    @property
    def pending_writes(self) -> int:
        return len(self._buffer)

    @property
    def dropped_writes(self) -> int:
        return self._buffer.dropped

    def flush(self) -> None:
        """Write buffered insights now; raises ``StoreUnavailableError`` if Redis is down."""
        with self._lock:
            self._flush_buffer(force=True)

    def upsert(self, insights: Sequence[Insight]) -> None:
        """Write now, or (Redis unreachable) keep the insights in the write buffer."""
        if not insights:
            return
        check_insights(insights, self.layout())
        with self._lock:
            try:
                with self._errors("upsert"):
                    self._ensure_index()
                    self._flush_buffer()
                    self._write(insights)
            except StoreUnavailableError as exc:
                self._buffer.add(insights, exc.__cause__ or exc)

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        if not ids or self.layout() is None:
            return 0
        with self._errors("delete"):
            return int(self.client.delete(*[self._key(tenant, i) for i in dict.fromkeys(ids)]))

    # -- reads -------------------------------------------------------------------------------

    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None:
        if self.layout() is None:
            return None
        with self._errors("get"):
            data = self.client.hgetall(self._key(tenant, insight_id))
        return decode_doc(data, self.settings, with_vector=with_vector) if data else None

    def _query(
        self, vector: Vector, tenant: str, k: int, filters: SearchFilter, share: float
    ) -> tuple[Any, dict[str, Any]]:
        layout = self._need_layout()
        check_query(vector, layout)
        return self._index().query(vector, tenant, k, filters, share=share)

    def _search(
        self, vector: Vector, tenant: str, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]:
        if self.layout() is None or k <= 0 or _empty(filters):
            return []
        with self._lock:
            self._flush_buffer()
        with self._errors("search"):
            self._ensure_index()
            share = self._index().tenant_share(self.client, tenant)
            q, params = self._query(vector, tenant, k, filters, share)
            res = self.client.ft(self.index_name).search(q, query_params=params)
        return RedisIndex.hits(res, min_score, filters)

    def count(self, tenant: str) -> int:
        if self.layout() is None:
            return 0
        with self._errors("count"):
            self._ensure_index()
            return self._index().count(self.client, tenant)

    def tenants(self) -> list[str]:
        if self.layout() is None:
            return []
        with self._errors("tenants"):
            members = self.client.smembers(f"{self._base()}:tenants")
        return sorted(t.decode() if isinstance(t, bytes) else t for t in members)

    def _iter_tenant(self, tenant: str, with_vector: bool) -> Iterator[Insight]:
        if self.layout() is None:
            return
        pattern = f"{self._base()}:i:{{{tenant_tag(tenant)}}}:*"
        with self._errors("scan"):
            for key in self.client.scan_iter(match=pattern, count=1000):
                data = self.client.hgetall(key)
                if data:
                    yield decode_doc(data, self.settings, with_vector=with_vector)

    def _probe(self) -> str:
        with self._errors("health check"):
            self.client.ping()
            lay = self.layout()
            if lay is not None:
                self._ensure_index()
        return (
            f"{lay.describe() if lay else 'no layout yet'}; "
            f"pending writes {self.pending_writes}, dropped {self.dropped_writes}"
        )

    def close(self) -> None:
        """Write what is buffered (what cannot be written is logged and counted as dropped),
        then close the clients the store created itself."""
        with self._lock:
            if self._buffer:
                try:
                    self._flush_buffer(force=True)
                except StoreError as exc:
                    log.error("closing %s: %s", self.location, exc)
                    self._buffer.discard()
            self._clients.close()

    # -- async: search on redis.asyncio, the rest on a worker thread (StoreBase) ----------------

    async def _asearch(
        self, vector: Vector, tenant: str, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]:
        aclient = self.async_client
        if k <= 0 or _empty(filters):
            return []
        if aclient is None or self._layout is None or not self._index_ready or self._buffer:
            return await super()._asearch(vector, tenant, k, min_score, filters)
        with self._errors("search"):
            share = await self._index().atenant_share(aclient, tenant)
            q, params = self._query(vector, tenant, k, filters, share)
            res = await aclient.ft(self.index_name).search(q, query_params=params)
        return RedisIndex.hits(res, min_score, filters)

    async def aclose(self) -> None:
        await super().aclose()
        await self._clients.aclose()


def _empty(f: SearchFilter) -> bool:
    """A filter with an empty set matches nothing."""
    return f.categories == frozenset() or f.verdicts == frozenset() or not f.statuses
