"""The retrieval verdict model: the probe, twins, the scoring rule and the per-tenant component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.key.base import l2_normalize
from echosafe_guard.memory.insight import (
    Insight,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    Verdict,
)
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.retrieval import VerdictPolicy
from echosafe_guard.retrieval.probe import fit_probe
from echosafe_guard.retrieval.probe_verdict_model import ProbeVerdictModel
from echosafe_guard.retrieval.verdict_assessment import VerdictModel
from echosafe_guard.retrieval.verdict_model import (
    Call,
    fit_twins,
    score_candidates,
)
from tests.unit.test_rerank import LAYOUT, MEMORY, QUERIES, TENANT

CFG = VerdictPolicy(min_per_verdict=2, contrast_weight=20.0)


def test_probe_separates_and_is_probabilistic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    y = x[:, 0] + 0.3 * rng.normal(size=200) > 0
    probe = fit_probe(x, y, l2=1.0)
    assert probe is not None and (probe.n_unsafe, probe.n_safe) == (int(y.sum()), int((~y).sum()))
    acc = float(np.mean((probe.logits(x) > 0) == y))
    assert acc > 0.9
    assert probe.w[0] == max(probe.w, key=abs)  # the informative dimension dominates
    assert abs(probe.logit(x[0]) - probe.logits(x[:1])[0]) < 1e-4


def test_probe_refuses_one_class_and_bad_penalty() -> None:
    x = np.eye(4)
    assert fit_probe(x, np.ones(4, bool)) is None
    with pytest.raises(ValueError):
        fit_probe(x, np.array([1, 0, 1, 0], bool), l2=0.0)


def test_twins_are_nearest_opposite_verdict_same_category() -> None:
    v = l2_normalize(np.array([[1, 0.1, 0], [1, 0, 0.1], [0, 1, 0], [0.9, 0.2, 0]], np.float32))
    unsafe = np.array([True, False, True, False])
    cat = np.array(["a", "a", "b", "b"])
    twin = fit_twins(v, unsafe, cat)
    assert list(twin) == [1, 0, 3, 2]  # row 3 is closer to row 0, but 0 is another category
    alone = fit_twins(v[:1], unsafe[:1], cat[:1])
    assert list(alone) == [0]


def _score(
    logit: float | None, unsafe: list[bool | None], *, lean: bool = True
) -> tuple[tuple[int, ...], Call, float]:
    n = len(unsafe)
    r = score_candidates(
        VerdictPolicy(band=0.15, unsafe_first_at=0.5 if lean else 0.6),
        query=np.ones(2),
        cand_scores=np.linspace(0.9, 0.5, n),
        cand_unsafe=unsafe,
        twin_vectors=None,
        probe_logit=logit,
        k=3,
    )
    return r.order, r.call, r.p_unsafe


def test_score_orders_by_call() -> None:
    cands: list[bool | None] = [False, True, None, True, False]
    assert _score(3.0, cands)[:2] == ((1, 3, 0), Call.UNSAFE)
    assert _score(-3.0, cands)[:2] == ((0, 4, 1), Call.SAFE)
    order, call, p = _score(0.2, cands)  # near 0.5: both sides, leaning side first
    assert call is Call.UNSURE and order == (1, 0, 3) and 0.5 < p < 0.65
    order, call, _ = _score(0.2, cands, lean=False)  # p below unsafe_first_at: safe side first
    assert call is Call.UNSURE and order == (0, 1, 4)


def _call_at(cfg: VerdictPolicy, p: float) -> Call:
    """The three-way call for a probe probability ``p`` (one unsafe and one safe candidate)."""
    r = score_candidates(
        cfg,
        query=np.ones(2),
        cand_scores=np.array([0.9, 0.8]),
        cand_unsafe=[True, False],
        twin_vectors=None,
        probe_logit=float(np.log(p / (1 - p))),
        k=2,
    )
    return r.call


def test_safe_at_moves_only_the_safe_edge_of_the_unsure_zone() -> None:
    def call(p: float, safe_at: float | None = None) -> Call:
        return _call_at(VerdictPolicy(band=0.2, safe_at=safe_at), p)

    assert [call(p) for p in (0.29, 0.4, 0.69, 0.71)] == [
        Call.SAFE,
        Call.UNSURE,
        Call.UNSURE,
        Call.UNSAFE,
    ]
    assert [call(p, safe_at=0.45) for p in (0.29, 0.44, 0.46, 0.69, 0.71)] == [
        Call.SAFE,
        Call.SAFE,
        Call.UNSURE,
        Call.UNSURE,
        Call.UNSAFE,
    ]
    with pytest.raises(ValueError, match="safe_at"):
        VerdictPolicy(band=0.2, safe_at=0.7)


def test_band_zero_is_valid_and_calls_every_request_safe_or_unsafe() -> None:
    # band 0 (no unsure zone) is what benchmarks/discrimination_tune.py fits the probe with: both
    # edges are 0.5, and a validator that compared the derived edges refused it (stop 41).
    cfg = VerdictPolicy(band=0.0)
    assert cfg.safe_edge == cfg.unsafe_edge == 0.5
    with pytest.raises(ValueError, match="safe_at"):
        VerdictPolicy(band=0.0, safe_at=0.5)
    calls = [_call_at(cfg, p) for p in (0.3, 0.49, 0.51, 0.7)]
    assert calls == [Call.SAFE, Call.SAFE, Call.UNSAFE, Call.UNSAFE]


def test_score_falls_back_to_the_vote_without_a_probe() -> None:
    order, call, p = _score(None, [True, True, True, True, False])
    assert call is Call.UNSAFE and order[0] == 0 and p > 0.65
    assert _score(None, [])[0] == ()


def _insight(name: str, vector: npt.NDArray[np.float32]) -> Insight:
    verdict = Verdict.UNSAFE if name.startswith("unsafe") else Verdict.SAFE
    return Insight(
        id=name,
        tenant=TENANT,
        scenario=f"scenario {name}",
        verdict=verdict,
        guidance="g",
        category="topic" + name.split("-")[1],
        provenance=Provenance(source=ProvenanceSource.SEED),
        layout=LAYOUT.id,
        vector=tuple(float(x) for x in vector),
    )


def _store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "mem")
    store.bind(LAYOUT)
    store.upsert([_insight(n, v) for n, v in MEMORY.items()])
    return store


def _hits(store: LocalStore, q: npt.NDArray[np.float32]) -> list[ScoredInsight]:
    return store.search(q, tenant=TENANT, k=12)


def test_component_separates_the_synthetic_twins(tmp_path: Path) -> None:
    store = _store(tmp_path)
    model = ProbeVerdictModel(store, CFG, background=False)
    assert isinstance(model, VerdictModel)
    for text, want in (("unsafe request", Verdict.UNSAFE), ("safe request", Verdict.SAFE)):
        q = QUERIES[text]
        hits = _hits(store, q)
        assert hits[0].insight.verdict is not want  # cosine alone picks the wrong twin
        a = model.assess(q, hits, tenant=TENANT, k=3)
        assert a.fitted and a.hits[0].insight.verdict is want
        assert (a.p_unsafe > 0.5) == (want is Verdict.UNSAFE)
        assert a.call.value in (want.value, "unsure")
    st = model.state(TENANT)
    assert st is not None and st.probe is not None and len(st.twins) == len(MEMORY)
    store.close()


def test_component_background_fit_and_fallback(tmp_path: Path) -> None:
    store = _store(tmp_path)
    model = ProbeVerdictModel(store, CFG)  # background worker
    q = QUERIES["unsafe request"]
    first = model.assess(q, _hits(store, q), tenant=TENANT, k=3)
    assert model.wait_idle(10.0)
    later = model.assess(q, _hits(store, q), tenant=TENANT, k=3)
    assert later.fitted and later.hits[0].insight.verdict is Verdict.UNSAFE
    assert first.fitted is False or first.hits == later.hits  # the fallback never waits
    assert model.fits == 1
    store.close()


def test_component_keeps_serving_when_the_store_fails(tmp_path: Path) -> None:
    store = _store(tmp_path)

    class Broken(LocalStore):
        def iter_insights(self, tenant: str | None = None, *, with_vector: bool = False):  # type: ignore[no-untyped-def]
            raise OSError("disk gone")

    broken = Broken(tmp_path / "mem")
    model = ProbeVerdictModel(broken, CFG, background=False)
    q = QUERIES["safe request"]
    a = model.assess(q, _hits(store, q), tenant=TENANT, k=3)
    assert not a.fitted and model.errors == 1 and len(a.hits) == 3
    store.close()
    broken.close()


def test_too_few_labelled_insights_means_no_probe(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "small")
    store.bind(LAYOUT)
    store.upsert([_insight("unsafe-1", MEMORY["unsafe-1"])])
    model = ProbeVerdictModel(store, CFG, background=False)
    q = QUERIES["unsafe request"]
    a = model.assess(q, store.search(q, tenant=TENANT, k=3), tenant=TENANT, k=3)
    assert not a.fitted and a.hits[0].insight.id == "unsafe-1"
    store.close()
