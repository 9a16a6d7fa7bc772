"""The InsightStore contract suite against ``LocalStore``."""

from __future__ import annotations

import pytest

from echosafe_guard.memory.local.local_store import LocalStore
from tests.store_contract import *  # noqa: F403 - the shared contract tests and fixtures
from tests.store_contract import StoreFactory


@pytest.fixture
def store_factory() -> StoreFactory:
    return lambda tmp: LocalStore(tmp / "store")
