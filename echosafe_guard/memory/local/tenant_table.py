"""One tenant's insights in memory: records without vectors, a vector index, filter columns."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from echosafe_guard.memory.insight import Insight, ScoredInsight, SearchFilter
from echosafe_guard.memory.local.vector_index import AnnSettings, VectorIndex

__all__ = ["TenantTable"]


class _Codes:
    """A growing int column with interned string values, for filter masks."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.col = np.zeros(64, dtype=np.int32)

    def set(self, row: int, value: str) -> None:
        if row >= len(self.col):
            grown = np.zeros(max(row + 1, 2 * len(self.col)), dtype=np.int32)
            grown[: len(self.col)] = self.col
            self.col = grown
        self.col[row] = self.values.setdefault(value, len(self.values))

    def mask(self, allowed: frozenset[str], n: int) -> npt.NDArray[np.bool_]:
        codes = [self.values[v] for v in allowed if v in self.values]
        return np.isin(self.col[:n], np.asarray(codes, dtype=np.int32))


class TenantTable:
    """Thread-safe. ``put`` replaces an insight with the same id (its old row is removed)."""

    def __init__(self, tenant: str, dim: int | None, ann: AnnSettings) -> None:
        self.tenant = tenant
        self._ann = ann
        self._index: VectorIndex | None = VectorIndex(dim, ann) if dim else None
        self._lock = threading.RLock()
        self._rows: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._records: dict[str, Insight] = {}
        self._cols = {"category": _Codes(), "verdict": _Codes(), "status": _Codes()}

    def __len__(self) -> int:
        return len(self._records)

    @property
    def index(self) -> VectorIndex | None:
        return self._index

    def put(self, insight: Insight, vector: npt.NDArray[np.float32]) -> None:
        if insight.tenant != self.tenant:
            raise ValueError(f"insight of tenant {insight.tenant!r} put into {self.tenant!r}")
        with self._lock:
            if self._index is None:
                self._index = VectorIndex(len(vector), self._ann)
            row = self._rows.get(insight.id)
            if row is None or not np.array_equal(self._index.vector(row), vector):
                # A new vector takes a new row; a record update with the same vector (hit
                # counts, status, support) keeps its row, so the index does not grow.
                self.delete(insight.id)
                row = self._index.add(vector[None, :]).start
                self._ids.append(insight.id)
                self._rows[insight.id] = row
            self._records[insight.id] = insight.without_vector()
            self._cols["category"].set(row, insight.category)
            self._cols["verdict"].set(row, insight.verdict.value)
            self._cols["status"].set(row, insight.status.value)

    def delete(self, insight_id: str) -> bool:
        with self._lock:
            row = self._rows.pop(insight_id, None)
            if row is None:
                return False
            assert self._index is not None
            self._index.remove(row)
            self._ids[row] = None
            del self._records[insight_id]
            return True

    def get(self, insight_id: str, *, with_vector: bool = False) -> Insight | None:
        with self._lock:
            ins = self._records.get(insight_id)
            if ins is None or not with_vector:
                return ins
            assert self._index is not None
            vec = self._index.vector(self._rows[insight_id])
            return ins.model_copy(update={"vector": tuple(float(x) for x in vec)})

    def iter(self, *, with_vector: bool = False) -> Iterator[Insight]:
        with self._lock:
            ids = list(self._records)
        for i in ids:
            got = self.get(i, with_vector=with_vector)
            if got is not None:
                yield got

    def _mask(self, filters: SearchFilter, n: int) -> npt.NDArray[np.bool_] | None:
        mask: npt.NDArray[np.bool_] | None = None
        wanted = {
            "category": filters.categories,
            "verdict": (
                frozenset(v.value for v in filters.verdicts)
                if filters.verdicts is not None
                else None
            ),
            "status": frozenset(s.value for s in filters.statuses),
        }
        for name, allowed in wanted.items():
            if allowed is None:
                continue
            col = self._cols[name]
            if name == "status" and set(col.values) <= allowed:
                continue  # every row passes: skip the mask (the common case)
            m = col.mask(allowed, n)
            mask = m if mask is None else mask & m
        return mask

    def search(
        self, vector: npt.NDArray[np.float32], *, k: int, min_score: float, filters: SearchFilter
    ) -> list[ScoredInsight]:
        with self._lock:
            if self._index is None or not self._records:
                return []
            mask = self._mask(filters, self._index.rows)
            rows, scores = self._index.search(vector, k, mask=mask, min_score=min_score)
            out = []
            for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
                iid = self._ids[row]
                if iid is not None:
                    out.append(ScoredInsight(insight=self._records[iid], score=float(score)))
            return out
