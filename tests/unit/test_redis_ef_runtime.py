"""``ef_runtime``: a fixed EF_RUNTIME, or ``auto`` (the default), which follows the index's size."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from echosafe_guard.exceptions import ConfigError
from echosafe_guard.memory.insight import SearchFilter
from echosafe_guard.memory.redis.redis_index import RedisIndex
from echosafe_guard.memory.redis.redis_schema import AUTO_EF_RUNTIME, RedisIndexSettings
from echosafe_guard.memory.redis.redis_store import RedisStore


def test_auto_is_the_default_and_follows_the_index_size() -> None:
    auto = RedisIndexSettings()
    assert auto.ef_runtime == "auto"
    sizes = (0, 100_000, 100_001, 250_000, 250_001, 500_000, 500_001, 5_000_000)
    assert [auto.ef_for(n) for n in sizes] == [50, 50, 100, 100, 200, 200, 400, 400]
    assert auto.ef_for(10, k=80) == 80  # never fewer candidates than neighbours asked for
    assert AUTO_EF_RUNTIME[-1][0] is None  # every size has a row


def test_a_fixed_value_is_kept_at_every_size() -> None:
    fixed = RedisIndexSettings(ef_runtime=120)
    assert fixed.ef_for(0) == fixed.ef_for(5_000_000) == 120
    assert fixed.ef_for(0, k=200) == 200


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), ("400", 400)])
def test_the_store_url_takes_auto_or_a_number(value: str, expected: object) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:1/0?ef_runtime={value}")
    assert store.settings.ef_runtime == expected


@pytest.mark.parametrize("value", ["fast", "0", "-5"])
def test_a_bad_ef_runtime_in_the_url_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="ef_runtime"):
        RedisStore.from_url(f"redis://127.0.0.1:1/0?ef_runtime={value}")


class _Counts:
    """FT.SEARCH counting replies: the tenant's documents, then the whole index's."""

    def __init__(self, mine: int, total: int) -> None:
        self.mine, self.total = mine, total

    def ft(self, name: str) -> Any:
        def search(q: Any) -> SimpleNamespace:
            every = q.query_string() == "*"
            return SimpleNamespace(total=self.total if every else self.mine)

        return SimpleNamespace(search=search)


@pytest.mark.parametrize(("total", "ef"), [(2_000, 50), (250_000, 100), (1_000_000, 400)])
def test_each_query_carries_the_ef_for_the_size_read_with_the_tenant_share(
    total: int, ef: int
) -> None:
    idx = RedisIndex("idx", "p:", 8, RedisIndexSettings())
    share = idx.tenant_share(_Counts(mine=total // 2, total=total), "acme")
    q, _ = idx.query(np.ones(8) / np.sqrt(8), "acme", 3, SearchFilter(), share=share)
    assert f"EF_RUNTIME {ef} HYBRID_POLICY BATCHES" in q.query_string()
