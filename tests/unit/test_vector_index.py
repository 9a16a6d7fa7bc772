"""``VectorIndex``: exact cosine top-k, masks, removals and the HNSW (usearch) path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.memory.local.vector_index import AnnSettings, VectorIndex

F32 = npt.NDArray[np.float32]
TOL = 1e-5


def unit(a: npt.ArrayLike) -> F32:
    x = np.asarray(a, dtype=np.float64)
    out: F32 = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return out


def reference(
    vecs: F32,
    q: F32,
    k: int,
    *,
    alive: npt.NDArray[np.bool_] | None = None,
    min_score: float = -1.0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Brute-force top-k rows (float64 scores), best first."""
    scores = vecs.astype(np.float64) @ q.astype(np.float64)
    ok = np.ones(len(vecs), bool) if alive is None else alive.copy()
    ok &= scores >= min_score
    rows = np.flatnonzero(ok)
    order = rows[np.argsort(-scores[rows], kind="stable")][:k]
    return order.astype(np.int64), scores[order]


def assert_same_topk(
    got: tuple[npt.NDArray[np.int64], F32],
    want: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
    vecs: F32,
    q: F32,
) -> None:
    """Same top-k as the reference, up to the order of rows whose scores tie within ``TOL``."""
    rows, scores = got
    want_rows, want_scores = want
    assert len(rows) == len(want_rows)
    assert len(set(rows.tolist())) == len(rows)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=TOL)
    assert_true_scores(vecs, q, rows, scores)
    gaps = np.abs(np.subtract.outer(want_scores, want_scores)) + np.eye(len(want_scores))
    for i in np.flatnonzero(gaps.min(axis=1, initial=1.0) > 2 * TOL):
        assert rows[i] == want_rows[i]  # no near-tie: the exact same row


def assert_true_scores(vecs: F32, q: F32, rows: npt.NDArray[np.int64], scores: F32) -> None:
    np.testing.assert_allclose(scores, vecs[rows].astype(np.float64) @ q, rtol=0, atol=TOL)
    assert np.all(np.diff(scores) <= 0), "results must be best first"


@pytest.fixture
def random_set() -> tuple[VectorIndex, F32]:
    rng = np.random.default_rng(0)
    vecs = unit(rng.normal(size=(500, 16)))
    idx = VectorIndex(16)
    rows = idx.add(vecs)
    assert rows == range(0, 500)
    return idx, vecs


# -- exact search ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 10, 499, 500, 800])
def test_exact_search_matches_numpy(random_set: tuple[VectorIndex, F32], k: int) -> None:
    idx, vecs = random_set
    assert len(idx) == 500
    assert idx.rows == 500
    assert idx.ann_ready is False
    rng = np.random.default_rng(k)
    for q in unit(rng.normal(size=(20, 16))):
        rows, scores = idx.search(q, k)
        assert len(rows) == min(k, 500)
        assert rows.dtype == np.int64
        assert_same_topk((rows, scores), reference(vecs, q, k), vecs, q)
    assert idx.ann_ready is False  # 500 rows is far below the default threshold


def test_rows_are_assigned_in_insertion_order(random_set: tuple[VectorIndex, F32]) -> None:
    idx, vecs = random_set
    rng = np.random.default_rng(1)
    more = unit(rng.normal(size=(70, 16)))  # crosses a capacity doubling
    assert idx.add(more[:1]) == range(500, 501)
    assert idx.add(more[1:]) == range(501, 570)
    np.testing.assert_array_equal(idx.vector(0), vecs[0])
    np.testing.assert_array_equal(idx.vector(569), more[-1])
    rows, scores = idx.search(more[30], 1)
    assert rows.tolist() == [530]
    assert scores[0] == pytest.approx(1.0, abs=TOL)


def test_mask_filtering(random_set: tuple[VectorIndex, F32]) -> None:
    idx, vecs = random_set
    rng = np.random.default_rng(2)
    for frac in (0.5, 0.1, 0.01):
        mask = rng.random(500) < frac
        for q in unit(rng.normal(size=(10, 16))):
            rows, scores = idx.search(q, 10, mask=mask)
            assert mask[rows].all()
            assert_same_topk((rows, scores), reference(vecs, q, 10, alive=mask), vecs, q)
    none = np.zeros(500, bool)
    rows, scores = idx.search(vecs[0], 10, mask=none)
    assert (rows.tolist(), scores.tolist()) == ([], [])


def test_removed_rows_never_returned(random_set: tuple[VectorIndex, F32]) -> None:
    idx, vecs = random_set
    removed = list(range(0, 500, 7))
    for r in removed:
        idx.remove(r)
    idx.remove(removed[0])  # removing twice is harmless
    idx.remove(10_000)  # so is an unknown row
    assert len(idx) == 500 - len(removed)
    assert idx.rows == 500
    alive = np.ones(500, bool)
    alive[removed] = False
    for r in removed[:20]:
        # even the removed row's own vector does not bring it back
        rows, scores = idx.search(vecs[r], 500)
        assert r not in rows.tolist()
        assert len(rows) == 500 - len(removed)
        assert_same_topk((rows, scores), reference(vecs, vecs[r], 500, alive=alive), vecs, vecs[r])
    # a mask that lets removed rows through does not resurrect them
    rows, _ = idx.search(vecs[7], 5, mask=~alive)
    assert rows.tolist() == []


@pytest.mark.parametrize("min_score", [-1.0, 0.0, 0.4, 0.8, 1.5])
def test_min_score_respected(random_set: tuple[VectorIndex, F32], min_score: float) -> None:
    idx, vecs = random_set
    rng = np.random.default_rng(3)
    for q in unit(rng.normal(size=(10, 16))):
        rows, scores = idx.search(q, 50, min_score=min_score)
        assert np.all(scores >= min_score)
        assert_same_topk((rows, scores), reference(vecs, q, 50, min_score=min_score), vecs, q)


def test_empty_and_degenerate_searches() -> None:
    idx = VectorIndex(4)
    q = unit(np.ones(4))
    assert [a.tolist() for a in idx.search(q, 3)] == [[], []]
    idx.add(unit(np.eye(4)))
    assert [a.tolist() for a in idx.search(q, 0)] == [[], []]
    assert [a.tolist() for a in idx.search(q, -1)] == [[], []]
    for r in range(4):
        idx.remove(r)
    assert len(idx) == 0
    assert [a.tolist() for a in idx.search(q, 3)] == [[], []]


# -- the HNSW path ---------------------------------------------------------------------------

ANN = AnnSettings(ann_threshold=200)
N, DIM, CLUSTERS = 3000, 32, 30


@pytest.fixture(scope="module")
def clustered() -> tuple[F32, F32, F32]:
    """3000 unit vectors in 30 Gaussian clusters, 50 queries near the data, and the centres."""
    rng = np.random.default_rng(42)
    centres = unit(rng.normal(size=(CLUSTERS, DIM)))
    labels = rng.integers(0, CLUSTERS, N)
    data = unit(centres[labels] + 0.1 * rng.normal(size=(N, DIM)))
    queries = unit(centres[rng.integers(0, CLUSTERS, 50)] + 0.1 * rng.normal(size=(50, DIM)))
    return data, queries, centres


def spy_exact(idx: VectorIndex, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the exact search (to tell the ANN path from the exact one)."""
    calls: list[int] = []
    real: Callable[..., Any] = idx._exact

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(idx, "_exact", counting)
    return calls


@pytest.fixture
def ann_index(clustered: tuple[F32, F32, F32]) -> VectorIndex:
    data, _, _ = clustered
    idx = VectorIndex(DIM, ANN)
    idx.add(data)
    idx.build_ann(background=False)
    assert idx.ann_ready is True
    return idx


def test_ann_recall_and_true_scores(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, queries, _ = clustered
    exact_calls = spy_exact(ann_index, monkeypatch)
    hits = 0
    for q in queries:
        rows, scores = ann_index.search(q, 10)
        assert len(rows) == 10
        assert len(set(rows.tolist())) == 10
        assert_true_scores(data, q, rows, scores)
        hits += len(set(rows.tolist()) & set(reference(data, q, 10)[0].tolist()))
    assert exact_calls == []  # every query went through the graph
    recall = hits / (10 * len(queries))
    assert recall >= 0.95


def test_ann_honours_adds_and_removes_after_build(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32]
) -> None:
    data, queries, _ = clustered
    rng = np.random.default_rng(7)
    for q in queries[:10]:
        top_before = ann_index.search(q, 1)[0][0]
        new_row = ann_index.add(q[None, :]).start
        rows, scores = ann_index.search(q, 10)
        assert rows[0] == new_row
        assert scores[0] == pytest.approx(1.0, abs=TOL)
        assert_true_scores(data, q, rows[1:], scores[1:])

        ann_index.remove(new_row)
        ann_index.remove(int(top_before))
        for probe in (q, data[top_before], unit(q + 0.01 * rng.normal(size=DIM))):
            rows, _ = ann_index.search(probe, 20)
            assert new_row not in rows.tolist()
            assert int(top_before) not in rows.tolist()
            assert len(rows) == 20
    assert len(ann_index) == N - 10


def test_ann_restrictive_mask_below_threshold_is_exact(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, queries, _ = clustered
    rng = np.random.default_rng(8)
    mask = np.zeros(N, bool)
    mask[rng.choice(N, 40, replace=False)] = True
    exact_calls = spy_exact(ann_index, monkeypatch)
    for q in queries[:10]:
        got = ann_index.search(q, 10, mask=mask)
        assert mask[got[0]].all()
        assert_same_topk(got, reference(data, q, 10, alive=mask), data, q)
    assert len(exact_calls) == 10


def test_ann_mask_missing_all_candidates_falls_back_to_exact(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows pass than the threshold, but none near the query: the graph's candidates all
    fail the mask, so the search must fall back to an exact scan of the masked rows."""
    data, queries, _ = clustered
    q = queries[0]
    order = np.argsort(-(data @ q))
    mask = np.zeros(N, bool)
    mask[order[-300:]] = True  # the 300 rows farthest from q
    exact_calls = spy_exact(ann_index, monkeypatch)
    got = ann_index.search(q, 10, mask=mask)
    assert len(exact_calls) == 1
    assert mask[got[0]].all()
    assert_same_topk(got, reference(data, q, 10, alive=mask), data, q)


def test_ann_mask_passing_most_rows(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32]
) -> None:
    data, queries, _ = clustered
    rng = np.random.default_rng(9)
    mask = rng.random(N) < 0.7
    hits = 0
    for q in queries:
        rows, scores = ann_index.search(q, 10, mask=mask)
        assert mask[rows].all()
        assert len(rows) == 10
        assert_true_scores(data, q, rows, scores)
        hits += len(set(rows.tolist()) & set(reference(data, q, 10, alive=mask)[0].tolist()))
    assert hits / (10 * len(queries)) >= 0.95


@pytest.mark.parametrize("min_score", [0.0, 0.6, 0.9, 1.1])
def test_ann_min_score(
    ann_index: VectorIndex, clustered: tuple[F32, F32, F32], min_score: float
) -> None:
    data, queries, _ = clustered
    found = expected = 0
    for q in queries:
        rows, scores = ann_index.search(q, 10, min_score=min_score)
        assert np.all(scores >= min_score)
        assert_true_scores(data, q, rows, scores)
        want = reference(data, q, 10, min_score=min_score)[0]
        # every returned row is above the bar; nearly all the true ones are found
        assert len(rows) <= len(want)
        found += len(set(rows.tolist()) & set(want.tolist()))
        expected += len(want)
    # HNSW built on several threads is not deterministic: with only a handful of true rows above
    # a high bar (7 at 0.9), one miss is within the recall target, not a bug (seen once in CI)
    assert found >= 0.95 * expected - 1


def test_background_build_and_wait(clustered: tuple[F32, F32, F32]) -> None:
    data, queries, _ = clustered
    idx = VectorIndex(DIM, ANN)
    idx.add(data)
    idx.build_ann(background=True)
    idx.build_ann(background=True)  # a second request while building is a no-op
    assert idx.wait_ann(timeout=60) is True
    assert idx.ann_ready is True
    found = 0
    for q in queries:
        rows, scores = idx.search(q, 10)
        assert_true_scores(data, q, rows, scores)
        found += len(set(rows.tolist()) & set(reference(data, q, 10)[0].tolist()))
    assert found >= 0.95 * 10 * len(queries)


def test_search_triggers_background_build_past_threshold(
    clustered: tuple[F32, F32, F32],
) -> None:
    data, queries, _ = clustered
    idx = VectorIndex(DIM, ANN)
    idx.add(data[:150])
    idx.search(queries[0], 5)
    assert idx.wait_ann(timeout=1) is False  # below the threshold: no graph
    idx.add(data[150:])
    first = idx.search(queries[0], 5)  # exact while the graph is being built
    assert_same_topk(first, reference(data, queries[0], 5), data, queries[0])
    assert idx.wait_ann(timeout=60) is True
    rows, scores = idx.search(queries[0], 5)
    assert_true_scores(data, queries[0], rows, scores)


def test_removes_during_background_build_are_honoured(clustered: tuple[F32, F32, F32]) -> None:
    data, queries, _ = clustered
    idx = VectorIndex(DIM, ANN)
    idx.add(data)
    real_new_ann = idx._new_ann
    top = reference(data, queries[0], 3)[0].tolist()

    def new_ann_then_remove() -> Any:
        for r in top:  # removed while the graph is built from the copied rows
            idx.remove(r)
        return real_new_ann()

    idx._new_ann = new_ann_then_remove  # type: ignore[method-assign]
    idx.build_ann(background=False)
    assert idx.ann_ready is True
    rows, _ = idx.search(queries[0], 10)
    assert not set(top) & set(rows.tolist())
    assert len(rows) == 10


def test_adds_during_background_build_are_all_searchable(
    clustered: tuple[F32, F32, F32],
) -> None:
    data, _, _ = clustered
    rng = np.random.default_rng(11)
    early, late = unit(rng.normal(size=DIM)), unit(rng.normal(size=DIM))
    idx = VectorIndex(DIM, ANN)
    idx.add(data)
    real_new_ann = idx._new_ann
    late_row: list[int] = []

    def new_ann_while_adding() -> Any:
        late_row.append(idx.add(late[None, :]).start)  # after the copy, during the build
        return real_new_ann()

    idx._new_ann = new_ann_while_adding  # type: ignore[method-assign]
    with idx._lock:  # keeps the builder thread from copying the rows until we are done
        idx.build_ann(background=True)
        early_row = idx.add(early[None, :]).start  # after build_ann, before the copy
    assert idx.wait_ann(timeout=60) is True

    rows, scores = idx.search(early, 5)
    assert rows[0] == early_row
    rows, scores = idx.search(late, 5)
    assert rows.tolist()[:1] == late_row
    assert scores[0] == pytest.approx(1.0, abs=TOL)


def test_record_updates_with_the_same_vector_keep_their_row() -> None:
    from echosafe_guard.memory.insight import (
        Insight,
        Provenance,
        ProvenanceSource,
        SearchFilter,
        Verdict,
    )
    from echosafe_guard.memory.local.tenant_table import TenantTable
    from echosafe_guard.memory.local.vector_index import AnnSettings

    table = TenantTable("t", 4, AnnSettings())
    vec = np.array([1, 0, 0, 0], dtype=np.float32)
    ins = Insight(
        id="a",
        tenant="t",
        scenario="scenario text",
        verdict=Verdict.UNSAFE,
        guidance="guide",
        category="fraud",
        provenance=Provenance(source=ProvenanceSource.SEED),
        layout="kl1-x",
    )
    table.put(ins, vec)
    for n in range(1, 20):  # e.g. retrieval hit write-backs
        table.put(ins.model_copy(update={"hits": n}), vec)
    assert table.index is not None and table.index.rows == 1
    got = table.get("a")
    assert got is not None and got.hits == 19
    table.put(ins, np.array([0, 1, 0, 0], dtype=np.float32))  # a new vector: a new row
    assert table.index.rows == 2 and len(table.index) == 1
    hits = table.search(
        np.array([0, 1, 0, 0], dtype=np.float32),
        k=1,
        min_score=0.5,
        filters=SearchFilter(),
    )
    assert [h.insight.id for h in hits] == ["a"]


def test_graph_insertion_uses_one_usearch_thread_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """usearch's multi-threaded ``add`` can spin forever on node locks (USearch#354, #396): the
    build and the adds after it ask for one thread unless ``threads`` says otherwise."""
    seen: list[int] = []
    real = VectorIndex._new_ann

    class Spy:
        def __init__(self, ann: Any) -> None:
            self.ann = ann

        def __getattr__(self, name: str) -> Any:
            return getattr(self.ann, name)

        def __contains__(self, key: object) -> bool:
            return key in self.ann

        def add(self, *args: Any, threads: int, **kwargs: Any) -> Any:
            seen.append(threads)
            return self.ann.add(*args, threads=threads, **kwargs)

    monkeypatch.setattr(VectorIndex, "_new_ann", lambda self: Spy(real(self)))
    vecs = unit(np.random.default_rng(3).normal(size=(300, 16)))
    idx = VectorIndex(16, AnnSettings(ann_threshold=100))
    idx.add(vecs[:250])
    idx.build_ann(background=False)
    idx.add(vecs[250:])  # after the build: straight into the graph
    assert idx.ann_ready and seen and set(seen) == {1}
    rows, _ = idx.search(vecs[260], 1)
    assert rows.tolist() == [260]
    two = VectorIndex(16, AnnSettings(ann_threshold=100, threads=2))
    two.add(vecs)
    two.build_ann(background=False)
    assert seen[-1] == 2
