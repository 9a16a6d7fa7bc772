"""``StoreBase``: what every :class:`~echosafe_guard.memory.base.InsightStore` implementation
shares, so a backend writes only its own storage.

A backend subclasses it and provides the blocking operations plus three hooks:

* ``_search(vector, tenant, k, min_score, filters)``: ``search`` with the filter resolved;
* ``_iter_tenant(tenant, with_vector)``: one tenant's insights (``iter_insights`` loops over
  tenants);
* ``_probe()``: a cheap read for ``health``, returning a one-line detail or raising a
  :class:`~echosafe_guard.exceptions.StoreError`.

The async twins run the blocking operations on a worker thread; a backend with a native async
client overrides ``_asearch`` (and declares ``capabilities.native_async``).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

from echosafe_guard.exceptions import StoreCapabilityError, StoreError
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.base import ReindexResult, StoreCapabilities, Vector, count_stats
from echosafe_guard.memory.insight import (
    Insight,
    ScoredInsight,
    SearchFilter,
    StoreHealth,
    StoreStats,
)

__all__ = ["StoreBase"]


class StoreBase(ABC):
    """The shared half of a store: async twins, ``stats``, ``health``, the tenant loop."""

    kind: ClassVar[str]
    """Short backend name, reported by ``stats`` and ``health``."""
    capabilities: ClassVar[StoreCapabilities]

    # -- what a backend provides -------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str: ...

    @abstractmethod
    def layout(self) -> KeyLayout | None: ...

    @abstractmethod
    def upsert(self, insights: Sequence[Insight]) -> None: ...

    @abstractmethod
    def get(self, tenant: str, insight_id: str, *, with_vector: bool = False) -> Insight | None: ...

    @abstractmethod
    def delete(self, tenant: str, ids: Sequence[str]) -> int: ...

    @abstractmethod
    def tenants(self) -> list[str]: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _search(
        self, vector: Vector, tenant: str, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]: ...

    @abstractmethod
    def _iter_tenant(self, tenant: str, with_vector: bool) -> Iterator[Insight]: ...

    @abstractmethod
    def _probe(self) -> str: ...

    # -- shared blocking operations ----------------------------------------------------------

    def search(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        return self._search(vector, tenant, k, min_score, filters or SearchFilter())

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        for t in [tenant] if tenant is not None else self.tenants():
            yield from self._iter_tenant(t, with_vector)

    def stats(self) -> StoreStats:
        return count_stats(
            self.iter_insights(), kind=self.kind, location=self.location, layout=self.layout()
        )

    def health(self) -> StoreHealth:
        """Never raises: a store error becomes ``ok=False`` with the error as the detail."""
        try:
            detail = self._probe()
        except StoreError as exc:
            return StoreHealth(ok=False, kind=self.kind, location=self.location, detail=str(exc))
        return StoreHealth(ok=True, kind=self.kind, location=self.location, detail=detail)

    def reindex(self) -> ReindexResult:
        """A store without a persistent index has nothing to rebuild (``capabilities.reindex``
        is false): raises :class:`~echosafe_guard.exceptions.StoreCapabilityError`."""
        raise StoreCapabilityError(
            f"the {self.kind} store at {self.location} keeps no persistent index to rebuild"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async twins: the blocking operations on a worker thread -----------------------------

    async def aupsert(self, insights: Sequence[Insight]) -> None:
        await asyncio.to_thread(self.upsert, insights)

    async def aget(
        self, tenant: str, insight_id: str, *, with_vector: bool = False
    ) -> Insight | None:
        return await asyncio.to_thread(self.get, tenant, insight_id, with_vector=with_vector)

    async def adelete(self, tenant: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.delete, tenant, ids)

    async def asearch(
        self,
        vector: Vector,
        *,
        tenant: str,
        k: int,
        min_score: float = -1.0,
        filters: SearchFilter | None = None,
    ) -> list[ScoredInsight]:
        return await self._asearch(vector, tenant, k, min_score, filters or SearchFilter())

    async def _asearch(
        self, vector: Vector, tenant: str, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]:
        return await asyncio.to_thread(
            self.search, vector, tenant=tenant, k=k, min_score=min_score, filters=filters
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
