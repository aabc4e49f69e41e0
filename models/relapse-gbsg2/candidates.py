"""Candidate survival models for GBSG2, each with its own inner-fold tuning.

Every candidate is a proportional-hazards model S(t | x) = exp(-H0(t) * exp(f(x))) so that the
ONNX export is one graph shape (risk score + baseline cumulative hazard table):

- ``cox-linear``: Cox on the 8 raw columns (grade as two dummies);
- ``cox-fp``: Cox on transformed columns fixed a priori from Sauerbrei & Royston's analysis of this
  cohort (JRSS A 1999: fractional polynomials of age, exp(-0.12 * nodes), log receptor levels),
  ridge penalty tuned in the inner folds;
- ``gbm``: gradient-boosted trees with the Cox partial-likelihood loss (scikit-survival), tree depth
  and number of trees tuned in the inner folds.

A random survival forest is scored too (``rsf``) as the published comparator; its curves are not
proportional hazards and it has no exporter here, so it is reported but never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import common.survival_metrics as sm
import numpy as np
from gbsg2_data import CONTINUOUS, GRID_MONTHS, load_gbsg2, structured_y, supports
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxPHSurvivalAnalysis

COX_ALPHAS = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0)
GBM_DEPTHS = (1, 2)
GBM_LEARNING_RATE = 0.1
GBM_MAX_TREES = 200
GBM_STAGE_STEP = 10
INNER_FOLDS = 3


# The Cox designs hold every continuous input inside its supported range (1st-99th percentile
# of the 686 patients, common.support): no transform extrapolates (a^-2 at age 21 did).
SUPPORT = supports(load_gbsg2())


def clamp_continuous(x: np.ndarray) -> np.ndarray:
    """Return a copy of ``x`` with each continuous column clamped to its supported range."""
    x = np.array(x, dtype=float)
    for name, i in CONTINUOUS.items():
        x[:, i] = np.clip(x[:, i], SUPPORT[name]["lower"], SUPPORT[name]["upper"])
    return x


def design_linear(x: np.ndarray) -> np.ndarray:
    """Return the raw design: 8 columns with grade as dummies for II and III."""
    age, meno, tsize, grade, nodes, pr, er, horth = clamp_continuous(x).T
    return np.column_stack([age, meno, tsize, grade == 2, grade == 3, nodes, pr, er, horth])


def design_fp(x: np.ndarray) -> np.ndarray:
    """Return the transformed design (a priori, after Sauerbrei & Royston 1999)."""
    age, meno, tsize, grade, nodes, pr, er, horth = clamp_continuous(x).T
    a = age / 50.0
    return np.column_stack([a ** -2, a ** -0.5, meno, tsize / 10.0, grade >= 2, grade == 3,
                            np.exp(-0.12 * nodes), np.log1p(pr), np.log1p(er), horth])


DESIGNS = {"cox-linear": design_linear, "cox-fp": design_fp}


def breslow(lp: np.ndarray, time: np.ndarray, event: np.ndarray,
            grid: np.ndarray) -> np.ndarray:
    """Return Breslow's cumulative baseline hazard H0 on ``grid`` for linear predictors ``lp``.

    H0(t) = sum over distinct event times s <= t of d(s) / sum_{j: T_j >= s} exp(lp_j); it is 0
    before the first event and flat after the last one.
    """
    order = np.argsort(time, kind="stable")
    t, e, r = time[order], event[order], np.exp(lp[order])
    at_risk = np.cumsum(r[::-1])[::-1]
    uniq, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(e.astype(float), first)
    increments = np.where(deaths > 0, deaths / at_risk[first], 0.0)
    cum = np.cumsum(increments)
    idx = np.searchsorted(uniq, grid, side="right") - 1
    return np.where(idx >= 0, cum[np.maximum(idx, 0)], 0.0)


@dataclass
class PHModel:
    """A fitted proportional-hazards model: risk function plus Breslow baseline on the grid."""

    kind: str
    params: dict[str, float]
    estimator: object
    h0: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def risk(self, x: np.ndarray) -> np.ndarray:
        """Return f(x), the log relative hazard."""
        if self.kind in DESIGNS:
            return np.asarray(self.estimator.predict(DESIGNS[self.kind](x)), dtype=float)
        return np.asarray(self.estimator.predict(x), dtype=float)

    def survival(self, x: np.ndarray, grid: np.ndarray = GRID_MONTHS) -> np.ndarray:
        """Return S(t | x) on the months grid (n x 84)."""
        if len(grid) != len(self.h0) or not np.array_equal(grid, GRID_MONTHS):
            raise ValueError("the baseline is stored on GRID_MONTHS only")
        return np.exp(-np.outer(np.exp(self.risk(x)), self.h0))

    def set_baseline(self, x: np.ndarray, time: np.ndarray, event: np.ndarray) -> PHModel:
        """Compute the Breslow baseline on the training data; return self."""
        self.h0 = breslow(self.risk(x), time, event, GRID_MONTHS)
        return self


def fit_cox(kind: str, x: np.ndarray, time: np.ndarray, event: np.ndarray,
            alpha: float) -> PHModel:
    """Fit a ridge-penalised Cox model on the design ``kind``."""
    # Standardised columns so that one ridge penalty treats every column alike.
    est = make_pipeline(StandardScaler(),
                        CoxPHSurvivalAnalysis(alpha=alpha, ties="breslow", n_iter=200))
    est.fit(DESIGNS[kind](x), structured_y(time, event))
    return PHModel(kind, {"alpha": alpha}, est).set_baseline(x, time, event)


def fit_gbm(x: np.ndarray, time: np.ndarray, event: np.ndarray, depth: int, n_trees: int,
            seed: int) -> PHModel:
    """Fit Cox-loss gradient boosting with ``n_trees`` trees of depth ``depth``."""
    est = GradientBoostingSurvivalAnalysis(
        loss="coxph", learning_rate=GBM_LEARNING_RATE, n_estimators=n_trees, max_depth=depth,
        min_samples_leaf=10, subsample=1.0, random_state=seed)
    est.fit(x, structured_y(time, event))
    return PHModel("gbm", {"depth": depth, "n_trees": n_trees}, est).set_baseline(x, time, event)


def _inner_splits(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(np.arange(n)))


def tune_cox(kind: str, x: np.ndarray, time: np.ndarray, event: np.ndarray,
             seed: int) -> dict[str, float]:
    """Choose the ridge penalty by inner-fold C-index (training data only)."""
    scores = {a: 0.0 for a in COX_ALPHAS}
    for tr, va in _inner_splits(len(x), seed):
        for a in COX_ALPHAS:
            m = fit_cox(kind, x[tr], time[tr], event[tr], a)
            scores[a] += sm.harrell_c(time[va], event[va], m.risk(x[va]))
    return {"alpha": max(COX_ALPHAS, key=lambda a: (scores[a], a))}


def tune_gbm(x: np.ndarray, time: np.ndarray, event: np.ndarray, seed: int) -> dict[str, int]:
    """Choose depth and number of trees by inner-fold C-index (staged predictions)."""
    stages = np.arange(GBM_STAGE_STEP, GBM_MAX_TREES + 1, GBM_STAGE_STEP)
    scores = {(d, s): 0.0 for d in GBM_DEPTHS for s in stages}
    for tr, va in _inner_splits(len(x), seed):
        for d in GBM_DEPTHS:
            est = fit_gbm(x[tr], time[tr], event[tr], d, GBM_MAX_TREES, seed).estimator
            for k, pred in enumerate(est.staged_predict(x[va]), start=1):
                if k in stages:
                    scores[(d, k)] += sm.harrell_c(time[va], event[va], pred)
    depth, n_trees = max(scores, key=lambda key: (round(scores[key], 12), -key[0], -key[1]))
    return {"depth": int(depth), "n_trees": int(n_trees)}


def tune_and_fit(kind: str, x: np.ndarray, time: np.ndarray, event: np.ndarray,
                 seed: int) -> PHModel:
    """Tune ``kind`` on (x, time, event) by inner CV, then refit on all of it."""
    if kind in DESIGNS:
        return fit_cox(kind, x, time, event, **tune_cox(kind, x, time, event, seed))
    if kind == "gbm":
        return fit_gbm(x, time, event, seed=seed, **tune_gbm(x, time, event, seed))
    raise ValueError(f"unknown candidate {kind}")


def fit_rsf(x: np.ndarray, time: np.ndarray, event: np.ndarray, seed: int) -> RandomSurvivalForest:
    """Fit the comparator random survival forest (fixed, common settings; not tuned)."""
    est = RandomSurvivalForest(n_estimators=200, min_samples_leaf=15, max_features="sqrt",
                               random_state=seed, n_jobs=1)
    return est.fit(x, structured_y(time, event))
