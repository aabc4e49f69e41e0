"""Survival metrics shared by the plugin build scripts (no training code here).

Every function takes plain NumPy arrays: ``time`` (float), ``event`` (bool, True = event
observed) and predictions, so the same code scores a scikit-survival model in cross-validation and
the exported ONNX graph in the validation step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sksurv.metrics import concordance_index_censored, integrated_brier_score
from sksurv.nonparametric import kaplan_meier_estimator


def _structured(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = np.asarray(event, dtype=bool)
    out["time"] = np.asarray(time, dtype=float)
    return out


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Return Harrell's concordance index of ``risk`` (higher = earlier event)."""
    return float(concordance_index_censored(
        np.asarray(event, dtype=bool), np.asarray(time, dtype=float),
        np.asarray(risk, dtype=float))[0])


def ibs(train_time: np.ndarray, train_event: np.ndarray, test_time: np.ndarray,
        test_event: np.ndarray, surv: np.ndarray, grid: np.ndarray) -> float:
    """Return the IPCW integrated Brier score of survival curves ``surv`` (n x len(grid)).

    The censoring distribution is estimated on the training data (Graf et al. 1999). Grid points at
    or beyond the last test follow-up time are dropped, as scikit-survival requires.
    """
    keep = (grid < np.max(test_time)) & (grid >= np.min(test_time))
    return float(integrated_brier_score(
        _structured(train_time, train_event), _structured(test_time, test_event),
        np.asarray(surv)[:, keep], np.asarray(grid)[keep]))


def km_at(time: np.ndarray, event: np.ndarray, t: float) -> tuple[float, float, float]:
    """Return the Kaplan-Meier survival at ``t`` with its 95 % log-log confidence interval."""
    times, surv, (lo, hi) = kaplan_meier_estimator(
        np.asarray(event, dtype=bool), np.asarray(time, dtype=float), conf_type="log-log")
    idx = np.searchsorted(times, t, side="right") - 1
    if idx < 0:
        return 1.0, 1.0, 1.0
    return float(surv[idx]), float(lo[idx]), float(hi[idx])


def calibration_by_group(time: np.ndarray, event: np.ndarray, pred_surv_t: np.ndarray,
                         t: float, n_groups: int = 3) -> list[dict[str, float]]:
    """Compare mean predicted survival at ``t`` with Kaplan-Meier, by quantile group of risk.

    Groups are formed on the predicted survival at ``t`` (group 1 = lowest risk). Each row holds
    the group size, mean predicted survival, and the observed Kaplan-Meier estimate with its 95 %
    interval.
    """
    pred = np.asarray(pred_surv_t, dtype=float)
    order = np.argsort(-pred, kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, n_groups), start=1):
        km, lo, hi = km_at(time[idx], event[idx], t)
        rows.append({"group": g, "n": int(len(idx)), "predicted": float(pred[idx].mean()),
                     "observed": km, "observed_lower": lo, "observed_upper": hi})
    return rows


def bootstrap_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Return the central percentile interval of ``values``."""
    a = (1.0 - level) / 2.0
    arr = np.asarray(values, dtype=float)
    return float(np.quantile(arr, a)), float(np.quantile(arr, 1.0 - a))


def bootstrap_c_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                      n_boot: int = 500, seed: int = 0) -> tuple[float, float]:
    """Return a 95 % percentile-bootstrap interval (over patients) of Harrell's C."""
    rng = np.random.default_rng(seed)
    n = len(time)
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if not np.any(event[idx]):
            continue
        vals.append(harrell_c(time[idx], event[idx], risk[idx]))
    return bootstrap_interval(vals)
