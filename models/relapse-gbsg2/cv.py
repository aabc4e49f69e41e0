"""Repeated, nested cross-validation of the GBSG2 candidates.

Outer loop: ``repeats`` x 5-fold; every candidate is tuned with inner folds drawn from the outer
training part only, refitted on it, and scored once on the outer test fold (Harrell's C and the
IPCW integrated Brier score over months 1-84). Test folds are never seen while tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

import common.survival_metrics as sm
import numpy as np
from candidates import fit_rsf, tune_and_fit
from gbsg2_data import GRID_MONTHS, Cohort
from joblib import Parallel, delayed
from sklearn.model_selection import KFold

PH_CANDIDATES = ("cox-linear", "cox-fp", "gbm")
COMPARATORS = ("rsf",)
CALIBRATION_MONTH = 60.0


@dataclass
class FoldResult:
    """Scores of every candidate on one outer test fold."""

    repeat: int
    fold: int
    test_index: np.ndarray
    c_index: dict[str, float]
    ibs: dict[str, float]
    surv_60: dict[str, np.ndarray]
    params: dict[str, dict[str, float]]


def _rsf_surv(est: object, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    fns = est.predict_survival_function(x)  # type: ignore[attr-defined]
    return np.vstack([fn(np.clip(grid, fn.x[0], fn.x[-1])) for fn in fns])


def _one_fold(d: Cohort, repeat: int, fold: int, tr: np.ndarray, te: np.ndarray,
              seed: int) -> FoldResult:
    inner_seed = seed + 1000 * repeat + fold
    res = FoldResult(repeat, fold, te, {}, {}, {}, {})
    for kind in PH_CANDIDATES + COMPARATORS:
        if kind == "rsf":
            est = fit_rsf(d.x[tr], d.time[tr], d.event[tr], inner_seed)
            risk, surv = est.predict(d.x[te]), _rsf_surv(est, d.x[te], GRID_MONTHS)
            res.params[kind] = {}
        else:
            model = tune_and_fit(kind, d.x[tr], d.time[tr], d.event[tr], inner_seed)
            risk, surv = model.risk(d.x[te]), model.survival(d.x[te], GRID_MONTHS)
            res.params[kind] = model.params
        res.c_index[kind] = sm.harrell_c(d.time[te], d.event[te], risk)
        res.ibs[kind] = sm.ibs(d.time[tr], d.event[tr], d.time[te], d.event[te], surv,
                               GRID_MONTHS)
        res.surv_60[kind] = surv[:, int(CALIBRATION_MONTH) - 1]
    return res


def run_cv(d: Cohort, repeats: int, seed: int, jobs: int = 1) -> list[FoldResult]:
    """Run ``repeats`` x 5-fold nested CV; return one result per outer fold."""
    tasks = []
    for r in range(repeats):
        kf = KFold(5, shuffle=True, random_state=seed + r)
        for k, (tr, te) in enumerate(kf.split(d.x)):
            tasks.append((r, k, tr, te))
    return list(Parallel(n_jobs=jobs)(
        delayed(_one_fold)(d, r, k, tr, te, seed) for r, k, tr, te in tasks))


def summarise(d: Cohort, folds: list[FoldResult]) -> dict[str, dict[str, object]]:
    """Return per-candidate C-index and IBS (mean, SD, fold range) and 5-year calibration."""
    out: dict[str, dict[str, object]] = {}
    for kind in PH_CANDIDATES + COMPARATORS:
        c = np.array([f.c_index[kind] for f in folds])
        b = np.array([f.ibs[kind] for f in folds])
        # Each patient is in one test fold per repeat: average its out-of-fold predictions.
        s60 = np.zeros(len(d.x))
        for f in folds:
            s60[f.test_index] += f.surv_60[kind]
        s60 /= len(folds) / 5
        out[kind] = {
            "c_index_mean": float(c.mean()), "c_index_sd": float(c.std(ddof=1)),
            "c_index_fold_interval": sm.bootstrap_interval(c),
            "ibs_mean": float(b.mean()), "ibs_sd": float(b.std(ddof=1)),
            "ibs_fold_interval": sm.bootstrap_interval(b),
            "calibration_60": sm.calibration_by_group(d.time, d.event, s60, CALIBRATION_MONTH),
            "params": [f.params[kind] for f in folds],
        }
    return out


def choose(summary: dict[str, dict[str, object]]) -> str:
    """Return the proportional-hazards candidate with the highest mean cross-validated C-index."""
    return max(PH_CANDIDATES, key=lambda k: float(summary[k]["c_index_mean"]))  # type: ignore[arg-type]
