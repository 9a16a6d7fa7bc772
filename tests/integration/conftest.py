from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, external_url, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis with the query engine: ``REDIS_URL`` if set, else our own server on loopback."""
    url = external_url()
    if url:
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"), free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server this test may kill and restart (durability, fail-open)."""
    server = RedisServer(tmp_path / "redis", free_port(), fsync="always").start()
    try:
        yield server
    finally:
        server.stop()
