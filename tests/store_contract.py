"""The ``InsightStore`` contract (``echosafe_guard/memory/base.py``), run against every store.

A test module runs the suite for one implementation with ``from tests.store_contract import *``
and a ``store_factory`` fixture: a factory taking the test's ``tmp_path`` and returning a *new
store object* on the same backing location every time it is called with the same ``tmp_path``.
Calling it twice therefore simulates reopening the store, or a second process using it.
(``tests/unit/test_store_contract_local.py``, ``tests/integration/test_store_contract_redis.py``.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.exceptions import KeyLayoutMismatchError, StoreCapabilityError, StoreError
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.base import InsightStore, ReindexResult, StoreCapabilities
from echosafe_guard.memory.insight import (
    Insight,
    InsightStatus,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    SearchFilter,
    Verdict,
)

StoreFactory = Callable[[Path], InsightStore]

DIM = 8
LAYOUT = KeyLayout(text_model="fake", text_dim=DIM, image_model="none", image_dim=0)
OTHER_LAYOUT = KeyLayout(text_model="other-fake", text_dim=DIM, image_model="none", image_dim=0)
WIDER_LAYOUT = KeyLayout(text_model="fake", text_dim=DIM, image_model="clip", image_dim=4)

Vec = npt.NDArray[np.float32]

# Cosine scores are computed in float32 by the stores; the reference below in float64.
SCORE_TOL = 1e-5


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def open_store(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Callable[[], InsightStore]]:
    """Opens another store object on the same location (a reopen, or another process)."""
    opened: list[InsightStore] = []

    def factory() -> InsightStore:
        s = store_factory(tmp_path)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Callable[[], InsightStore]) -> InsightStore:
    """A fresh store, not yet bound to a layout."""
    return open_store()


@pytest.fixture
def bound(store: InsightStore) -> InsightStore:
    """A fresh store bound to ``LAYOUT``."""
    store.bind(LAYOUT)
    return store


# -- helpers ---------------------------------------------------------------------------------


def unit(v: npt.ArrayLike) -> Vec:
    a = np.asarray(v, dtype=np.float64)
    out: Vec = (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)
    return out


def rand_unit(rng: np.random.Generator, n: int | None = None, dim: int = DIM) -> Vec:
    return unit(rng.normal(size=(dim,) if n is None else (n, dim)))


def make_insight(
    iid: str,
    vector: npt.ArrayLike,
    *,
    tenant: str = "acme",
    layout: KeyLayout = LAYOUT,
    verdict: Verdict = Verdict.UNSAFE,
    category: str = "weapons",
    status: InsightStatus = InsightStatus.ACTIVE,
    guidance: str = "Refuse step-by-step instructions; offer safety information instead.",
) -> Insight:
    return Insight(
        id=iid,
        tenant=tenant,
        scenario=f"scenario of {iid}",
        intent_signals=("asks for synthesis", "mentions a target"),
        verdict=verdict,
        guidance=guidance,
        category=category,
        status=status,
        provenance=Provenance(source=ProvenanceSource.SEED, ref=f"seed:{iid}"),
        layout=layout.id,
        vector=tuple(float(x) for x in np.asarray(vector, dtype=np.float64).ravel()),
    )


def vec_of(ins: Insight) -> Vec:
    assert ins.vector is not None
    return np.asarray(ins.vector, dtype=np.float32)


def expected_hits(
    insights: Sequence[Insight],
    q: Vec,
    *,
    k: int,
    min_score: float = -1.0,
    filters: SearchFilter | None = None,
) -> list[tuple[str, float]]:
    """Brute-force reference: (id, cosine) of the best ``k`` matching insights, best first."""
    f = filters or SearchFilter()
    qq = np.asarray(q, dtype=np.float64)
    scored = []
    for ins in insights:
        if not f.matches(ins):
            continue
        v = vec_of(ins).astype(np.float64)
        cos = float(v @ qq / (np.linalg.norm(v) * np.linalg.norm(qq)))
        if cos >= min_score:
            scored.append((ins.id, cos))
    scored.sort(key=lambda t: -t[1])
    return scored[:k]


def assert_hits_match(got: list[ScoredInsight], want: list[tuple[str, float]]) -> None:
    assert [h.insight.id for h in got] == [i for i, _ in want]
    for h, (_, s) in zip(got, want, strict=True):
        assert h.score == pytest.approx(s, abs=SCORE_TOL)
    scores = [h.score for h in got]
    assert scores == sorted(scores, reverse=True)


def ids(items: Iterator[Insight] | Sequence[Insight]) -> set[str]:
    return {i.id for i in items}


# -- identity and layout binding -------------------------------------------------------------


def test_implements_protocol(store: InsightStore) -> None:
    assert isinstance(store, InsightStore)
    assert isinstance(store.location, str)
    assert store.location != ""
    assert store.layout() is None


def test_bind_records_layout_and_refuses_another(
    store: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    store.bind(LAYOUT)
    assert store.layout() == LAYOUT
    store.bind(LAYOUT)  # the same layout again is fine
    for other in (OTHER_LAYOUT, WIDER_LAYOUT):
        with pytest.raises(KeyLayoutMismatchError):
            store.bind(other)
    assert store.layout() == LAYOUT
    store.close()

    reopened = open_store()
    assert reopened.layout() == LAYOUT
    with pytest.raises(KeyLayoutMismatchError):
        reopened.bind(OTHER_LAYOUT)
    reopened.bind(LAYOUT)
    assert reopened.layout() == LAYOUT


def test_bind_refused_for_store_object_opened_before_the_layout_was_recorded(
    open_store: Callable[[], InsightStore],
) -> None:
    first, second = open_store(), open_store()
    assert second.layout() is None  # second opens the (still empty) store
    first.bind(LAYOUT)
    first.upsert([make_insight("a", rand_unit(np.random.default_rng(0)))])
    with pytest.raises(KeyLayoutMismatchError):
        second.bind(OTHER_LAYOUT)
    assert open_store().layout() == LAYOUT


# -- upsert / get / delete ------------------------------------------------------------------


def test_upsert_then_get(bound: InsightStore) -> None:
    rng = np.random.default_rng(1)
    a = make_insight("ins_a", rand_unit(rng))
    b = make_insight("ins_b", rand_unit(rng), verdict=Verdict.SAFE, category="chemistry")
    bound.upsert([a, b])

    got = bound.get("acme", "ins_a")
    assert got == a.without_vector()
    assert got is not None
    assert got.vector is None

    got_v = bound.get("acme", "ins_b", with_vector=True)
    assert got_v is not None
    assert got_v.without_vector() == b.without_vector()
    assert got_v.vector is not None
    assert len(got_v.vector) == DIM
    # the vector round-trips within float32
    np.testing.assert_array_equal(
        np.asarray(got_v.vector, dtype=np.float32), np.asarray(b.vector, dtype=np.float32)
    )
    np.testing.assert_allclose(np.asarray(got_v.vector), np.asarray(b.vector), rtol=0, atol=1e-7)

    assert bound.get("acme", "missing") is None
    assert bound.get("acme", "missing", with_vector=True) is None
    assert bound.get("other-tenant", "ins_a") is None


def test_upsert_same_id_replaces(bound: InsightStore) -> None:
    rng = np.random.default_rng(2)
    old_v, new_v, other_v = rand_unit(rng), rand_unit(rng), rand_unit(rng)
    bound.upsert([make_insight("x", old_v), make_insight("y", other_v)])
    bound.upsert([make_insight("x", new_v, verdict=Verdict.SAFE, guidance="New guidance.")])

    assert bound.stats().total == 2
    assert len(list(bound.iter_insights("acme"))) == 2
    got = bound.get("acme", "x", with_vector=True)
    assert got is not None
    assert got.guidance == "New guidance."
    assert got.verdict is Verdict.SAFE
    np.testing.assert_array_equal(vec_of(got), new_v)

    hits = bound.search(new_v, tenant="acme", k=5)
    assert [h.insight.id for h in hits].count("x") == 1
    assert hits[0].insight.id == "x"
    assert hits[0].score == pytest.approx(1.0, abs=SCORE_TOL)
    # querying with the old vector scores "x" with the new vector's cosine
    by_id = {h.insight.id: h.score for h in bound.search(old_v, tenant="acme", k=5)}
    assert by_id["x"] == pytest.approx(float(old_v @ new_v), abs=SCORE_TOL)
    assert by_id["y"] == pytest.approx(float(old_v @ other_v), abs=SCORE_TOL)


def test_upsert_duplicate_ids_in_one_batch_last_wins(bound: InsightStore) -> None:
    rng = np.random.default_rng(3)
    v1, v2 = rand_unit(rng), rand_unit(rng)
    bound.upsert([make_insight("d", v1, guidance="first"), make_insight("d", v2, guidance="last")])
    got = bound.get("acme", "d", with_vector=True)
    assert got is not None
    assert got.guidance == "last"
    np.testing.assert_array_equal(vec_of(got), v2)
    assert bound.stats().total == 1


def test_delete_counts_existing_ids(bound: InsightStore) -> None:
    rng = np.random.default_rng(4)
    vecs = rand_unit(rng, 4)
    bound.upsert([make_insight(f"i{n}", v) for n, v in enumerate(vecs)])

    assert bound.delete("acme", []) == 0
    assert bound.delete("acme", ["nope", "never"]) == 0
    assert bound.delete("acme", ["i0", "nope", "i2"]) == 2
    assert bound.delete("acme", ["i0", "i2"]) == 0  # already gone
    assert bound.delete("acme", ["i1", "i1"]) == 1  # duplicates count once
    assert bound.delete("other-tenant", ["i3"]) == 0  # another tenant's id

    assert bound.get("acme", "i0") is None
    assert bound.get("acme", "i1") is None
    assert bound.get("acme", "i3") is not None
    assert ids(bound.iter_insights("acme")) == {"i3"}
    # deleted insights never come back from search, not even for their own vector
    for n in (0, 1, 2):
        hits = bound.search(vecs[n], tenant="acme", k=10)
        assert [h.insight.id for h in hits] == ["i3"]
    assert bound.stats().total == 1


def test_delete_then_reinsert_same_id(bound: InsightStore) -> None:
    rng = np.random.default_rng(5)
    v_old, v_new = rand_unit(rng), rand_unit(rng)
    bound.upsert([make_insight("r", v_old)])
    assert bound.delete("acme", ["r"]) == 1
    bound.upsert([make_insight("r", v_new)])
    hits = bound.search(v_new, tenant="acme", k=3)
    assert [h.insight.id for h in hits] == ["r"]
    assert hits[0].score == pytest.approx(1.0, abs=SCORE_TOL)


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def forty(bound: InsightStore) -> list[Insight]:
    rng = np.random.default_rng(6)
    insights = [make_insight(f"s{n:02d}", v) for n, v in enumerate(rand_unit(rng, 40))]
    bound.upsert(insights)
    return insights


@pytest.mark.parametrize(
    ("k", "min_score"),
    [(1, -1.0), (5, -1.0), (10, 0.3), (40, -1.0), (100, -1.0), (100, 0.5), (7, 0.99)],
)
def test_search_best_first_at_most_k_true_cosine(
    bound: InsightStore, forty: list[Insight], k: int, min_score: float
) -> None:
    rng = np.random.default_rng(100 + k)
    for q in rand_unit(rng, 10):
        hits = bound.search(q, tenant="acme", k=k, min_score=min_score)
        want = expected_hits(forty, q, k=k, min_score=min_score)
        assert len(hits) <= k
        assert all(h.score >= min_score for h in hits)
        assert_hits_match(hits, want)
        for h in hits:
            assert h.insight.tenant == "acme"
            cos = float(vec_of(next(i for i in forty if i.id == h.insight.id)) @ q)
            assert h.score == pytest.approx(cos, abs=SCORE_TOL)


def test_search_exact_vector_scores_one(bound: InsightStore, forty: list[Insight]) -> None:
    for ins in forty[:10]:
        hits = bound.search(vec_of(ins), tenant="acme", k=1)
        assert [h.insight.id for h in hits] == [ins.id]
        assert hits[0].score == pytest.approx(1.0, abs=SCORE_TOL)


def test_search_edge_cases(bound: InsightStore, forty: list[Insight]) -> None:
    q = vec_of(forty[0])
    assert bound.search(q, tenant="acme", k=0) == []
    assert bound.search(q, tenant="acme", k=5, min_score=1.01) == []
    assert bound.search(q, tenant="nobody", k=5) == []
    # float64 queries of the right shape are accepted
    hits = bound.search(q.astype(np.float64), tenant="acme", k=1)
    assert [h.insight.id for h in hits] == [forty[0].id]


@pytest.fixture
def varied(bound: InsightStore) -> list[Insight]:
    rng = np.random.default_rng(7)
    cats = ["weapons", "chemistry", "medical"]
    verdicts = list(Verdict)
    statuses = list(InsightStatus)
    insights = [
        make_insight(
            f"v{n:02d}",
            v,
            category=cats[n % 3],
            verdict=verdicts[(n // 3) % 3],
            status=statuses[(n // 9) % 4],
        )
        for n, v in enumerate(rand_unit(rng, 48))
    ]
    bound.upsert(insights)
    return insights


FILTERS: dict[str, SearchFilter | None] = {
    "none": None,
    "default": SearchFilter(),
    "category": SearchFilter(categories=frozenset({"chemistry"})),
    "two-categories": SearchFilter(categories=frozenset({"chemistry", "medical"})),
    "unknown-category": SearchFilter(categories=frozenset({"no-such-category"})),
    "verdict": SearchFilter(verdicts=frozenset({Verdict.SAFE})),
    "verdicts": SearchFilter(verdicts=frozenset({Verdict.UNSAFE, Verdict.BORDERLINE})),
    "quarantined-only": SearchFilter(statuses=frozenset({InsightStatus.QUARANTINED})),
    "all-statuses": SearchFilter(statuses=frozenset(InsightStatus)),
    "combined": SearchFilter(
        categories=frozenset({"weapons", "medical"}),
        verdicts=frozenset({Verdict.UNSAFE}),
        statuses=frozenset({InsightStatus.ACTIVE, InsightStatus.REJECTED}),
    ),
    "empty-categories": SearchFilter(categories=frozenset()),
    "empty-verdicts": SearchFilter(verdicts=frozenset()),
    "empty-statuses": SearchFilter(statuses=frozenset()),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_search_filters_applied_inside_search(
    bound: InsightStore,
    varied: list[Insight],
    name: str,
) -> None:
    filters = FILTERS[name]
    rng = np.random.default_rng(8)
    for q in rand_unit(rng, 6):
        for k in (3, 48):
            hits = bound.search(q, tenant="acme", k=k, filters=filters)
            assert_hits_match(hits, expected_hits(varied, q, k=k, filters=filters))
            assert all((filters or SearchFilter()).matches(h.insight) for h in hits)


def test_default_filter_excludes_quarantined_and_rejected(
    bound: InsightStore, varied: list[Insight]
) -> None:
    hidden = [i for i in varied if i.status in {InsightStatus.QUARANTINED, InsightStatus.REJECTED}]
    assert len(hidden) == 18  # v18..v35
    for ins in hidden:
        hits = bound.search(vec_of(ins), tenant="acme", k=48)
        assert ins.id not in {h.insight.id for h in hits}
        assert {h.insight.status for h in hits} <= {
            InsightStatus.ACTIVE,
            InsightStatus.CONFLICTED,
        }
        assert len(hits) == 48 - 18
    # ...but they are still stored and can be asked for explicitly
    ins = hidden[0]
    assert bound.get("acme", ins.id) == ins.without_vector()
    hits = bound.search(
        vec_of(ins), tenant="acme", k=1, filters=SearchFilter(statuses=frozenset({ins.status}))
    )
    assert [h.insight.id for h in hits] == [ins.id]


def test_filter_survives_truncated_top_k(bound: InsightStore) -> None:
    """A rare category far from the query is still found: filters are not applied after top-k."""
    rng = np.random.default_rng(9)
    q = rand_unit(rng)
    near = [make_insight(f"n{n}", unit(q + 0.05 * rng.normal(size=DIM))) for n in range(30)]
    far = make_insight("far", -q, category="rare")
    bound.upsert([*near, far])
    hits = bound.search(q, tenant="acme", k=1, filters=SearchFilter(categories=frozenset({"rare"})))
    assert [h.insight.id for h in hits] == ["far"]
    assert hits[0].score == pytest.approx(-1.0, abs=SCORE_TOL)


# -- tenants ---------------------------------------------------------------------------------

# "a/b" and "a_b" look alike once made file-name safe; "A" differs from "a" only by case.
TENANTS = ["a/b", "a_b", "A", "a", "tenant with spaces ü"]


@pytest.fixture
def per_tenant(bound: InsightStore) -> dict[str, list[Insight]]:
    rng = np.random.default_rng(10)
    data: dict[str, list[Insight]] = {}
    for t_no, tenant in enumerate(TENANTS):
        data[tenant] = [
            # the same ids in every tenant, with different vectors and content
            make_insight(f"i{n}", v, tenant=tenant, guidance=f"guidance {t_no}/{n}")
            for n, v in enumerate(rand_unit(rng, 3 + t_no))
        ]
        bound.upsert(data[tenant])
    return data


def test_tenant_isolation(bound: InsightStore, per_tenant: dict[str, list[Insight]]) -> None:
    rng = np.random.default_rng(11)
    queries = list(rand_unit(rng, 5))
    for tenant, own in per_tenant.items():
        for other, theirs in per_tenant.items():
            if other == tenant:
                continue
            # even the exact vector of another tenant's insight finds only own insights
            for q in [*queries, *(vec_of(i) for i in theirs)]:
                hits = bound.search(q, tenant=tenant, k=50, filters=SearchFilter())
                assert {h.insight.tenant for h in hits} == {tenant}
                assert_hits_match(hits, expected_hits(own, q, k=50))
        for ins in own:
            got = bound.get(tenant, ins.id, with_vector=True)
            assert got is not None
            assert got.tenant == tenant
            assert got.guidance == ins.guidance
            np.testing.assert_array_equal(vec_of(got), vec_of(ins))
        assert sorted(bound.iter_insights(tenant), key=lambda i: i.id) == sorted(
            (i.without_vector() for i in own), key=lambda i: i.id
        )
    # a tenant never written to sees nothing
    assert bound.search(vec_of(per_tenant["a"][0]), tenant="nobody", k=10) == []
    assert bound.get("nobody", "i0") is None
    assert list(bound.iter_insights("nobody")) == []


def test_delete_is_tenant_scoped(bound: InsightStore, per_tenant: dict[str, list[Insight]]) -> None:
    assert bound.delete("a/b", ["i0", "i1"]) == 2
    assert bound.get("a/b", "i0") is None
    for tenant in TENANTS[1:]:
        assert bound.get(tenant, "i0") is not None
        assert bound.get(tenant, "i1") is not None
    assert bound.delete("nobody", ["i0"]) == 0
    assert bound.stats().total == sum(len(v) for v in per_tenant.values()) - 2


def test_tenants_lists_written_tenants(
    bound: InsightStore, per_tenant: dict[str, list[Insight]]
) -> None:
    assert bound.tenants() == sorted(TENANTS)


def test_count_per_tenant(bound: InsightStore, per_tenant: dict[str, list[Insight]]) -> None:
    for tenant, items in per_tenant.items():
        assert bound.count(tenant) == len(items)
    assert bound.count("nobody") == 0
    first = TENANTS[0]
    bound.delete(first, [per_tenant[first][0].id])
    assert bound.count(first) == len(per_tenant[first]) - 1


def test_tenants_empty_store(store: InsightStore) -> None:
    assert store.tenants() == []
    assert list(store.iter_insights()) == []


def test_iter_insights_per_tenant_and_all(
    bound: InsightStore, per_tenant: dict[str, list[Insight]]
) -> None:
    everything = [i for own in per_tenant.values() for i in own]
    got_all = list(bound.iter_insights())
    assert len(got_all) == len(everything)
    key = lambda i: (i.tenant, i.id)  # noqa: E731
    assert sorted(got_all, key=key) == sorted((i.without_vector() for i in everything), key=key)
    assert all(i.vector is None for i in got_all)

    for tenant, own in per_tenant.items():
        with_v = {i.id: i for i in bound.iter_insights(tenant, with_vector=True)}
        assert set(with_v) == ids(own)
        for ins in own:
            np.testing.assert_array_equal(vec_of(with_v[ins.id]), vec_of(ins))
            assert with_v[ins.id].without_vector() == ins.without_vector()


# -- stats / health --------------------------------------------------------------------------


def test_stats_counts(bound: InsightStore, varied: list[Insight]) -> None:
    extra = make_insight("o1", rand_unit(np.random.default_rng(12)), tenant="other", category="x")
    bound.upsert([extra])
    assert bound.delete("acme", ["v00"]) == 1
    live = [i for i in varied if i.id != "v00"] + [extra]
    st = bound.stats()
    assert st.location == bound.location
    assert st.layout == LAYOUT.id
    assert st.total == 48
    assert st.by_tenant == {"acme": 47, "other": 1}

    def count(attr: Callable[[Insight], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in live:
            out[attr(i)] = out.get(attr(i), 0) + 1
        return out

    assert st.by_verdict == count(lambda i: i.verdict.value)
    assert st.by_category == count(lambda i: i.category)
    assert st.by_status == count(lambda i: i.status.value)
    assert sum(st.by_status.values()) == 48


def test_stats_empty_store(bound: InsightStore) -> None:
    st = bound.stats()
    assert (st.total, st.by_tenant, st.by_verdict) == (0, {}, {})
    assert st.layout == LAYOUT.id


def test_stats_show_a_layout_bound_by_another_handle(
    store: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    """Issue 13 (Low), ``layout: null`` on a bound store: a handle that had read the store
    before another one (another process) bound and seeded it went on saying it had no layout."""
    assert store.stats().layout is None
    writer = open_store()
    writer.bind(LAYOUT)
    writer.upsert([make_insight("a", rand_unit(np.random.default_rng(20)))])
    st = store.stats()
    assert (st.layout, st.total) == (LAYOUT.id, 1)
    assert store.layout() == LAYOUT
    assert LAYOUT.id in store.health().detail


def test_health_ok(store: InsightStore) -> None:
    h = store.health()
    assert h.ok is True
    assert h.location == store.location
    store.bind(LAYOUT)
    store.upsert([make_insight("h", rand_unit(np.random.default_rng(13)))])
    h = store.health()
    assert h.ok is True
    assert h.kind == store.stats().kind
    assert h.location == store.location
    assert h.detail != ""


# -- validation ------------------------------------------------------------------------------


def test_upsert_with_other_layout_id_raises(bound: InsightStore) -> None:
    rng = np.random.default_rng(14)
    good = make_insight("good", rand_unit(rng))
    bad = make_insight("bad", rand_unit(rng), layout=OTHER_LAYOUT)
    with pytest.raises(KeyLayoutMismatchError):
        bound.upsert([bad])
    with pytest.raises(KeyLayoutMismatchError):
        bound.upsert([good, bad])
    assert bound.get("acme", "bad") is None
    assert bound.get("acme", "good") is None  # the rejected batch wrote nothing
    assert bound.stats().total == 0


@pytest.mark.parametrize("length", [0, 1, DIM - 1, DIM + 1, 2 * DIM])
def test_upsert_wrong_vector_length_raises(bound: InsightStore, length: int) -> None:
    rng = np.random.default_rng(15)
    good = make_insight("good", rand_unit(rng))
    bad = make_insight("bad", np.ones(length) / max(length, 1) ** 0.5)
    with pytest.raises(StoreError):
        bound.upsert([good, bad])
    assert bound.get("acme", "bad") is None
    assert bound.get("acme", "good") is None
    assert bound.stats().total == 0


def test_upsert_without_vector_raises(bound: InsightStore) -> None:
    ins = make_insight("nov", rand_unit(np.random.default_rng(16))).without_vector()
    with pytest.raises(StoreError):
        bound.upsert([ins])
    assert bound.get("acme", "nov") is None


@pytest.mark.parametrize("shape", [(DIM - 1,), (DIM + 1,), (1, DIM), (DIM, 1), (2 * DIM,), ()])
def test_search_wrong_query_shape_raises(
    bound: InsightStore, forty: list[Insight], shape: tuple[int, ...]
) -> None:
    q = np.full(shape, 0.3, dtype=np.float32)
    with pytest.raises(KeyLayoutMismatchError):
        bound.search(q, tenant="acme", k=3)


# -- persistence and sharing -----------------------------------------------------------------


def test_persistence_after_close(
    bound: InsightStore,
    open_store: Callable[[], InsightStore],
    varied: list[Insight],
    per_tenant: dict[str, list[Insight]],
) -> None:
    rng = np.random.default_rng(17)
    bound.delete("acme", ["v01", "v02"])
    bound.upsert([make_insight("v03", rand_unit(rng), guidance="replaced")])
    queries = list(rand_unit(rng, 5))
    before_all = sorted(bound.iter_insights(with_vector=True), key=lambda i: (i.tenant, i.id))
    before_search = [bound.search(q, tenant="acme", k=10) for q in queries]
    before_stats = bound.stats()
    before_tenants = bound.tenants()
    bound.close()

    again = open_store()
    assert again.layout() == LAYOUT
    assert again.tenants() == before_tenants
    after_all = sorted(again.iter_insights(with_vector=True), key=lambda i: (i.tenant, i.id))
    assert after_all == before_all
    assert again.get("acme", "v01") is None
    got = again.get("acme", "v03")
    assert got is not None
    assert got.guidance == "replaced"
    for q, want in zip(queries, before_search, strict=True):
        got_hits = again.search(q, tenant="acme", k=10)
        assert [h.insight.id for h in got_hits] == [h.insight.id for h in want]
        assert [h.score for h in got_hits] == pytest.approx([h.score for h in want], abs=1e-6)
    assert again.stats() == before_stats
    assert again.health().ok is True


def test_two_store_objects_see_each_others_writes(
    bound: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    rng = np.random.default_rng(18)
    other = open_store()
    assert other.layout() == LAYOUT
    va, vb, vc = rand_unit(rng), rand_unit(rng), rand_unit(rng)

    bound.upsert([make_insight("a", va)])
    got = other.get("acme", "a", with_vector=True)
    assert got is not None
    np.testing.assert_array_equal(vec_of(got), va)
    assert [h.insight.id for h in other.search(va, tenant="acme", k=5)] == ["a"]

    other.upsert([make_insight("b", vb, tenant="beta")])
    assert bound.get("beta", "b") is not None
    assert bound.tenants() == ["acme", "beta"]

    # a replacement by one object is seen by the other
    bound.upsert([make_insight("a", vc, guidance="replaced by the first")])
    hits = other.search(vc, tenant="acme", k=5)
    assert [h.insight.id for h in hits] == ["a"]
    assert hits[0].score == pytest.approx(1.0, abs=SCORE_TOL)
    assert hits[0].insight.guidance == "replaced by the first"

    # deletes too, both ways
    assert other.delete("acme", ["a"]) == 1
    assert bound.get("acme", "a") is None
    assert bound.search(vc, tenant="acme", k=5) == []
    assert bound.delete("beta", ["b"]) == 1
    assert other.get("beta", "b") is None
    assert other.delete("beta", ["b"]) == 0
    assert other.stats().total == 0
    assert bound.stats().total == 0


def test_many_threads_one_store(
    bound: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    rng = np.random.default_rng(19)
    vecs = rand_unit(rng, 80)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for n in range(20):
                bound.upsert([make_insight(f"w{w}-{n}", vecs[w * 20 + n], tenant=f"t{w % 2}")])
                bound.search(vecs[w * 20 + n], tenant=f"t{w % 2}", k=3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert bound.stats().by_tenant == {"t0": 40, "t1": 40}
    bound.close()
    assert open_store().stats().total == 80


# -- async twins -----------------------------------------------------------------------------


def test_async_twins_match_sync(
    bound: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    rng = np.random.default_rng(20)
    insights = [make_insight(f"as{n}", v) for n, v in enumerate(rand_unit(rng, 12))]
    queries = list(rand_unit(rng, 4))
    filt = SearchFilter(verdicts=frozenset({Verdict.UNSAFE}))

    async def scenario() -> tuple[
        Insight | None, Insight | None, Insight | None, list[list[ScoredInsight]], int, int
    ]:
        await bound.aupsert(insights)
        plain = await bound.aget("acme", "as3")
        with_v = await bound.aget("acme", "as3", with_vector=True)
        missing = await bound.aget("acme", "nope")
        hits = [
            await bound.asearch(q, tenant="acme", k=5, min_score=-0.5, filters=filt)
            for q in queries
        ]
        deleted = await bound.adelete("acme", ["as0", "as1", "nope"])
        deleted_again = await bound.adelete("acme", ["as0"])
        return plain, with_v, missing, hits, deleted, deleted_again

    plain, with_v, missing, hits, deleted, deleted_again = asyncio.run(scenario())

    assert plain == insights[3].without_vector()
    assert plain == bound.get("acme", "as3")
    assert with_v is not None
    assert with_v == bound.get("acme", "as3", with_vector=True)
    np.testing.assert_array_equal(vec_of(with_v), vec_of(insights[3]))
    assert missing is None
    for q, got in zip(queries, hits, strict=True):
        assert_hits_match(got, expected_hits(insights, q, k=5, min_score=-0.5, filters=filt))
    assert (deleted, deleted_again) == (2, 0)
    live = [i for i in insights if i.id not in {"as0", "as1"}]
    for q in queries:
        sync_hits = bound.search(q, tenant="acme", k=5)
        async_hits = asyncio.run(bound.asearch(q, tenant="acme", k=5))
        assert async_hits == sync_hits
        assert_hits_match(async_hits, expected_hits(live, q, k=5))

    asyncio.run(bound.aclose())
    again = open_store()
    assert ids(again.iter_insights("acme")) == ids(live)


def test_async_errors_match_sync(bound: InsightStore) -> None:
    bad = make_insight("bad", rand_unit(np.random.default_rng(21)), layout=OTHER_LAYOUT)
    with pytest.raises(KeyLayoutMismatchError):
        asyncio.run(bound.aupsert([bad]))
    with pytest.raises(KeyLayoutMismatchError):
        asyncio.run(bound.asearch(np.zeros(DIM + 1, np.float32), tenant="acme", k=1))


# -- capabilities ------------------------------------------------------------------------------


def test_capabilities_declared_and_frozen(
    store: InsightStore, open_store: Callable[[], InsightStore]
) -> None:
    caps = store.capabilities
    assert isinstance(caps, StoreCapabilities)
    assert store.layout() is None  # reading them opened nothing, wrote nothing
    assert open_store().capabilities == caps  # a property of the backend, not of one object
    with pytest.raises(ValueError, match="frozen"):
        caps.reindex = not caps.reindex  # type: ignore[misc]


def test_reindex_as_declared(bound: InsightStore, forty: list[Insight]) -> None:
    if bound.capabilities.reindex:
        result = bound.reindex()
        assert isinstance(result, ReindexResult)
        assert result.index != ""
        assert result.converted_vectors == 0  # same schema, same vector type
    else:
        with pytest.raises(StoreCapabilityError, match="no persistent index"):
            bound.reindex()
    # Either way the data is intact and searchable.
    assert bound.count("acme") == len(forty)
    for ins in forty[:5]:
        assert bound.search(vec_of(ins), tenant="acme", k=1)[0].insight.id == ins.id


def test_asearch_awaits_natively_as_declared(
    bound: InsightStore, forty: list[Insight], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``native_async``: ``asearch`` awaits the backend's async client, with no worker thread;
    otherwise it hops to a worker thread (once) and never searches on the event loop."""
    q = vec_of(forty[7])
    want = bound.search(q, tenant="acme", k=3)  # warm: the index exists, nothing is pending
    hops: list[Callable[..., object]] = []
    to_thread = asyncio.to_thread

    async def counted(func: Callable[..., object], /, *args: object, **kw: object) -> object:
        hops.append(func)
        return await to_thread(func, *args, **kw)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    got = asyncio.run(bound.asearch(q, tenant="acme", k=3))
    assert got == want
    assert len(hops) == (0 if bound.capabilities.native_async else 1), hops
