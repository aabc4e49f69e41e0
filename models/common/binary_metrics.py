"""Metrics for binary-outcome plugins (AUC with bootstrap intervals, calibration, Brier).

Plain NumPy on arrays ``y`` (0/1) and ``p`` (predicted probabilities), so the same code scores a
scikit-learn model and the exported ONNX graph. Used by the response and toxicity builds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

Array = NDArray[np.float64]


def auc(y: Array, p: Array) -> float:
    """Return the area under the ROC curve (Mann-Whitney, ties count one half)."""
    y = np.asarray(y, dtype=bool)
    ranks = rankdata(p)
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def bootstrap_auc(y: Array, scores: list[Array], n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> list[tuple[float, float]]:
    """Return a percentile bootstrap interval of the AUC of each score, same resamples for all.

    The last tuple is the interval of ``AUC(scores[0]) - AUC(scores[-1])`` when several scores
    are given (a paired difference, e.g. Bayes-optimal minus model).
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    draws = np.empty((n_boot, len(scores)))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            draws[b] = np.nan
            continue
        draws[b] = [auc(y[idx], s[idx]) for s in scores]
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out = [tuple(float(v) for v in np.nanpercentile(draws[:, k], q)) for k in range(len(scores))]
    if len(scores) > 1:
        diff = draws[:, 0] - draws[:, -1]
        out.append(tuple(float(v) for v in np.nanpercentile(diff, q)))
    return out  # type: ignore[return-value]


def calibration_slope_intercept(y: Array, p: Array) -> tuple[float, float]:
    """Return (slope, intercept) of the logistic recalibration ``logit P(y) = a + b logit(p)``.

    Slope 1 and intercept 0 mean perfect calibration in the weak sense (Van Calster 2016); the
    fit is an unpenalised logistic regression solved by Newton's method.
    """
    eps = 1e-9
    x = np.log(np.clip(p, eps, 1 - eps) / np.clip(1 - p, eps, 1))
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(50):
        mu = 1 / (1 + np.exp(-design @ beta))
        grad = design.T @ (y - mu)
        hess = design.T @ (design * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[1]), float(beta[0])


def bootstrap_calibration(y: Array, p: Array, n_boot: int = 1000, seed: int = 0,
                          level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Return percentile bootstrap intervals of the calibration slope and intercept."""
    rng = np.random.default_rng([seed, 7])
    n = len(y)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if y[idx].min() != y[idx].max():
            draws.append(calibration_slope_intercept(y[idx], p[idx]))
    arr = np.array(draws)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo, hi = np.percentile(arr, q, axis=0)
    return {"slope": (float(lo[0]), float(hi[0])), "intercept": (float(lo[1]), float(hi[1]))}


def binned_calibration(y: Array, p: Array, bins: int = 10) -> list[dict[str, float]]:
    """Return per-quantile-bin mean predicted and observed rates with the bin size."""
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, bins):
        out.append({"predicted": float(p[chunk].mean()), "observed": float(y[chunk].mean()),
                    "n": float(len(chunk))})
    return out


def brier(y: Array, p: Array) -> float:
    """Return the Brier score (mean squared error of the probabilities)."""
    return float(np.mean((p - y) ** 2))
