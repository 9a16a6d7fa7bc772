"""The Redis clients of one ``RedisStore``: created from a URL (owned, closed here) or handed in
ready (never closed here)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import redis

from echosafe_guard.exceptions import ConfigError

__all__ = ["RedisClients"]


def _describe(url: str | None) -> str:
    """A URL without credentials, for messages."""
    if not url:
        return "redis://<client>"
    try:
        kw: dict[str, Any] = redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return "redis://<unparsable url>"
    host = kw.get("host", kw.get("path", "?"))
    return f"redis://{host}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


class RedisClients:
    """A sync client and an async one, each created on first use. Does no I/O itself.

    An async client created here belongs to the event loop that first used it and is re-created
    for another loop (redis.asyncio connections cannot cross loops).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        async_client: Any = None,
        socket_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        if url is None and client is None and async_client is None:
            raise ConfigError("RedisStore needs a url or a client")
        self.url = url
        self.location = _describe(url)
        """Where the server is, without credentials."""
        self._client = client
        self._aclient = async_client
        self._owns = client is None and url is not None
        self._owns_async = async_client is None and url is not None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        self._kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "max_connections": max_connections,
        }
        self._lock = threading.Lock()

    @property
    def sync(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.url is None:
                        raise ConfigError("this RedisStore has only an async client")
                    try:
                        self._client = redis.Redis.from_url(self.url, **self._kwargs)
                    except ValueError as exc:
                        raise ConfigError(f"invalid Redis URL: {exc}") from exc
        return self._client

    @property
    def async_(self) -> Any | None:
        """The async client for the running event loop (``None``: the store has none)."""
        if not self._owns_async:
            return self._aclient
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aclient is None or self._aclient_loop is not loop:
                from redis import asyncio as aioredis

                assert self.url is not None
                self._aclient = aioredis.Redis.from_url(self.url, **self._kwargs)
                self._aclient_loop = loop
        return self._aclient

    def close(self) -> None:
        """Close the sync client if it was created here."""
        with self._lock:
            if self._owns and self._client is not None:
                self._client.close()
                self._client = None

    async def aclose(self) -> None:
        """Close the async client if it was created here (on the loop it belongs to)."""
        if self._owns_async and self._aclient is not None:
            if self._aclient_loop is asyncio.get_running_loop():
                await self._aclient.aclose()
            self._aclient = None
