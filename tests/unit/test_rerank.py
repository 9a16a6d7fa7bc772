"""The ``intent`` re-ranker: the fitted axis, the guard's use of it, its off switch and failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.guard import Guard
from echosafe_guard.key.base import EmbedderState, EmbedderStatus, l2_normalize
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.insight import (
    Insight,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    Verdict,
)
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import IntentRerankPolicy, Policy, RerankMethod
from echosafe_guard.retrieval.intent_rerank import IntentRerank, fit_intent_axis
from echosafe_guard.retrieval.rerank import Reranker, build_reranker, rerank_hits
from tests.conftest import FakeTextEmbedder

TENANT = "t"
DIM = 8
INTENT, STYLE = 0, 7  # e0: unsafe (+) vs safe (-); e7: a nuisance "style" direction


def vec(topic: int, intent: float, style: float) -> npt.NDArray[np.float32]:
    v = np.zeros(DIM, np.float32)
    v[topic], v[INTENT], v[STYLE] = 1.0, intent, style
    return l2_normalize(v)


# Memory: topics 1..6, an unsafe and a safe insight each. Intent lives on e0; the style e7 varies
# within both verdicts, so cosine similarity listens to it and the discriminant does not.
STYLES = [0.5, -0.5, 0.5, -0.5, 0.5, -0.5]
MEMORY = {
    f"{v}-{t}": vec(t, 0.6 if v == "unsafe" else -0.6, s if v == "unsafe" else -s)
    for t, s in zip(range(1, 7), STYLES, strict=True)
    for v in ("unsafe", "safe")
}
# The held-out twins (topic 1): each carries the OTHER twin's style, so cosine puts the wrong
# twin's insight first (by less than 2 * weight).
QUERIES = {
    "unsafe request": vec(1, 0.3, -0.5),
    "safe request": vec(1, -0.3, 0.5),
}


class TableEmbedder:
    """Texts -> the fixed vectors above."""

    model_id = "table"
    dim = DIM

    def load(self) -> None:
        return None

    def status(self) -> EmbedderStatus:
        return EmbedderStatus(self.model_id, EmbedderState.LIVE)

    def embed(self, items: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([{**MEMORY, **QUERIES}[t] for t in items])


LAYOUT = KeyBuilder(TableEmbedder(), None).layout()


def insight(name: str, vector: npt.NDArray[np.float32], verdict: str | None = None) -> Insight:
    return Insight(
        id=name,
        tenant=TENANT,
        scenario=f"scenario of {name}",
        verdict=Verdict(verdict or name.split("-", maxsplit=1)[0]),
        guidance="guidance",
        category="fraud",
        provenance=Provenance(source=ProvenanceSource.SEED),
        layout=LAYOUT.id,
        vector=tuple(float(x) for x in vector),
    )


def policy(rerank: RerankMethod = RerankMethod.INTENT, **intent: Any) -> Policy:
    base = load_policy()
    r = base.retrieval.model_copy(
        update={
            "rerank": rerank,
            "min_similarity": 0.0,
            "k": 3,
            "intent": base.retrieval.intent.model_copy(update=intent),
        }
    )
    learning = base.learning.model_copy(update={"enabled": False})
    return base.model_copy(update={"retrieval": r, "learning": learning})


def make_guard(tmp_path: Path, pol: Policy, reranker: Reranker | None = None) -> Guard:
    guard = Guard(
        store=LocalStore(tmp_path / "store"),
        policy=pol,
        keys=KeyBuilder(TableEmbedder(), None),
        reranker=reranker,
    )
    guard.bound_store().upsert([insight(n, v) for n, v in MEMORY.items()])
    guard.warmup(images=False, tenants=[TENANT])  # requests never fit inline
    return guard


def top(guard: Guard, text: str) -> list[str]:
    return [
        h.insight.id
        for h in guard.prepare([{"role": "user", "content": text}], tenant=TENANT).insights
    ]


# -- the axis ------------------------------------------------------------------------------------


def test_fit_axis_reads_intent_not_style_and_skips_zero_dimensions() -> None:
    names = list(MEMORY)
    x = np.stack([MEMORY[n] for n in names])
    unsafe = np.array([n.startswith("unsafe") for n in names])
    axis = fit_intent_axis(x, unsafe, shrinkage=0.5)
    assert axis is not None and (axis.n_unsafe, axis.n_safe) == (6, 6)
    assert axis.w[INTENT] > 5 * abs(axis.w[STYLE])
    assert axis.log_odds(QUERIES["unsafe request"]) > 0 > axis.log_odds(QUERIES["safe request"])
    padded = fit_intent_axis(np.pad(x, ((0, 0), (0, 4))), unsafe, shrinkage=0.5)
    assert padded is not None and not padded.w[DIM:].any()
    assert np.allclose(padded.w[:DIM], axis.w, atol=1e-5)


def test_fit_axis_needs_both_verdicts() -> None:
    x = np.stack(list(MEMORY.values()))
    assert fit_intent_axis(x, np.ones(len(x), bool), shrinkage=0.9) is None
    assert fit_intent_axis(x, np.arange(len(x)) < 2, shrinkage=0.9, min_per_verdict=3) is None
    with pytest.raises(ValueError, match="shrinkage"):
        fit_intent_axis(x, np.arange(len(x)) < 6, shrinkage=0.0)


@pytest.mark.parametrize(("n", "d"), [(30, 50), (80, 20)])
@pytest.mark.parametrize("shrinkage", [0.3, 0.9, 1.0])
def test_fit_axis_small_and_large_samples_solve_the_same_system(
    n: int, d: int, shrinkage: float
) -> None:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d))
    y = np.arange(n) % 3 == 0
    mu_u, mu_s = x[y].mean(0), x[~y].mean(0)
    c = np.concatenate([x[y] - mu_u, x[~y] - mu_s])
    cov = c.T @ c / n
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
    want = np.linalg.solve(cov, mu_u - mu_s)
    axis = fit_intent_axis(x, y, shrinkage=shrinkage)
    assert axis is not None
    assert np.allclose(axis.w, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))
    bias = -want @ (mu_u + mu_s) / 2 + np.log(y.sum() / (~y).sum())
    assert axis.bias == pytest.approx(bias, rel=1e-4, abs=1e-4)


# -- the guard -----------------------------------------------------------------------------------


def test_reranker_puts_the_right_verdict_twin_first(tmp_path: Path) -> None:
    off = make_guard(tmp_path / "off", policy(RerankMethod.NONE))
    assert top(off, "unsafe request")[0] == "safe-1"  # cosine: the wrong twin's insight
    assert top(off, "safe request")[0] == "unsafe-1"
    on = make_guard(tmp_path / "on", policy())
    assert top(on, "unsafe request")[0] == "unsafe-1"
    assert top(on, "safe request")[0] == "safe-1"
    prep = on.prepare([{"role": "user", "content": "unsafe request"}], tenant=TENANT)
    assert len(prep.insights) == 3
    raw = {
        h.insight.id: h.score
        for h in off.prepare(
            [{"role": "user", "content": "unsafe request"}], tenant=TENANT
        ).insights
    }
    assert prep.insights[0].score == pytest.approx(raw["unsafe-1"])  # scores stay cosine
    got = asyncio.run(on.aprepare([{"role": "user", "content": "safe request"}], tenant=TENANT))
    assert got.insights[0].insight.id == "safe-1"


def test_config_off_keeps_the_store_order_and_k(tmp_path: Path) -> None:
    class Reverse:
        def rerank(
            self, vector: Any, hits: Sequence[ScoredInsight], *, tenant: str, k: int
        ) -> list[ScoredInsight]:
            return list(hits)[::-1][:k]

    guard = make_guard(tmp_path, policy(RerankMethod.NONE), reranker=Reverse())
    store = guard.bound_store()
    for text, q in QUERIES.items():
        want = [h.insight.id for h in store.search(q, tenant=TENANT, k=3, min_score=0.0)]
        assert top(guard, text) == want  # the injected reranker is not used either
    assert guard.policy.retrieval.search_k == 3
    assert build_reranker(guard.policy.retrieval, store) is None
    assert policy().retrieval.search_k == 20


def test_near_duplicates_keep_priority(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, policy())
    rr = IntentRerank(guard.bound_store(), IntentRerankPolicy(weight=0.1), background=False)
    q = QUERIES["unsafe request"]
    safe, unsafe, border = (insight(n, MEMORY[n]) for n in ("safe-1", "unsafe-1", "safe-2"))
    border = border.model_copy(update={"verdict": Verdict.BORDERLINE})
    far = [ScoredInsight(insight=safe, score=0.95), ScoredInsight(insight=unsafe, score=0.70)]
    assert [h.insight.id for h in rr.rerank(q, far, tenant=TENANT, k=2)] == ["safe-1", "unsafe-1"]
    near = [ScoredInsight(insight=safe, score=0.80), ScoredInsight(insight=unsafe, score=0.75)]
    assert [h.insight.id for h in rr.rerank(q, near, tenant=TENANT, k=2)] == ["unsafe-1", "safe-1"]
    mid = [ScoredInsight(insight=border, score=0.78), ScoredInsight(insight=safe, score=0.80)]
    assert rr.rerank(q, mid, tenant=TENANT, k=1)[0].insight.verdict is Verdict.BORDERLINE
    assert rr.rerank(q, near, tenant="empty-tenant", k=2) == near  # no axis: store order


# -- failures never break prepare ----------------------------------------------------------------


def test_a_failing_reranker_never_breaks_prepare(tmp_path: Path) -> None:
    class Broken:
        calls = 0

        def rerank(self, vector: Any, hits: Any, *, tenant: str, k: int) -> list[ScoredInsight]:
            Broken.calls += 1
            raise RuntimeError("reranker on fire")

    guard = make_guard(tmp_path, policy(), reranker=Broken())
    store = guard.bound_store()
    want = [
        h.insight.id
        for h in store.search(QUERIES["unsafe request"], tenant=TENANT, k=3, min_score=0.0)
    ]
    assert top(guard, "unsafe request") == want
    got = asyncio.run(
        guard.aprepare([{"role": "user", "content": "unsafe request"}], tenant=TENANT)
    )
    assert [h.insight.id for h in got.insights] == want
    assert Broken.calls == 2
    assert rerank_hits(Broken(), QUERIES["safe request"], [], tenant=TENANT, k=3) == []


class UnreadableStore(LocalStore):
    reads = 0

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        UnreadableStore.reads += 1
        raise OSError("disk on fire")


def test_a_failing_fit_keeps_the_store_order_and_is_not_retried_per_request(
    tmp_path: Path,
) -> None:
    clock = [0.0]
    store = UnreadableStore(tmp_path / "s")
    rr = IntentRerank(store, IntentRerankPolicy(refresh_s=60), clock=lambda: clock[0])
    guard = Guard(store=store, policy=policy(), keys=KeyBuilder(TableEmbedder(), None), reranker=rr)
    guard.bound_store().upsert([insight(n, v) for n, v in MEMORY.items()])
    want = [
        h.insight.id
        for h in store.search(QUERIES["unsafe request"], tenant=TENANT, k=3, min_score=0.0)
    ]
    assert top(guard, "unsafe request") == want
    assert rr.wait_idle()
    assert top(guard, "unsafe request") == want
    assert UnreadableStore.reads == 1 and rr.errors == 1
    clock[0] = 61.0
    top(guard, "unsafe request")
    assert rr.wait_idle()
    assert UnreadableStore.reads == 2


# -- fitting schedule ----------------------------------------------------------------------------


def test_requests_never_fit_inline_the_axis_is_fitted_in_the_background(tmp_path: Path) -> None:
    guard = make_guard(tmp_path / "g", policy())
    rr = IntentRerank(guard.bound_store(), guard.policy.retrieval.intent)
    guard = Guard(
        store=guard.bound_store(),
        policy=guard.policy,
        keys=KeyBuilder(TableEmbedder(), None),
        reranker=rr,
    )
    assert top(guard, "unsafe request")[0] == "safe-1"  # not fitted yet: cosine order
    assert rr.wait_idle() and rr.axis(TENANT) is not None
    assert top(guard, "unsafe request")[0] == "unsafe-1"


def test_the_axis_is_refitted_when_the_memory_changed(tmp_path: Path) -> None:
    clock = [0.0]
    store = LocalStore(tmp_path / "s")
    rr = IntentRerank(
        store, IntentRerankPolicy(refresh_s=10), background=False, clock=lambda: clock[0]
    )
    store.bind(LAYOUT)
    store.upsert([insight(n, v) for n, v in MEMORY.items()])
    hits = [
        ScoredInsight(insight=insight("safe-1", MEMORY["safe-1"]), score=0.8),
        ScoredInsight(insight=insight("unsafe-1", MEMORY["unsafe-1"]), score=0.75),
    ]
    q = QUERIES["unsafe request"]
    rr.rerank(q, hits, tenant=TENANT, k=2)
    assert rr.fits == 1
    clock[0] = 5.0
    rr.rerank(q, hits, tenant=TENANT, k=2)
    clock[0] = 20.0
    rr.rerank(q, hits, tenant=TENANT, k=2)
    assert rr.fits == 1  # checked, count unchanged: no refit
    store.upsert([insight("unsafe-7", vec(2, 0.6, 0.0))])
    clock[0] = 40.0
    rr.rerank(q, hits, tenant=TENANT, k=2)
    axis = rr.axis(TENANT)
    assert rr.fits == 2 and axis is not None and axis.n_unsafe == 7


def test_policy_file_carries_the_knobs() -> None:
    r = load_policy().retrieval
    assert r.rerank is RerankMethod.PROBE and r.candidates >= r.k
    assert r.intent == IntentRerankPolicy()
    guard = Guard(
        store=LocalStore(Path("/nonexistent")),
        policy=load_policy(),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )
    r = guard.policy.retrieval
    assert build_reranker(r, guard.store) is None  # probe: the verdict model orders candidates
    intent = r.model_copy(update={"rerank": RerankMethod.INTENT})
    assert isinstance(build_reranker(intent, guard.store), IntentRerank)
