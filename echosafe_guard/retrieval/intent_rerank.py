"""``IntentRerank``: re-rank candidates along the memory's own unsafe-vs-safe intent axis.

Twins are close in any embedding space: cosine order tells the topic, not the intent. The
memory itself knows which keys led to unsafe and which to safe insights, so per tenant a
shrinkage linear discriminant (LDA) is fitted on the insights' key vectors::

    w = S⁻¹ (μ_unsafe - μ_safe),   S = (1 - λ)·S_within + λ·(tr S_within / d)·I
    z = w·q - w·(μ_unsafe + μ_safe)/2 + log(n_unsafe / n_safe)

``z`` is the log-odds that the request key ``q`` is unsafe under the LDA model. Each candidate's
similarity is moved by ``weight · tanh(z/2)`` (``= weight·(2p - 1)``) towards the predicted
verdict: ``+`` for an unsafe insight, ``-`` for a safe one, ``0`` for a borderline one. Hits keep
their cosine score; only the order changes, so near-duplicates (more similar by more than
``2·weight``) keep priority.

Request path: one dot product and a sort of the candidates (microseconds); it never reads the
store. The fit reads the tenant's insights (``count``, ``iter_insights``, ``get``: at most
``max_fit``, a stable verdict-balanced sample) on a background worker thread only: queued on a
tenant's first request (which, like every request until the axis is ready, keeps the store's
order), then every ``refresh_s`` when the tenant's insight count changed (or after
``12 · refresh_s`` anyway). So no request, sync or async, ever fits or scans inline.
Per tenant the state is one ``d``-float vector (3.5 KiB for the 896-d default key layout).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echosafe_guard.memory.base import InsightStore, Vector
from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.models import IntentRerankPolicy
from echosafe_guard.retrieval.tenant_fits import LIVE, TenantFits, TenantFitted, sample_rank

__all__ = ["IntentAxis", "IntentRerank", "fit_intent_axis"]

log = logging.getLogger("echosafe_guard.rerank")

_SIGN = {Verdict.UNSAFE: 1.0, Verdict.SAFE: -1.0, Verdict.BORDERLINE: 0.0}
MAX_AGE_FACTOR = 12.0


@dataclass(frozen=True)
class IntentAxis:
    """A fitted discriminant: ``log-odds(unsafe | key q) = q·w + bias``."""

    w: npt.NDArray[np.float32]
    bias: float
    n_unsafe: int
    n_safe: int
    shrinkage: float

    def log_odds(self, vector: Vector) -> float:
        return float(np.dot(vector, self.w)) + self.bias


def fit_intent_axis(
    vectors: npt.NDArray[np.floating],
    unsafe: npt.NDArray[np.bool_],
    *,
    shrinkage: float,
    min_per_verdict: int = 1,
) -> IntentAxis | None:
    """Shrinkage LDA on ``vectors`` (rows: unsafe where ``unsafe``, safe elsewhere).

    Dimensions that are zero in every row (e.g. the image part of a text-only memory) are left
    out of the fit and get weight 0. None when either verdict has fewer than ``min_per_verdict``
    rows or nothing varies."""
    if not 0.0 < shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in (0, 1], got {shrinkage}")
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(unsafe, dtype=bool)
    n_u, n_s = int(y.sum()), int((~y).sum())
    if x.ndim != 2 or len(x) != len(y) or min(n_u, n_s) < max(1, min_per_verdict):
        return None
    active = np.any(x != 0.0, axis=0)
    xa = x[:, active]
    mu_u, mu_s = xa[y].mean(axis=0), xa[~y].mean(axis=0)
    centred = np.concatenate([xa[y] - mu_u, xa[~y] - mu_s])
    n, d = centred.shape
    mean_var = float(np.einsum("ij,ij->", centred, centred)) / (n * max(d, 1))
    if mean_var <= 0.0:
        return None
    diff = mu_u - mu_s
    ridge = shrinkage * mean_var  # S = ridge * I + scale * centredᵀ centred
    scale = (1.0 - shrinkage) / n
    if scale == 0.0:
        wa = diff / ridge
    elif n < d:  # Woodbury: an n x n system instead of d x d
        gram = centred @ centred.T
        gram[np.diag_indices_from(gram)] += ridge / scale
        wa = (diff - centred.T @ np.linalg.solve(gram, centred @ diff)) / ridge
    else:
        cov = scale * (centred.T @ centred)
        cov[np.diag_indices_from(cov)] += ridge
        wa = np.linalg.solve(cov, diff)
    bias = -float(wa @ (mu_u + mu_s)) / 2 + math.log(n_u / n_s)
    w = np.zeros(x.shape[1], dtype=np.float32)
    w[active] = wa
    return IntentAxis(w=w, bias=bias, n_unsafe=n_u, n_safe=n_s, shrinkage=shrinkage)


@dataclass(frozen=True)
class _State:
    axis: IntentAxis | None
    count: int
    fitted: float
    checked: float


class IntentRerank(TenantFitted):
    """The ``intent`` :class:`~echosafe_guard.retrieval.rerank.Reranker`. Thread-safe.

    The default fits on one daemon worker thread (``tenant_fits.TenantFits``: started on demand,
    gone after ``IDLE_S`` without work) and never waits for it. ``background=False`` fits on the
    calling thread instead (tests and offline benchmarks only: never in front of requests)."""

    def __init__(
        self,
        store: InsightStore,
        policy: IntentRerankPolicy | None = None,
        *,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.policy = policy or IntentRerankPolicy()
        self.background = background
        self._fits: TenantFits[_State] = TenantFits(
            fit=self._fit,
            count=store.count,
            empty=lambda now: _State(None, -1, now, now),
            refresh_s=self.policy.refresh_s,
            background=background,
            clock=clock,
            name="echosafe-intent-rerank",
            what="intent axis",
            log=log,
            max_age=MAX_AGE_FACTOR * self.policy.refresh_s,
        )

    # -- request path ----------------------------------------------------------------------------

    def axis(self, tenant: str) -> IntentAxis | None:
        """The tenant's current axis (None while unfitted or when the memory is too small)."""
        st = self._fits.get(tenant)
        return None if st is None else st.axis

    def rerank(
        self, vector: Vector, hits: Sequence[ScoredInsight], *, tenant: str, k: int
    ) -> list[ScoredInsight]:
        st = self._fits.current(tenant)
        axis = None if st is None else st.axis
        if axis is None or len(hits) < 2 or axis.w.shape != np.shape(vector):
            return list(hits[:k])
        push = self.policy.weight * math.tanh(axis.log_odds(vector) / 2)
        adjusted = [h.score + push * _SIGN[h.insight.verdict] for h in hits]
        order = sorted(range(len(hits)), key=adjusted.__getitem__, reverse=True)  # stable
        return [hits[i] for i in order[:k]]

    # -- fitting ----------------------------------------------------------------------------------

    def refresh(self, tenant: str, *, force: bool = True) -> IntentAxis | None:
        """Fit the tenant's axis now on this thread (``force=False``: only when the tenant's
        insight count changed or the axis is older than ``12 · refresh_s``). Store errors
        propagate; the previous axis stays in place."""
        return self._fits.refresh(tenant, force=force).axis

    def _fit(self, tenant: str, count: int, now: float) -> _State:
        vectors, unsafe = self._read(tenant, count)
        axis = fit_intent_axis(
            vectors,
            unsafe,
            shrinkage=self.policy.shrinkage,
            min_per_verdict=self.policy.min_per_verdict,
        )
        return _State(axis, count, now, now)

    def _read(
        self, tenant: str, count: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Key vectors and verdicts of the tenant's live unsafe and safe insights (a stable
        sample of at most ``max_fit``, half per verdict where both have that many)."""
        cap = self.policy.max_fit
        rows: list[tuple[npt.NDArray[np.float32], bool]] = []

        def add(vector: tuple[float, ...] | None, unsafe: bool) -> None:
            if vector:
                rows.append((np.asarray(vector, dtype=np.float32), unsafe))
                if len(rows) % 32 == 0:
                    time.sleep(0)  # let request threads have the GIL between small batches

        if count <= cap:
            for i in self.store.iter_insights(tenant, with_vector=True):
                if i.status in LIVE and i.verdict is not Verdict.BORDERLINE:
                    add(i.vector, i.verdict is Verdict.UNSAFE)
        else:
            by_verdict: dict[bool, list[str]] = {True: [], False: []}
            for i in self.store.iter_insights(tenant):
                if i.status in LIVE and i.verdict is not Verdict.BORDERLINE:
                    by_verdict[i.verdict is Verdict.UNSAFE].append(i.id)
            quota = {v: max(cap // 2, cap - len(by_verdict[not v])) for v in (True, False)}
            for v, ids in by_verdict.items():
                for iid in sorted(ids, key=sample_rank)[: quota[v]]:
                    got = self.store.get(tenant, iid, with_vector=True)
                    add(got.vector if got is not None else None, v)
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, bool)
        return np.stack([r[0] for r in rows]), np.asarray([r[1] for r in rows], dtype=bool)
