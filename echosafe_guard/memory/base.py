"""The ``InsightStore`` Protocol: what every memory backend (LocalStore, RedisStore) provides.

One contract test suite, ``tests/store_contract.py``, runs against every implementation
(``tests/unit/test_store_contract_local.py``, ``tests/integration/test_store_contract_redis.py``).
Conventions every store follows:

* the constructor does no I/O; the store opens itself on first use, thread-safely;
* the first write records the key layout; opening a store built with another layout raises
  :class:`~echosafe_guard.exceptions.KeyLayoutMismatchError`;
* every operation is scoped to one tenant; a tenant never sees another tenant's insights;
* ``search`` applies filters inside the search and returns at most ``k`` hits with cosine
  similarity ``>= min_score``, best first;
* ``close`` closes only what the store opened itself;
* each blocking method has an ``a``-prefixed coroutine twin;
* optional features are declared in ``capabilities`` (:class:`StoreCapabilities`), never probed
  with ``getattr``; an operation a store does not offer raises
  :class:`~echosafe_guard.exceptions.StoreCapabilityError`.

:class:`~echosafe_guard.memory.store_base.StoreBase` holds what the stores share (the async
twins, ``stats``, ``health``, the per-tenant loop of ``iter_insights``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from echosafe_guard.exceptions import KeyLayoutMismatchError, StoreError
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.insight import (
    Insight,
    ScoredInsight,
    SearchFilter,
    StoreHealth,
    StoreStats,
)

__all__ = [
    "InsightStore",
    "ReindexResult",
    "StoreCapabilities",
    "Vector",
    "check_insights",
    "check_query",
    "count_stats",
]

Vector = npt.NDArray[np.float32]


class StoreCapabilities(BaseModel):
    """What a store offers beyond the common contract, declared by its class."""

    model_config = ConfigDict(frozen=True)

    native_async: bool
    """``asearch`` awaits a native async client; ``False``: it runs ``search`` on a worker
    thread (a caller already on a worker thread may as well call ``search`` itself)."""
    reindex: bool
    """``reindex()`` rebuilds a persistent vector index; ``False``: there is none to rebuild and
    ``reindex()`` raises :class:`~echosafe_guard.exceptions.StoreCapabilityError`."""


class ReindexResult(BaseModel):
    """What ``reindex()`` did."""

    model_config = ConfigDict(frozen=True)

    index: str
    """The rebuilt index's name."""
    converted_vectors: int
    """How many stored vectors were converted to the index's vector type."""


@runtime_checkable
class InsightStore(Protocol):
    """A tenant-scoped vector memory of safety insights."""

    @property
    def capabilities(self) -> StoreCapabilities:
        """The optional features this store offers."""
        ...

    @property
    def location(self) -> str:
        """Where the store lives (a path or a URL without credentials)."""
        ...

    def layout(self) -> KeyLayout | None:
        """The key layout the store was built with, or ``None`` for a store never written to."""
        ...

    def bind(self, layout: KeyLayout) -> None:
        """Record ``layout`` in a new store; raise ``KeyLayoutMismatchError`` for another one."""
        ...

    def upsert(self, insights: Sequence[Insight]) -> None:
        """Insert or replace insights by ``(tenant, id)``. Every insight must carry its vector."""
        ...

    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None: ...

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        """Delete by id; returns how many existed."""
        ...

    def search(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]: ...

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        """Every insight of one tenant, or of all tenants when ``tenant`` is ``None``."""
        ...

    def tenants(self) -> list[str]: ...

    def count(self, tenant: str) -> int:
        """How many insights the tenant holds (cheap: no record is read)."""
        ...

    def stats(self) -> StoreStats: ...

    def health(self) -> StoreHealth:
        """Never raises: reports whether the store can be opened and read."""
        ...

    def reindex(self) -> ReindexResult:
        """Rebuild the store's persistent vector index with this version's schema, keeping the
        data. Raises ``StoreCapabilityError`` unless ``capabilities.reindex``."""
        ...

    def close(self) -> None: ...

    async def aupsert(self, insights: Sequence[Insight]) -> None: ...

    async def aget(
        self, tenant: str, insight_id: str, *, with_vector: bool = False
    ) -> Insight | None: ...

    async def adelete(self, tenant: str, ids: Sequence[str]) -> int: ...

    async def asearch(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]: ...

    async def aclose(self) -> None: ...


def check_insights(insights: Iterable[Insight], layout: KeyLayout | None) -> None:
    """What every store checks before a write: a bound layout, the same layout id, a vector."""
    if layout is None:
        raise StoreError("bind the store to a key layout before writing (store.bind(layout))")
    for ins in insights:
        if ins.layout != layout.id:
            raise KeyLayoutMismatchError(
                f"insight {ins.id!r} has key layout {ins.layout!r}, the store {layout.id!r}"
            )
        if ins.vector is None or len(ins.vector) != layout.dim:
            raise StoreError(f"insight {ins.id!r} needs a {layout.dim}-d vector")


def check_query(vector: Vector, layout: KeyLayout) -> None:
    if np.shape(vector) != (layout.dim,):
        raise KeyLayoutMismatchError(
            f"query vector has shape {np.shape(vector)}, the store's layout {layout.dim}-d"
        )


def count_stats(
    insights: Iterable[Insight], *, kind: str, location: str, layout: KeyLayout | None
) -> StoreStats:
    """Counts by tenant, verdict, category and status."""
    t: Counter[str] = Counter()
    v: Counter[str] = Counter()
    c: Counter[str] = Counter()
    st: Counter[str] = Counter()
    for ins in insights:
        t[ins.tenant] += 1
        v[ins.verdict.value] += 1
        c[ins.category] += 1
        st[ins.status.value] += 1
    return StoreStats(
        kind=kind,
        location=location,
        layout=layout.id if layout else None,
        total=sum(t.values()),
        by_tenant=dict(t),
        by_verdict=dict(v),
        by_category=dict(c),
        by_status=dict(st),
    )
