"""In-memory cosine top-k over unit vectors: exact for small sets, HNSW (usearch) for large ones.

The float32 matrix is the truth. Past ``ann_threshold`` live rows an int8 HNSW graph is built
on a background thread (requests keep using exact search until it is ready); its candidates are
re-ranked exactly, so scores are always true cosine similarities. Filters are a row mask applied
inside the search; when too few ANN candidates pass it, the search falls back to exact.

The build adds rows in chunks and stops between two chunks when :meth:`VectorIndex.close` or the
interpreter's shutdown asks: no thread is ever left inside the native library at exit (a daemon
thread there aborted the process: ``terminate called without an active exception``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["AnnSettings", "VectorIndex"]

_BUILD_CHUNK = 512
_SHUTDOWN = threading.Event()
_hook_lock = threading.Lock()
_hooked: list[bool] = []


def _hook_shutdown() -> None:
    """Stop every build at interpreter shutdown, before non-daemon threads are joined."""
    with _hook_lock:
        if not _hooked:
            # The hook concurrent.futures uses: runs before threading joins non-daemon threads
            # (atexit handlers run after that join).
            threading._register_atexit(_SHUTDOWN.set)  # type: ignore[attr-defined]
            _hooked.append(True)


@dataclass(frozen=True)
class AnnSettings:
    ann_threshold: int = 4096
    connectivity: int = 16
    expansion_add: int = 64
    expansion_search: int = 96
    candidates_per_k: int = 5
    min_candidates: int = 50
    dtype: str = "i8"
    threads: int = 1
    """usearch threads for graph insertion (the background build and later adds); 0: all cores.
    One by default: usearch's multi-threaded ``add`` has open reports of threads spinning
    forever on node locks (unum-cloud/USearch#354, #396), a fresh-clone CI run once waited
    600 s on a build here (never reproduced), and a build on every core competes with
    requests. One thread built 20k 1280-d rows in 7.3 s against 5.5 s on two cores."""


class VectorIndex:
    """Rows are ints assigned in insertion order; removed rows are masked, never reused."""

    def __init__(self, dim: int, settings: AnnSettings | None = None) -> None:
        self.dim = dim
        self.settings = settings or AnnSettings()
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        self._n = 0
        self._alive = np.zeros(0, dtype=bool)
        self._n_alive = 0
        self._lock = threading.RLock()
        self._ann: Any = None  # usearch.index.Index once built
        self._building = False
        self._pending_add: list[int] = []
        self._pending_remove: list[int] = []
        self.build_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return self._n_alive

    @property
    def rows(self) -> int:
        return self._n

    @property
    def ann_ready(self) -> bool:
        return self._ann is not None

    def vector(self, row: int) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self._vecs[row].copy()
        return out

    def add(self, vecs: npt.NDArray[np.float32]) -> range:
        vecs = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            need = self._n + len(vecs)
            if need > len(self._vecs):
                cap = max(need, 2 * len(self._vecs), 64)
                grown = np.zeros((cap, self.dim), dtype=np.float32)
                grown[: self._n] = self._vecs[: self._n]
                self._vecs = grown
                alive = np.zeros(cap, dtype=bool)
                alive[: self._n] = self._alive[: self._n]
                self._alive = alive
            rows = range(self._n, need)
            self._vecs[self._n : need] = vecs
            self._alive[self._n : need] = True
            self._n = need
            self._n_alive += len(vecs)
            if self._building:
                self._pending_add.extend(rows)
            elif self._ann is not None:
                self._ann_add(self._ann, np.arange(rows.start, rows.stop))
            return rows

    def remove(self, row: int) -> None:
        with self._lock:
            if row < self._n and self._alive[row]:
                self._alive[row] = False
                self._n_alive -= 1
                if self._building:
                    self._pending_remove.append(row)
                elif self._ann is not None:
                    self._ann.remove(row)

    def _new_ann(self) -> Any:
        from usearch.index import Index

        s = self.settings
        return Index(
            ndim=self.dim,
            metric="ip",
            dtype=s.dtype,
            connectivity=s.connectivity,
            expansion_add=s.expansion_add,
            expansion_search=s.expansion_search,
        )

    def _ann_add(self, ann: Any, rows: npt.NDArray[np.int64]) -> None:
        if len(rows):
            ann.add(rows.astype(np.uint64), self._vecs[rows], threads=self.settings.threads)

    def _build(self) -> None:
        with self._lock:
            # The copy and the pending lists start together: a row is either in the copy or
            # pending, never both.
            rows = np.flatnonzero(self._alive[: self._n])
            vecs = self._vecs[rows].copy()
            self._pending_add.clear()
            self._pending_remove.clear()
        try:
            ann = self._new_ann()
            for start in range(0, len(rows), _BUILD_CHUNK):
                if self._stop.is_set() or _SHUTDOWN.is_set():
                    with self._lock:
                        self._building = False
                    return
                end = start + _BUILD_CHUNK
                ann.add(
                    rows[start:end].astype(np.uint64),
                    vecs[start:end],
                    threads=self.settings.threads,
                )
        except Exception as exc:  # no graph: exact search goes on serving every query
            with self._lock:
                self._building = False
                self.build_error = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._ann_add(ann, np.asarray(self._pending_add, dtype=np.int64))
            for row in self._pending_remove:
                if row in ann:
                    ann.remove(row)
            self._pending_add.clear()
            self._pending_remove.clear()
            self._ann = ann
            self._building = False

    def build_ann(self, *, background: bool = True) -> None:
        """Build the HNSW graph now (normally triggered by size on search)."""
        with self._lock:
            if self._ann is not None or self._building or self._stop.is_set() or _SHUTDOWN.is_set():
                return
            self._building = True
            if background:
                try:
                    _hook_shutdown()
                except RuntimeError:  # the interpreter is shutting down: exact search serves
                    self._building = False
                    return
                self._thread = threading.Thread(target=self._build, name="echosafe-ann-build")
                self._thread.start()
        if not background:
            self._build()

    def close(self, timeout: float | None = 30.0) -> bool:
        """Stop a background build (between two chunks) and join its thread; True when no build
        thread is left. Exact search keeps working; no new build starts."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def wait_ann(self, timeout: float = 600.0) -> bool:
        import time

        end = time.monotonic() + timeout
        while self._building and time.monotonic() < end:
            time.sleep(0.01)
        return self._ann is not None

    def _exact(
        self, q: npt.NDArray[np.float32], k: int, mask: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        n_ok = int(mask.sum())
        if not n_ok:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if n_ok * 4 < self._n:  # few rows pass: score only those
            rows = np.flatnonzero(mask)
            scores = self._vecs[rows] @ q
        else:  # most pass: one matrix-vector product over every row (no gather copy)
            rows = np.arange(self._n)
            scores = self._vecs[: self._n] @ q
            scores[~mask[: self._n]] = -np.inf
        kk = min(k, n_ok)
        part = np.argpartition(-scores, kk - 1)[:kk] if len(scores) > kk else np.arange(len(scores))
        order = part[np.argsort(-scores[part], kind="stable")]
        return rows[order].astype(np.int64), scores[order]

    def search(
        self,
        q: npt.NDArray[np.float32],
        k: int,
        *,
        mask: npt.NDArray[np.bool_] | None = None,
        min_score: float = -1.0,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Top ``k`` live rows and their cosine scores, passing ``mask``, score >= min_score."""
        q = np.asarray(q, dtype=np.float32).reshape(self.dim)
        norm = float(np.linalg.norm(q))
        if norm > 0 and abs(norm - 1.0) > 1e-4:
            q = q / norm  # scores are cosine similarities whatever the query's length
        with self._lock:
            n = self._n
            live = self._alive[:n] if mask is None else (self._alive[:n] & mask[:n])
            eligible = int(live.sum()) if mask is not None else self._n_alive
            if eligible == 0 or k <= 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            ann = self._ann
            if ann is None and self._n_alive >= self.settings.ann_threshold:
                self.build_ann(background=True)
            s = self.settings
            if ann is None or eligible <= s.ann_threshold:
                rows, scores = self._exact(q, k, live)
            else:
                count = min(self._n_alive, max(k * s.candidates_per_k, s.min_candidates))
                found = ann.search(q, count)
                cand = np.asarray(found.keys, dtype=np.int64)
                cand = cand[cand < n]
                cand = cand[live[cand]]
                cscores = self._vecs[cand] @ q
                order = np.argsort(-cscores, kind="stable")[:k]
                rows, scores = cand[order], cscores[order]
                worst = float(cscores.min()) if len(cscores) else 1.0
                if len(rows) < min(k, eligible) and worst >= min_score:
                    rows, scores = self._exact(q, k, live)
        keep = scores >= min_score
        return rows[keep], scores[keep]
