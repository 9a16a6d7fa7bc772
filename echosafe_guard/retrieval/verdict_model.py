"""The verdict model: how unsafe a request looks, and which insights to show first.

Twins (an unsafe request and its safe look-alike) are close in any embedding space, so the
nearest insight tells the topic, not the intent. The verdict model combines, per request:

* a linear **probe** ``P(unsafe | key)`` fitted from the memory's own labelled insights
  (:mod:`echosafe_guard.retrieval.probe`, off the request path, per tenant);
* a local **twin contrast**: every insight is paired (off the path) with its nearest insight of
  the opposite verdict in the same category, its twin; for the nearest candidates the request's
  side of each pair, ``cos(q, c) - cos(q, twin(c))`` signed by ``c``'s verdict, is evidence;
* the **cosine vote** of the nearest candidates (the fallback before any fit is ready).

Their weighted sum is a log-odds ``z``; ``p_unsafe = sigmoid(z)``. The three-way call is
``unsafe`` when ``p_unsafe ≥ 0.5 + band``, ``safe`` when ``≤ safe_at`` (default ``0.5 - band``),
else ``unsure``.
Ordering: a confident call shows the candidates of the called verdict first (by cosine), then
the others; ``unsure`` alternates the best of each side (unsafe first when ``p_unsafe ≥
unsafe_first_at``), so the block can show the contrast. Request path: a few dot products
over the candidates (microseconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from echosafe_guard.policy.retrieval import VerdictPolicy

__all__ = [
    "Call",
    "VerdictScore",
    "fit_twins",
    "score_candidates",
]

Arr = npt.NDArray[np.floating]


class Call(StrEnum):
    """The three-way reading of ``p_unsafe``."""

    UNSAFE = "unsafe"
    UNSURE = "unsure"
    SAFE = "safe"


@dataclass(frozen=True)
class VerdictScore:
    """``order``: candidate positions, best first (at most ``k``); ``p_unsafe`` in (0, 1)."""

    order: tuple[int, ...]
    p_unsafe: float
    call: Call
    z: float
    fitted: bool


def fit_twins(
    vectors: Arr, unsafe: npt.NDArray[np.bool_], category: npt.NDArray[np.str_] | Sequence[str]
) -> npt.NDArray[np.intp]:
    """For each row, the index of its nearest row of the opposite verdict (same category when
    there is one, else any). A row with no opposite-verdict row is its own twin."""
    v = np.asarray(vectors, dtype=np.float32)
    y = np.asarray(unsafe, dtype=bool)
    cat = np.asarray(category)
    sim = v @ v.T
    same_cat = cat[:, None] == cat[None, :]
    opposite = y[:, None] != y[None, :]
    pref = np.where(opposite & same_cat, sim, np.where(opposite, sim - 10.0, -np.inf))
    twin = np.argmax(pref, axis=1)
    none = ~np.isfinite(pref[np.arange(len(v)), twin]) if len(v) else np.zeros(0, bool)
    twin[none] = np.arange(len(v))[none]
    out: npt.NDArray[np.intp] = twin.astype(np.intp)
    return out


def _sigmoid(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * z))


def _order(sign: Arr, call: Call, lean_unsafe: bool, k: int) -> tuple[int, ...]:
    """Candidate positions (already by descending cosine) for the call."""
    idx = list(range(len(sign)))
    unsafe_side = [i for i in idx if sign[i] > 0]
    safe_side = [i for i in idx if sign[i] < 0]
    other = [i for i in idx if sign[i] == 0]
    if call is Call.UNSAFE:
        return tuple((unsafe_side + safe_side + other)[:k])
    if call is Call.SAFE:
        return tuple((safe_side + unsafe_side + other)[:k])
    first, second = (unsafe_side, safe_side) if lean_unsafe else (safe_side, unsafe_side)
    out: list[int] = []
    for a, b in zip(first, second, strict=False):
        out += [a, b]
    n = min(len(first), len(second))
    out += first[n:] + second[n:] + other
    return tuple(out[:k])


def score_candidates(
    cfg: VerdictPolicy,
    *,
    query: Arr,
    cand_scores: Arr,
    cand_unsafe: npt.NDArray[np.bool_] | Sequence[bool | None],
    twin_vectors: Arr | None,
    probe_logit: float | None,
    k: int,
) -> VerdictScore:
    """Score one request's candidates (given best first by cosine ``cand_scores``).

    ``cand_unsafe``: True / False per candidate (None for a borderline insight);
    ``twin_vectors``: each candidate's twin key (None: no twin contrast); ``probe_logit``: the
    tenant probe's logit for the request (None: not fitted yet)."""
    n = len(cand_scores)
    sign = np.array(
        [0.0 if u is None else (1.0 if u else -1.0) for u in cand_unsafe], dtype=np.float64
    )
    if n == 0:
        z = probe_logit * cfg.probe_weight if probe_logit is not None else 0.0
        p = _sigmoid(z)
        return VerdictScore((), p, _call(cfg, p), z, probe_logit is not None)
    m = min(cfg.contrast_top, n)
    scores = np.asarray(cand_scores, dtype=np.float64)
    fitted = probe_logit is not None
    z = 0.0
    vote = float(np.mean(sign[:m]))
    if fitted:
        assert probe_logit is not None
        z += cfg.probe_weight * probe_logit + cfg.vote_weight * vote
    else:
        z += cfg.fallback_vote_weight * vote
    if cfg.contrast_weight > 0 and twin_vectors is not None:
        q = np.asarray(query, dtype=np.float64)
        twin_s = np.asarray(twin_vectors, dtype=np.float64)[:m] @ q
        z += cfg.contrast_weight * float(np.mean(sign[:m] * (scores[:m] - twin_s)))
    p = _sigmoid(z)
    call = _call(cfg, p)
    lean_unsafe = p >= cfg.unsafe_first_at
    return VerdictScore(_order(sign, call, lean_unsafe, k), p, call, z, fitted)


def _call(cfg: VerdictPolicy, p: float) -> Call:
    if p >= cfg.unsafe_edge:
        return Call.UNSAFE
    if p <= cfg.safe_edge:
        return Call.SAFE
    return Call.UNSURE
