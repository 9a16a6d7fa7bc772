"""``RedisStore``: insights in a Redis vector index (RediSearch HNSW over hashes).

Works with Redis Stack ≥ 7.2, Redis 8 with the query engine, and managed Redis with search.
Every search filters by tenant *inside* the KNN query, ``(@tenant:{…})=>[KNN k @vec $v]``.

Keys: ``{prefix}:{layout id}:s{schema}:i:{{tenant tag}}:{insight id}`` (the hash tag keeps a
tenant's keys in one cluster slot); the index is ``{prefix}:{layout id}:s{schema}:idx``. The
tenant tag is a hash of the tenant name, so tenant names never need query escaping.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
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
from echosafe_guard.memory.base import Vector, check_insights, check_query, count_stats
from echosafe_guard.memory.insight import (
    Insight,
    ScoredInsight,
    SearchFilter,
    StoreHealth,
    StoreStats,
)
from echosafe_guard.memory.redis_index import RedisIndex
from echosafe_guard.memory.redis_schema import (
    REDIS_SCHEMA_VERSION,
    RedisIndexSettings,
    decode_doc,
    encode_doc,
    tenant_tag,
)
from echosafe_guard.memory.write_buffer import WriteBuffer

__all__ = ["REDIS_SCHEMA_VERSION", "RedisIndexSettings", "RedisStore"]

log = logging.getLogger("echosafe_guard.redis")
_URL_OPTIONS = ("prefix", "vector_type", "m", "ef_construction", "ef_runtime", "durable")


def _redis() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - redis is a dependency
        raise ConfigError("the Redis store needs the 'redis' package") from exc
    return redis


class RedisStore:
    """An :class:`~echosafe_guard.memory.base.InsightStore` on Redis.

    Pass ``url`` (the store creates, owns and closes its clients) or ready clients (``client``,
    ``async_client``: never closed here). Writes that fail because Redis is unreachable are kept
    in a bounded buffer and retried before later operations and on :meth:`flush`/:meth:`close`;
    what overflows is counted in ``dropped_writes`` and logged.
    """

    kind = "redis"
    native_async = True
    """``asearch`` uses redis.asyncio: the guard awaits it instead of using a worker thread."""

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
        if url is None and client is None and async_client is None:
            raise ConfigError("RedisStore needs a url or a client")
        self._url = url
        self._client = client
        self._aclient = async_client
        self._owns = client is None and url is not None
        self._owns_async = async_client is None and url is not None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        self.prefix = prefix
        self.settings = index or RedisIndexSettings()
        self._timeouts = (socket_timeout, connect_timeout, max_connections)
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
        if self._url:
            redis = _redis()
            try:
                kw = redis.connection.parse_url(self._url)
                host = kw.get("host", kw.get("path", "?"))
                return f"redis://{host}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
            except (ValueError, TypeError):
                return "redis://<unparsable url>"
        return "redis://<client>"

    def _kwargs(self) -> dict[str, Any]:
        sock, conn, maxc = self._timeouts
        return {"socket_timeout": sock, "socket_connect_timeout": conn, "max_connections": maxc}

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self._url is None:
                        raise ConfigError("this RedisStore has only an async client")
                    try:
                        self._client = _redis().Redis.from_url(self._url, **self._kwargs())
                    except ValueError as exc:
                        raise ConfigError(f"invalid Redis URL: {exc}") from exc
        return self._client

    @property
    def async_client(self) -> Any | None:
        """The async client; one we own is re-created when used from another event loop."""
        if self._url is None or not self._owns_async:
            return self._aclient
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aclient is None or self._aclient_loop is not loop:
                from redis import asyncio as aioredis

                self._aclient = aioredis.Redis.from_url(self._url, **self._kwargs())
                self._aclient_loop = loop
        return self._aclient

    def _wrap(self, exc: Exception, what: str) -> StoreError:
        redis = _redis()
        if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return StoreUnavailableError(
                f"Redis at {self.location} unreachable during {what}: {exc}"
            )
        if isinstance(exc, StoreError):
            return exc
        return StoreError(f"Redis error during {what}: {exc}")

    def _base(self) -> str:
        assert self._layout is not None
        return f"{self.prefix}:{self._layout.id}:s{REDIS_SCHEMA_VERSION}"

    @property
    def index_name(self) -> str:
        return f"{self._base()}:idx"

    def _key(self, tenant: str, insight_id: str) -> str:
        return f"{self._base()}:i:{{{tenant_tag(tenant)}}}:{insight_id}"

    # -- layout and index --------------------------------------------------------------------

    def _layout_key(self) -> str:
        return f"{self.prefix}:layout"

    def layout(self) -> KeyLayout | None:
        if self._layout is None:
            try:
                raw = self.client.get(self._layout_key())
            except Exception as exc:
                raise self._wrap(exc, "layout lookup") from exc
            if raw is not None:
                try:
                    self._layout = KeyLayout.model_validate_json(raw)
                except ValueError as exc:
                    raise StoreCorruptError(
                        f"{self._layout_key()}: bad layout record: {exc}"
                    ) from exc
        return self._layout

    def bind(self, layout: KeyLayout) -> None:
        try:
            self.client.set(self._layout_key(), layout.model_dump_json(), nx=True)
        except Exception as exc:
            raise self._wrap(exc, "bind") from exc
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
            try:
                self._index().ensure(self.client)
            except StoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc, "index creation") from exc
            self._index_ready = True

    def reindex(self) -> int:
        """Rebuild the index with this store's schema, keeping (and converting) the documents.
        Returns how many stored vectors were converted to the new vector type."""
        try:
            converted = self._index().rebuild(self.client)
        except StoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "reindex") from exc
        self._index_ready = True
        return converted

    # -- writes ------------------------------------------------------------------------------

    def _write(self, insights: Sequence[Insight]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for ins in insights:
            pipe.hset(self._key(ins.tenant, ins.id), mapping=encode_doc(ins, self.settings))
            pipe.sadd(f"{self._base()}:tenants", ins.tenant)
        pipe.execute()
        if self.durable:
            local, _ = self.client.execute_command("WAITAOF", 1, 0, 5000)
            if int(local) < 1:
                raise StoreError("WAITAOF: the write was not fsync'd to the local AOF in 5 s")

    def _flush_buffer(self, *, force: bool = False) -> None:
        try:
            self._buffer.drain(self._write, force=force)
        except Exception as exc:
            raise self._wrap(exc, "flush") from exc

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
        if not insights:
            return
        check_insights(insights, self.layout())
        redis = _redis()
        with self._lock:
            try:
                self._ensure_index()
                self._flush_buffer()
                self._write(insights)
            except (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                StoreUnavailableError,
            ) as exc:
                self._buffer.add(insights, exc)
            except StoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc, "upsert") from exc

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        if not ids or self.layout() is None:
            return 0
        try:
            return int(self.client.delete(*[self._key(tenant, i) for i in dict.fromkeys(ids)]))
        except Exception as exc:
            raise self._wrap(exc, "delete") from exc

    # -- reads -------------------------------------------------------------------------------

    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None:
        if self.layout() is None:
            return None
        try:
            data = self.client.hgetall(self._key(tenant, insight_id))
        except Exception as exc:
            raise self._wrap(exc, "get") from exc
        return decode_doc(data, self.settings, with_vector=with_vector) if data else None

    def _query(
        self, vector: Vector, tenant: str, k: int, filters: SearchFilter, share: float
    ) -> tuple[Any, dict[str, Any]]:
        layout = self._need_layout()
        check_query(vector, layout)
        return self._index().query(vector, tenant, k, filters, share=share)

    def search(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        f = filters or SearchFilter()
        if self.layout() is None or k <= 0 or _empty(f):
            return []
        with self._lock:
            self._flush_buffer()
        try:
            self._ensure_index()
            share = self._index().tenant_share(self.client, tenant)
            q, params = self._query(vector, tenant, k, f, share)
            res = self.client.ft(self.index_name).search(q, query_params=params)
        except StoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "search") from exc
        return RedisIndex.hits(res, min_score, f)

    def count(self, tenant: str) -> int:
        if self.layout() is None:
            return 0
        try:
            self._ensure_index()
            return self._index().count(self.client, tenant)
        except StoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "count") from exc

    def tenants(self) -> list[str]:
        if self.layout() is None:
            return []
        try:
            return sorted(
                t.decode() if isinstance(t, bytes) else t
                for t in self.client.smembers(f"{self._base()}:tenants")
            )
        except Exception as exc:
            raise self._wrap(exc, "tenants") from exc

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        if self.layout() is None:
            return
        for t in [tenant] if tenant is not None else self.tenants():
            pattern = f"{self._base()}:i:{{{tenant_tag(t)}}}:*"
            try:
                for key in self.client.scan_iter(match=pattern, count=1000):
                    data = self.client.hgetall(key)
                    if data:
                        yield decode_doc(data, self.settings, with_vector=with_vector)
            except StoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc, "scan") from exc

    def stats(self) -> StoreStats:
        return count_stats(
            self.iter_insights(), kind=self.kind, location=self.location, layout=self.layout()
        )

    def health(self) -> StoreHealth:
        try:
            self.client.ping()
            lay = self.layout()
            detail = (
                f"{lay.describe() if lay else 'no layout yet'}; "
                f"pending writes {self.pending_writes}, dropped {self.dropped_writes}"
            )
            ok = True
            if lay is not None:
                self._ensure_index()
        except Exception as exc:
            return StoreHealth(
                ok=False,
                kind=self.kind,
                location=self.location,
                detail=str(self._wrap(exc, "health check")),
            )
        return StoreHealth(ok=ok, kind=self.kind, location=self.location, detail=detail)

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
            if self._owns and self._client is not None:
                self._client.close()
                self._client = None

    # -- async twins ---------------------------------------------------------------------------

    async def asearch(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        aclient = self.async_client
        f = filters or SearchFilter()
        if k <= 0 or _empty(f):
            return []
        if aclient is None or self._layout is None or not self._index_ready or self._buffer:
            return await asyncio.to_thread(
                self.search, vector, tenant=tenant, k=k, min_score=min_score, filters=filters
            )
        try:
            share = await self._index().atenant_share(aclient, tenant)
            q, params = self._query(vector, tenant, k, f, share)
            res = await aclient.ft(self.index_name).search(q, query_params=params)
        except StoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "search") from exc
        return RedisIndex.hits(res, min_score, f)

    async def aupsert(self, insights: Sequence[Insight]) -> None:
        await asyncio.to_thread(self.upsert, insights)

    async def aget(
        self, tenant: str, insight_id: str, *, with_vector: bool = False
    ) -> Insight | None:
        return await asyncio.to_thread(self.get, tenant, insight_id, with_vector=with_vector)

    async def adelete(self, tenant: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.delete, tenant, ids)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
        if self._owns_async and self._aclient is not None:
            if self._aclient_loop is asyncio.get_running_loop():
                await self._aclient.aclose()
            self._aclient = None


def _empty(f: SearchFilter) -> bool:
    """A filter with an empty set matches nothing."""
    return f.categories == frozenset() or f.verdicts == frozenset() or not f.statuses
