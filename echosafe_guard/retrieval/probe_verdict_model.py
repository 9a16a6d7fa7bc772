"""``ProbeVerdictModel``: the :class:`VerdictModel` the guard's retrieval stage calls.

Per tenant, off the request path, it reads the live unsafe / safe insights with their key
vectors (``store.iter_insights(tenant, with_vector=True)``, at most ``max_fit``, a stable
verdict-balanced sample) and fits:

* a logistic probe ``P(unsafe | key)``, Platt-scaled on the logits of categories held out of
  the fit (:func:`~echosafe_guard.retrieval.probe.fit_calibrated_probe`);
* each insight's twin: its nearest insight of the opposite verdict in the same category
  (:func:`~echosafe_guard.retrieval.verdict_model.fit_twins`), kept as ``id -> twin key``.

On the request path the probe's logit is fused with a :class:`TextVerdict`'s reading of the
request's own words when one is given and ``text_weight`` > 0
(:func:`~echosafe_guard.retrieval.text_verdict.fuse_logits`); a text model that fails to load
is logged once and the probe reads alone.

On the request path :meth:`assess` is a dot product and a sort of the candidates. A tenant not
fitted yet is queued for a fit on a daemon worker thread and answered meanwhile with the
documented fallback (the cosine vote of the nearest candidates, ``fitted=False``); a fit that
fails keeps the previous state and is retried after ``refresh_s``. The state is refitted in
the background when the tenant's insight count changed (checked every ``refresh_s``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echosafe_guard.exceptions import EchoSafeError
from echosafe_guard.memory.base import InsightStore, Vector
from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.retrieval import VerdictPolicy
from echosafe_guard.retrieval.probe import LinearProbe, fit_calibrated_probe, fit_probe
from echosafe_guard.retrieval.tenant_fits import LIVE, TenantFits, TenantFitted, sample_rank
from echosafe_guard.retrieval.text_verdict import TextVerdict, fuse_logits
from echosafe_guard.retrieval.verdict_assessment import Assessment, VerdictModel
from echosafe_guard.retrieval.verdict_model import Call, fit_twins, score_candidates

__all__ = ["ProbeVerdictModel", "TenantVerdictState"]

log = logging.getLogger("echosafe_guard.retrieval")


@dataclass(frozen=True)
class TenantVerdictState:
    """What one fit produced for a tenant (``probe`` None: too few labelled insights)."""

    probe: LinearProbe | None
    twins: dict[str, npt.NDArray[np.float32]]
    count: int
    fitted: float
    checked: float


class ProbeVerdictModel(TenantFitted):
    """Thread-safe. ``background=False`` fits on the calling thread (tests, benchmarks)."""

    def __init__(
        self,
        store: InsightStore,
        config: VerdictPolicy | None = None,
        *,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
        text: TextVerdict | None = None,
    ) -> None:
        self.store = store
        self.config = config or VerdictPolicy()
        self.text = text
        self._text_failed = False
        self._text_read = False
        self.background = background
        self._fits: TenantFits[TenantVerdictState] = TenantFits(
            fit=self._fit,
            count=store.count,
            empty=lambda now: TenantVerdictState(None, {}, -1, now, now),
            refresh_s=self.config.refresh_s,
            background=background,
            clock=clock,
            name="echosafe-verdict-model",
            what="verdict model",
            log=log,
        )

    # -- request path ----------------------------------------------------------------------------

    def assess(
        self,
        vector: Vector,
        hits: Sequence[ScoredInsight],
        *,
        tenant: str,
        k: int,
        text: str = "",
    ) -> Assessment:
        """Reorder ``hits`` (best first by cosine) for the request key ``vector``; keep ``k``.
        ``text``: the request text the key was built from (read by the text model)."""
        st = self._fits.current(tenant)
        probe = st.probe if st is not None else None
        logit = None
        if probe is not None and probe.w.shape == np.shape(vector):
            logit = fuse_logits(probe.logit(vector), self.text_logit(text), self.config.text_weight)
        twins = st.twins if st is not None else {}
        verdicts = [h.insight.verdict for h in hits]
        cand_unsafe = [None if v is Verdict.BORDERLINE else v is Verdict.UNSAFE for v in verdicts]
        twin_vectors = None
        if hits and twins and all(h.insight.vector is not None for h in hits):
            rows = [
                twins.get(h.insight.id, np.asarray(h.insight.vector, dtype=np.float32))
                for h in hits
            ]
            if all(r.shape == np.shape(vector) for r in rows):
                twin_vectors = np.stack(rows)
        res = score_candidates(
            self.config,
            query=vector,
            cand_scores=np.array([h.score for h in hits], dtype=np.float64),
            cand_unsafe=cand_unsafe,
            twin_vectors=twin_vectors,
            probe_logit=logit,
            k=k,
        )
        order, call = list(res.order), res.call
        best = max(range(len(hits)), key=lambda i: hits[i].score, default=None)
        if best is not None and hits[best].score >= self.config.duplicate_at:
            same = {Verdict.UNSAFE: Call.UNSAFE, Verdict.SAFE: Call.SAFE}
            call = same.get(hits[best].insight.verdict, call)
            order = [best, *(i for i in order if i != best)][:k]
        return Assessment(
            hits=tuple(hits[i] for i in order),
            p_unsafe=res.p_unsafe,
            call=call,
            fitted=res.fitted,
        )

    @property
    def text_ready(self) -> bool:
        """False until the text model has been read once (its first read loads it: blocking,
        about 0.1 s; :meth:`warm_text` does it, and ``Retriever.asearch`` calls that on a worker
        thread)."""
        return self._text_read or self.text is None or self.config.text_weight <= 0.0

    def warm_text(self) -> None:
        """Read the text model once, so that its file is loaded now (blocking) and not on a
        request; :attr:`text_ready` is True afterwards, whether the load worked or not."""
        self.text_logit("warm up")

    def text_logit(self, text: str) -> float | None:
        """The text model's log-odds for ``text`` (None: no model, weight 0, no text, or a model
        that failed to load: logged once, then skipped)."""
        if self.text is None or self.config.text_weight <= 0.0 or self._text_failed or not text:
            return None
        try:
            return self.text.logit(text)
        except EchoSafeError as exc:
            self._text_failed = True
            log.warning("text intent model unavailable, the probe reads alone: %s", exc)
            return None
        finally:
            self._text_read = True

    def verdict(self, tenant: str, vector: Vector) -> Verdict | None:
        """The tenant probe's verdict on ``vector``: ``unsafe``/``safe`` when confident,
        ``borderline`` when unsure, None when no probe could be fitted (too few labelled
        insights). Off the request path (the learner's check): fits on this thread if needed."""
        st = self.state(tenant) or self.refresh(tenant, force=False)
        if st.probe is None or st.probe.w.shape != np.shape(vector):
            return None
        res = score_candidates(
            self.config,
            query=vector,
            cand_scores=np.zeros(0),
            cand_unsafe=[],
            twin_vectors=None,
            probe_logit=st.probe.logit(vector),
            k=0,
        )
        said = {Call.UNSAFE: Verdict.UNSAFE, Call.SAFE: Verdict.SAFE}
        return said.get(res.call, Verdict.BORDERLINE)

    def state(self, tenant: str) -> TenantVerdictState | None:
        return self._fits.get(tenant)

    # -- fitting (off the request path) ----------------------------------------------------------

    def refresh(self, tenant: str, *, force: bool = True) -> TenantVerdictState:
        """Fit the tenant's state now on this thread (``force=False``: only when its insight
        count changed). Store errors propagate; the previous state stays in place."""
        return self._fits.refresh(tenant, force=force)

    def _fit(self, tenant: str, count: int, now: float) -> TenantVerdictState:
        ids, vectors, unsafe, cats = self._read(tenant)
        probe: LinearProbe | None = None
        twins: dict[str, npt.NDArray[np.float32]] = {}
        n_u = int(unsafe.sum())
        if min(n_u, len(unsafe) - n_u) >= self.config.min_per_verdict:
            if self.config.calibration_folds:
                probe = fit_calibrated_probe(
                    vectors,
                    unsafe,
                    cats,
                    l2=self.config.probe_l2,
                    folds=self.config.calibration_folds,
                )
            else:
                probe = fit_probe(vectors, unsafe, l2=self.config.probe_l2)
            if self.config.contrast_weight > 0:
                twin = fit_twins(vectors, unsafe, cats)
                twins = {iid: vectors[j] for iid, j in zip(ids, twin, strict=True)}
        return TenantVerdictState(probe, twins, count, now, now)

    def _read(
        self, tenant: str
    ) -> tuple[list[str], npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.str_]]:
        rows = []
        for n, ins in enumerate(self.store.iter_insights(tenant, with_vector=True)):
            if ins.status in LIVE and ins.verdict is not Verdict.BORDERLINE and ins.vector:
                rows.append((ins.id, ins.vector, ins.verdict is Verdict.UNSAFE, ins.category))
            if n % 64 == 63:
                time.sleep(0)  # let request threads have the GIL
        cap = self.config.max_fit
        if len(rows) > cap:  # a stable, verdict-balanced sample
            by_v = {
                v: sorted((r for r in rows if r[2] is v), key=lambda r: sample_rank(r[0]))
                for v in (True, False)
            }
            quota = {v: max(cap // 2, cap - len(by_v[not v])) for v in (True, False)}
            rows = by_v[True][: quota[True]] + by_v[False][: quota[False]]
        if not rows:
            return [], np.zeros((0, 0), np.float32), np.zeros(0, bool), np.zeros(0, str)
        return (
            [r[0] for r in rows],
            np.asarray([r[1] for r in rows], dtype=np.float32),
            np.asarray([r[2] for r in rows], dtype=bool),
            np.asarray([r[3] for r in rows]),
        )


def _check_protocol(m: ProbeVerdictModel) -> VerdictModel:
    return m  # mypy checks that ProbeVerdictModel satisfies the VerdictModel Protocol
