"""The InsightStore contract suite against ``RedisStore`` on a real Redis with RediSearch."""

from __future__ import annotations

import uuid

import pytest

from echosafe_guard.memory.redis.redis_store import RedisStore
from tests.store_contract import *  # noqa: F403 - the shared contract tests and fixtures
from tests.store_contract import StoreFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def store_factory(redis_url: str) -> StoreFactory:
    prefix = f"t{uuid.uuid4().hex[:12]}"  # one namespace per test, shared by its store objects
    return lambda tmp: RedisStore(redis_url, prefix=prefix)
