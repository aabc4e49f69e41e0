"""Performance measures of a prediction model on local outcomes (plain NumPy, no fitting library).

Discrimination: Harrell's and Uno's C-index for censored times, the AUC for binary outcomes,
each with a percentile bootstrap interval over patients. The C-indexes follow scikit-survival's
definitions exactly (``concordance_index_censored`` and ``concordance_index_ipcw``: a pair is
comparable when the first patient has the event strictly before the other's time, or at the
same time as the other's censoring; tied risks count one half; tolerance 1e-8), which the tests
check. Every estimate is a quadratic form ``w' A w`` in the patients' weights, and the bootstrap
replicates are multinomial weights: each replicate's sums over the comparable pairs are
two-dimensional dominance sums (later in time, lower in risk), taken over dyadic blocks as a
Fenwick tree would, in O(n log n) per replicate, a bounded batch of replicates at a time. No pair
is formed and memory stays flat in the number of patients (``CELLS`` replicate x patient values).

Calibration: Kaplan-Meier (Greenwood, log-log interval) by risk group against the mean predicted
survival; observed/expected ratio at the horizon; calibration intercept and slope from a Poisson
model of the events with the log predicted cumulative hazard as covariate (Crowson, Atkinson,
Therneau, Stat Methods Med Res 2016;25:1692-1706) for survival, logistic recalibration (Cox 1958)
for probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

TIED_TOL = 1e-8
CELLS = 250_000  # replicate x patient values held at once (2 MB arrays): memory flat in n and B
Z95 = 1.959963984540054


# ---------------------------------------------------------------------------------------------
# Concordance as a quadratic form
# ---------------------------------------------------------------------------------------------


def _risk_bounds(risk: np.ndarray, sorted_risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per patient i, how many sorted risks r_j have r_i - r_j > tol, and >= -tol.

    The difference r_i - r_j (rounded as the pairwise code computes it) decreases as r_j grows,
    so each count is a prefix of the sorted risks, found by a bisection on that very test.
    """
    n = len(sorted_risk)
    out = []
    for strict in (True, False):  # r_i - r_j > tol (concordant); >= -tol (or tied)
        lo = np.zeros(len(risk), dtype=np.int64)
        hi = np.full(len(risk), n, dtype=np.int64)
        while True:
            open_ = lo < hi
            if not open_.any():
                break
            mid = (lo + hi) // 2
            ok = np.zeros(len(risk), dtype=bool)
            d = risk[open_] - sorted_risk[mid[open_]]
            ok[open_] = d > TIED_TOL if strict else d >= -TIED_TOL
            lo = np.where(open_ & ok, mid + 1, lo)
            hi = np.where(open_ & ~ok, mid, hi)
        out.append(lo)
    return out[0], out[1]


def _concordant_weights(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                        rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return sum_j w_bj S_ij for the rows i (B x len(rows)), in O(B n log n).

    S_ij is the concordance score of the pairwise definition (1, 1/2 for tied risks, 0; 0 when
    not comparable). The patients comparable with an event row are a prefix of the order "time
    descending, censored before events at the same time" (those later in time, and those
    censored at the same time), and its concordant ones a prefix of the risk order: a
    two-dimensional dominance sum, taken over the dyadic blocks of the time prefix (as a
    Fenwick tree would) with each block sorted by risk. Exact for integer weights (bootstrap
    multiplicities): the sums are differences of cumulative sums of integers.
    """
    n = len(time)
    ins = np.lexsort((event, -time))              # insertion order
    pos = np.empty(n, dtype=np.int64)
    pos[ins] = np.arange(n)
    by_risk = np.argsort(risk, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_risk] = np.arange(n)
    lt, le = _risk_bounds(risk[rows], risk[by_risk])
    # comparable prefix of each row: later times, and censorings at the same time
    t_sorted = np.sort(time)
    later = n - np.searchsorted(t_sorted, time[rows], side="right")
    uniq, inv = np.unique(time, return_inverse=True)
    cens_at = np.bincount(inv, weights=(~event).astype(float), minlength=len(uniq))
    qlen = later + cens_at[inv[rows]].astype(np.int64)
    rank_at_pos = rank[ins]
    q = np.zeros((w.shape[0], len(rows)))
    level = 0
    while (1 << level) <= n:
        hit = np.flatnonzero((qlen >> level) & 1)
        if hit.size:
            block = (qlen[hit] >> level) - 1
            key = (np.arange(n, dtype=np.int64) >> level) * n + rank_at_pos
            perm = np.argsort(key, kind="stable")
            skey = key[perm]
            csum = np.zeros((w.shape[0], n + 1))
            np.cumsum(w[:, ins[perm]], axis=1, out=csum[:, 1:])
            base = block << level
            g_lt = np.searchsorted(skey, block * n + lt[hit], side="left")
            g_le = np.searchsorted(skey, block * n + le[hit], side="left")
            q[:, hit] += 0.5 * (csum[:, g_lt] + csum[:, g_le]) - csum[:, base]
        level += 1
    return q


def _comparable_weights(time: np.ndarray, event: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return sum_j w_bj K_ij for every i (B x n), by suffix sums over sorted times."""
    uniq, inv = np.unique(time, return_inverse=True)
    total = np.zeros((w.shape[0], len(uniq)))
    cens = np.zeros((w.shape[0], len(uniq)))
    for b in range(w.shape[0]):
        total[b] = np.bincount(inv, weights=w[b], minlength=len(uniq))
        cens[b] = np.bincount(inv, weights=w[b] * ~event, minlength=len(uniq))
    after = np.cumsum(total[:, ::-1], axis=1)[:, ::-1] - total  # weight with t_j > t
    return np.asarray((after + cens)[:, inv])


def concordance_many(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                     row_weights: list[np.ndarray], col_weights: np.ndarray
                     ) -> list[np.ndarray]:
    """Return the C-index for each replicate, for each matrix of row weights (B x n).

    C_b = sum_ij u_bi w_bj S_ij / sum_ij u_bi w_bj K_ij with S the concordance scores and K the
    comparable pairs (rows: patients with an event), w the patients' multiplicities. Harrell:
    u = w; Uno: u = w / G(t)^2 below tau, 0 above. The sums over j are computed once for all
    the row weights, in O(n log n) per replicate (:func:`_concordant_weights`), replicates a
    bounded batch at a time: no pair is formed and memory stays flat in n.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    risk = np.asarray(risk, float)
    us = [np.atleast_2d(u).astype(np.float64) for u in row_weights]
    w = np.atleast_2d(col_weights).astype(np.float64)
    rows = np.flatnonzero(event & np.any([(u != 0).any(axis=0) for u in us], axis=0))
    n_rep = w.shape[0]
    nums = [np.zeros(n_rep) for _ in us]
    dens = [np.zeros(n_rep) for _ in us]
    step = max(1, CELLS // max(len(time), 1))
    for b0 in range(0, n_rep, step):
        wb = w[b0:b0 + step]
        sums = _concordant_weights(time, event, risk, rows, wb)
        kw = _comparable_weights(time, event, wb)[:, rows]
        for k, u in enumerate(us):
            ub = np.broadcast_to(u, (n_rep, u.shape[1]))[b0:b0 + step][:, rows]
            nums[k][b0:b0 + step] = np.einsum("bi,bi->b", ub, sums)
            dens[k][b0:b0 + step] = np.einsum("bi,bi->b", ub, kw)
    out = []
    for num, den in zip(nums, dens, strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
    return out


def concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                row_weights: np.ndarray, col_weights: np.ndarray) -> np.ndarray:
    """Return the C-index for each replicate (see :func:`concordance_many`)."""
    return concordance_many(time, event, risk, [row_weights], col_weights)[0]


def censoring_survival(time: np.ndarray, event: np.ndarray, weights: np.ndarray
                       ) -> Callable[[np.ndarray], np.ndarray]:
    """Return G(t) per replicate: the reverse Kaplan-Meier (censoring as the event), weighted.

    ``weights`` is B x n; the returned function maps times (n,) to G (B x n), right-continuous.
    """
    order = np.argsort(time, kind="stable")
    t = time[order]
    uniq, first = np.unique(t, return_index=True)
    w = np.atleast_2d(weights)[:, order].astype(float)
    cens = np.where(~event[order], 1.0, 0.0)[None, :] * w
    # at risk at each unique time: weight with time >= s, less the events at s (an event at the
    # time of a censoring happened first: scikit-survival's reverse Kaplan-Meier)
    csum_all = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]
    c_at = np.add.reduceat(cens, first, axis=1)
    at_risk = csum_all[:, first] - np.add.reduceat(w - cens, first, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1.0 - c_at / np.where(at_risk > 0, at_risk, 1), 1.0)
    g = np.cumprod(factor, axis=1)

    def at(times: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(uniq, times, side="right") - 1
        out = np.where(pos[None, :] >= 0, g[:, np.clip(pos, 0, None)], 1.0)
        return np.asarray(out)

    return at


def c_indexes(time: np.ndarray, event: np.ndarray, risk: np.ndarray, tau: float | None,
              weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (Harrell, Uno) C-indexes for each weight replicate (B x n)."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    weights = np.atleast_2d(weights)
    step = max(1, CELLS // max(len(time), 1))
    harrell, uno = [], []
    for b0 in range(0, weights.shape[0], step):  # a bounded batch of replicates at a time
        w = weights[b0:b0 + step].astype(float)
        g = censoring_survival(time, event, w)(time)
        with np.errstate(invalid="ignore", divide="ignore"):
            ipcw = np.where(event[None, :] & (g > 0), 1.0 / np.where(g > 0, g, 1), 0.0)
        if tau is not None:
            ipcw[:, time >= tau] = 0.0
        h, u = concordance_many(time, event, risk, [w, w * ipcw ** 2], w)
        harrell.append(h)
        uno.append(u)
    if not harrell:
        return np.array([]), np.array([])
    return np.concatenate(harrell), np.concatenate(uno)


def auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the AUC (ties 1/2) for each weight replicate (B x n)."""
    y = np.asarray(y, bool)
    # a "time" that makes every event row comparable with every non-event column only
    time = np.where(y, 0.0, 1.0)
    w = np.atleast_2d(weights).astype(float)
    return concordance(time, y, np.asarray(p, float), w, w * (~y)[None, :])


def bootstrap_batches(n: int, n_boot: int, seed: int, batch: int | None = None
                      ) -> Iterator[np.ndarray]:
    """Yield the rows of :func:`bootstrap_weights` a batch at a time (same draws, same order)."""
    rng = np.random.default_rng(seed)
    step = batch or max(1, CELLS // max(n, 1))
    for b0 in range(0, n_boot, step):
        out = np.empty((min(step, n_boot - b0), n), dtype=np.float32)
        for b in range(out.shape[0]):
            out[b] = np.bincount(rng.integers(0, n, n), minlength=n)
        yield out


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Return n_boot x n multinomial patient multiplicities (a patient bootstrap)."""
    parts = list(bootstrap_batches(n, n_boot, seed))
    return np.vstack(parts) if parts else np.empty((0, n), dtype=np.float32)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    """Return the percentile interval of the finite replicate values."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 10:
        return None, None
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier and calibration
# ---------------------------------------------------------------------------------------------


@dataclass
class KM:
    """A Kaplan-Meier curve: event times, survival after each, Greenwood log-log bounds."""

    times: np.ndarray
    surv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def at(self, t: float) -> tuple[float, float, float]:
        """Return S(t) with its 95 % interval (1 before the first event)."""
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        if i < 0:
            return 1.0, 1.0, 1.0
        return float(self.surv[i]), float(self.lower[i]), float(self.upper[i])


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> KM:
    """Return the Kaplan-Meier estimate with the log-log (Kalbfleisch-Prentice) 95 % interval."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    uniq, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(uniq))
    leaving = np.bincount(inv, minlength=len(uniq)).astype(float)
    at_risk = len(time) - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
    keep = d > 0
    uniq, d, at_risk = uniq[keep], d[keep], at_risk[keep]
    s = np.cumprod(1.0 - d / at_risk)
    with np.errstate(invalid="ignore", divide="ignore"):
        gw = np.cumsum(d / (at_risk * (at_risk - d)))
        se = np.sqrt(gw) / np.abs(np.log(s))
        lo = np.where(s > 0, s ** np.exp(Z95 * se), 0.0)
        hi = np.where(s > 0, s ** np.exp(-Z95 * se), 0.0)
    lo = np.where(np.isfinite(lo), lo, s)
    hi = np.where(np.isfinite(hi), hi, s)
    return KM(uniq, s, lo, hi)


def risk_groups(pred_surv: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Split patients into quantile groups of predicted survival (group 1 = lowest risk)."""
    order = np.argsort(-np.asarray(pred_surv, float), kind="stable")
    return [g for g in np.array_split(order, n_groups) if len(g)]


def survival_calibration_groups(time: np.ndarray, event: np.ndarray, pred_surv: np.ndarray,
                                horizon: float, n_groups: int) -> list[dict[str, Any]]:
    """Mean predicted survival at the horizon vs Kaplan-Meier, by quantile group of risk."""
    rows = []
    for g, idx in enumerate(risk_groups(pred_surv, n_groups), start=1):
        km = kaplan_meier(time[idx], event[idx])
        obs, lo, hi = km.at(horizon)
        rows.append({"group": g, "n": int(len(idx)), "events": int(event[idx].sum()),
                     "predicted": float(np.mean(pred_surv[idx])), "observed": obs,
                     "observed_lower": lo, "observed_upper": hi,
                     "km": {"times": km.times.tolist(), "survival": km.surv.tolist()}})
    return rows


def binary_calibration_groups(y: np.ndarray, p: np.ndarray, n_groups: int
                              ) -> list[dict[str, Any]]:
    """Mean predicted probability vs observed proportion (Wilson interval), by risk group."""
    rows = []
    order = np.argsort(np.asarray(p, float), kind="stable")
    for g, idx in enumerate([i for i in np.array_split(order, n_groups) if len(i)], start=1):
        n, k = len(idx), float(np.sum(y[idx]))
        ph = k / n
        den = 1 + Z95 ** 2 / n
        mid = (ph + Z95 ** 2 / (2 * n)) / den
        half = Z95 * np.sqrt(ph * (1 - ph) / n + Z95 ** 2 / (4 * n * n)) / den
        rows.append({"group": g, "n": n, "events": int(k), "predicted": float(np.mean(p[idx])),
                     "observed": ph, "observed_lower": float(mid - half),
                     "observed_upper": float(mid + half)})
    return rows


def _irls(x: np.ndarray, y: np.ndarray, offset: np.ndarray, family: str, iters: int = 50
          ) -> tuple[np.ndarray, np.ndarray]:
    """Fit a GLM (poisson log link or binomial logit) by Newton; return (coef, covariance)."""
    beta = np.zeros(x.shape[1])
    if family == "poisson":
        beta[0] = np.log(max(y.sum(), 1e-9) / max(np.exp(offset).sum(), 1e-300))
    info = np.eye(x.shape[1])
    for _ in range(iters):
        eta = np.clip(offset + x @ beta, -700, 700)
        if family == "poisson":
            mu = np.exp(eta)
            wgt = mu
        else:
            mu = 1.0 / (1.0 + np.exp(-eta))
            wgt = mu * (1 - mu)
        grad = x.T @ (y - mu)
        info = (x * wgt[:, None]).T @ x
        step = np.linalg.solve(info + 1e-12 * np.eye(len(beta)), grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta, np.linalg.pinv(info)


def survival_calibration_model(event: np.ndarray, cumhaz_at_time: np.ndarray,
                               cumhaz_at_horizon: np.ndarray) -> dict[str, float]:
    """Calibration intercept and slope of survival predictions (Crowson et al. 2016).

    Poisson model of the events up to the horizon, log mu_i = log H_i(t_i) + a + (b - 1) x_i,
    with H_i(t_i) the predicted cumulative hazard at the patient's (truncated) follow-up time,
    x_i = log H_i(horizon) - centre the log cumulative hazard at the horizon (the linear
    predictor of a proportional-hazards model, centred). Perfect calibration: a = 0, b = 1.
    Also fits a alone with b = 1 (calibration-in-the-large). The same (a, b, centre)
    recalibrate a curve: H'(t) = H(t) exp(a + (b - 1)(x - centre)), S' = exp(-H').
    """
    h = np.clip(np.asarray(cumhaz_at_time, float), 1e-8, None)
    x_raw = np.log(np.clip(np.asarray(cumhaz_at_horizon, float), 1e-8, None))
    centre = float(np.mean(x_raw))
    x = x_raw - centre
    y = np.asarray(event, float)
    off = np.log(h)
    coef, cov = _irls(np.column_stack([np.ones_like(x), x]), y, off, "poisson")
    large, _ = _irls(np.ones((len(x), 1)), y, off, "poisson")
    return {"intercept": float(coef[0]), "slope": float(coef[1] + 1.0),
            "intercept_se": float(np.sqrt(cov[0, 0])), "slope_se": float(np.sqrt(cov[1, 1])),
            "centre": centre, "calibration_in_the_large": float(large[0])}


def logistic_calibration_model(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration intercept and slope: logit P(y) = a + b logit(p); and a with b fixed at 1."""
    pc = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    lp = np.log(pc / (1 - pc))
    yy = np.asarray(y, float)
    coef, cov = _irls(np.column_stack([np.ones_like(lp), lp]), yy, np.zeros_like(lp), "binomial")
    large, _ = _irls(np.ones((len(lp), 1)), yy, lp, "binomial")
    return {"intercept": float(coef[0]), "slope": float(coef[1]),
            "intercept_se": float(np.sqrt(cov[0, 0])), "slope_se": float(np.sqrt(cov[1, 1])),
            "calibration_in_the_large": float(large[0])}
