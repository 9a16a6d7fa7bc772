"""A linear probe ``P(unsafe | key)`` fitted from the memory's own labelled insights.

L2-regularised logistic regression, solved by Newton's method in the ``n``-dimensional sample
space (``n`` insights ≤ a few thousand, ``d`` up to ~1.2k: an ``n x n`` solve per step). The
fit runs off the request path; the request path is one dot product (:meth:`LinearProbe.logit`).

:func:`fit_calibrated_probe` makes the logit a calibrated log-odds for requests unlike the
memory: the probe is refitted with whole groups (categories) held out, the held-out logits get
a Platt scale ``a·z + b``, and the final probe (fitted on everything) is scaled by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LinearProbe", "fit_calibrated_probe", "fit_platt", "fit_probe"]

Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LinearProbe:
    """``logit(unsafe | x) = x·w + bias``; ``n_unsafe`` / ``n_safe``: the rows it was fitted on."""

    w: npt.NDArray[np.float32]
    bias: float
    n_unsafe: int
    n_safe: int

    def logit(self, x: npt.NDArray[np.floating]) -> float:
        return float(np.dot(np.asarray(x, dtype=np.float32), self.w)) + self.bias

    def logits(self, xs: npt.NDArray[np.floating]) -> Arr:
        return np.asarray(xs, dtype=np.float64) @ self.w.astype(np.float64) + self.bias


def _sigmoid(z: Arr) -> Arr:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def fit_probe(
    x: npt.NDArray[np.floating],
    unsafe: npt.NDArray[np.bool_],
    *,
    l2: float = 1.0,
    balanced: bool = True,
    iterations: int = 15,
    tol: float = 1e-5,
) -> LinearProbe | None:
    """Minimise ``Σ c_i·logloss(y_i, x_i·w + b) + l2/2·|w|²`` (``c_i``: 1, or inverse class
    frequency when ``balanced``). None when a class is empty or the input is degenerate."""
    if l2 <= 0.0:
        raise ValueError(f"l2 must be > 0, got {l2}")
    xa = np.asarray(x, dtype=np.float64)
    y = np.asarray(unsafe, dtype=bool)
    n_u, n_s = int(y.sum()), int((~y).sum())
    if xa.ndim != 2 or len(xa) != len(y) or n_u == 0 or n_s == 0:
        return None
    n = len(y)
    c = np.ones(n)
    if balanced:
        c = np.where(y, n / (2.0 * n_u), n / (2.0 * n_s))
    # the bias is an extra column of ones with a tiny penalty relative to l2
    xb = np.concatenate([xa, np.full((n, 1), 10.0)], axis=1)
    gram = xb @ xb.T
    t = y.astype(np.float64)
    beta = np.zeros(xb.shape[1])
    f = np.zeros(n)
    for _ in range(iterations):
        p = _sigmoid(f)
        grad = xb.T @ (c * (p - t)) + l2 * beta
        dvec = np.maximum(c * p * (1.0 - p), 1e-10)
        s = np.sqrt(dvec)
        # (l2 I + Xᵀ D X)⁻¹ g = (g - Xᵀ S (l2 I + S X Xᵀ S)⁻¹ S X g) / l2
        inner = (s[:, None] * gram) * s[None, :]
        inner[np.diag_indices_from(inner)] += l2
        sxg = s * (xb @ grad)
        step = (grad - xb.T @ (s * np.linalg.solve(inner, sxg))) / l2
        beta -= step
        f = xb @ beta
        if float(np.max(np.abs(step))) < tol:
            break
    if not np.all(np.isfinite(beta)):
        return None
    w = beta[:-1].astype(np.float32)
    bias = float(beta[-1] * 10.0)
    if not math.isfinite(bias):
        return None
    return LinearProbe(w=w, bias=bias, n_unsafe=n_u, n_safe=n_s)


def fit_platt(z: npt.NDArray[np.floating], unsafe: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """``(a, b)`` of the 1-d logistic ``P(unsafe) = sigmoid(a·z + b)`` (Newton, a light ridge
    towards ``a = 1, b = 0``). ``(1, 0)`` when a class is empty."""
    zz = np.asarray(z, dtype=np.float64)
    t = np.asarray(unsafe, dtype=np.float64)
    if len(zz) == 0 or t.min() == t.max():
        return 1.0, 0.0
    x = np.stack([zz, np.ones_like(zz)], axis=1)
    prior = np.array([1.0, 0.0])
    beta = prior.copy()
    ridge = 1e-3 * len(zz)
    for _ in range(50):
        p = _sigmoid(x @ beta)
        grad = x.T @ (p - t) + ridge * (beta - prior)
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return float(beta[0]), float(beta[1])


def fit_calibrated_probe(
    x: npt.NDArray[np.floating],
    unsafe: npt.NDArray[np.bool_],
    groups: npt.NDArray[np.str_] | list[str],
    *,
    l2: float = 1.0,
    folds: int = 3,
) -> LinearProbe | None:
    """A probe whose logit is Platt-scaled on out-of-group logits.

    The distinct ``groups`` (e.g. categories) are dealt round-robin into at most ``folds``
    folds; each fold's rows are scored by a probe fitted on the other folds. Fewer than two
    groups: the uncalibrated probe."""
    y = np.asarray(unsafe, dtype=bool)
    xa = np.asarray(x, dtype=np.float64)
    final = fit_probe(xa, y, l2=l2)
    g = np.asarray(groups)
    names = sorted(set(g.tolist()))
    if final is None or len(names) < 2:
        return final
    fold_of = {name: i % min(folds, len(names)) for i, name in enumerate(names)}
    fold = np.array([fold_of[v] for v in g.tolist()])
    z = np.zeros(len(y))
    for f in range(min(folds, len(names))):
        test = fold == f
        probe = fit_probe(xa[~test], y[~test], l2=l2)
        if probe is None:
            return final
        z[test] = probe.logits(xa[test])
    a, b = fit_platt(z, y)
    a = max(a, 0.0)  # never invert the probe
    return LinearProbe(
        w=(final.w * a).astype(np.float32),
        bias=final.bias * a + b,
        n_unsafe=final.n_unsafe,
        n_safe=final.n_safe,
    )
