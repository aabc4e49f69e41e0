"""PREDICT Breast v2.1 in plain NumPy, step by step as published (the reference for the ONNX graph).

Source: the project's reference sheet /work/shared/references/predict-breast-v2.1.md (Candido dos
Reis et al., Breast Cancer Research 2017; v2.1 HER2/Ki67 and treatment terms). Inputs use the
sheet's codings: grade 1/2/3 (9 = unknown -> 2.13), er 1/0, her2 1/0/9, ki67 1/0/9, screen 0
clinical / 1 screen-detected / 2 unknown (-> 0.204), generation 0/2/3, horm/traz/bis 1/0.
Time grid: years 1..15.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

YEARS = np.arange(1, 16, dtype=float)
GRADE_UNKNOWN, GRADE_UNKNOWN_VALUE = 9, 2.13
SCREEN_UNKNOWN, SCREEN_UNKNOWN_VALUE = 2, 0.204
UNKNOWN = 9

# Treatment log-hazard ratios on breast-cancer mortality.
RX_CHEMO = {0: 0.0, 2: -0.248, 3: -0.446}
RX_HORM = -0.3857   # ER-positive only
RX_TRAZ = -0.3567   # HER2-positive only
RX_BIS = -0.198

INPUTS = ("age", "size_mm", "nodes", "grade", "er", "her2", "ki67", "screen", "generation",
          "horm", "traz", "bis")


@dataclass(frozen=True)
class Result:
    """Curves on YEARS (each n x 15)."""

    os: np.ndarray               # overall survival
    br_mortality: np.ndarray     # cumulative breast-cancer mortality
    oth_mortality: np.ndarray    # cumulative other-cause mortality


def h_oth(t: np.ndarray) -> np.ndarray:
    """Return the baseline cumulative hazard of other-cause death."""
    return np.exp(-6.052919 + 1.079863 * np.log(t) + 0.3255321 * np.sqrt(t))


def h_br_pos(t: np.ndarray) -> np.ndarray:
    """Return the baseline cumulative hazard of breast-cancer death, ER-positive."""
    return np.exp(0.7424402 - 7.527762 / np.sqrt(t) - 1.812513 * np.log(t) / np.sqrt(t))


def h_br_neg(t: np.ndarray) -> np.ndarray:
    """Return the baseline cumulative hazard of breast-cancer death, ER-negative."""
    return np.exp(-1.156036 + 0.4707332 / t ** 2 - 3.51355 / t)


def other_index(age: np.ndarray) -> np.ndarray:
    """Return the other-cause prognostic index mi."""
    return 0.0698252 * ((age / 10.0) ** 2 - 34.23391957)


def breast_index(p: dict[str, np.ndarray]) -> np.ndarray:
    """Return the breast-cancer prognostic index pi (without treatment)."""
    age, size, nodes = p["age"], p["size_mm"], p["nodes"]
    grade = np.where(p["grade"] == GRADE_UNKNOWN, GRADE_UNKNOWN_VALUE, p["grade"])
    screen = np.where(p["screen"] == SCREEN_UNKNOWN, SCREEN_UNKNOWN_VALUE, p["screen"])
    a = age / 10.0
    her2 = np.select([p["her2"] == 1, p["her2"] == 0], [0.2413, -0.0762], 0.0)
    ki67 = np.select([p["ki67"] == 1, p["ki67"] == 0], [0.14904, -0.11333], 0.0)
    pos = (34.53642 * (a ** -2 - 0.0287449295)
           - 34.20342 * (a ** -2 * np.log(a) - 0.0510121013)
           + 0.7530729 * (np.log(size / 100.0) + 1.545233938)
           + 0.7060723 * (np.log((nodes + 1) / 10.0) + 1.387566896)
           + 0.746655 * grade - 0.22763366 * screen + her2 + ki67)
    # ER-negative: grade enters as 'grade 2 or 3'; the published code scores an unknown grade 0
    # there (only the ER-positive index uses the 2.13 substitute).
    neg = (0.0089827 * (age - 56.3254902)
           + 2.093446 * ((size / 100.0) ** 0.5 - 0.5090456276)
           + 0.6260541 * (np.log((nodes + 1) / 10.0) + 1.086916249)
           + 1.129091 * np.isin(p["grade"], (2, 3)).astype(float) + her2)
    return np.where(p["er"] == 1, pos, neg)


def treatment_rx(p: dict[str, np.ndarray]) -> np.ndarray:
    """Return the summed treatment log-hazard ratio on breast-cancer mortality."""
    chemo = np.select([p["generation"] == 2, p["generation"] == 3],
                      [RX_CHEMO[2], RX_CHEMO[3]], 0.0)
    return (chemo + RX_HORM * p["horm"] * (p["er"] == 1) + RX_TRAZ * p["traz"] * (p["her2"] == 1)
            + RX_BIS * p["bis"])


def _annual(h: np.ndarray) -> np.ndarray:
    """First differences of a cumulative hazard; year 1 keeps H(1)."""
    return np.diff(h, prepend=0.0)


def predict(patients: dict[str, np.ndarray]) -> Result:
    """Run the published steps for every patient (arrays of equal length n)."""
    p = {k: np.asarray(patients[k], dtype=float).reshape(-1) for k in INPUTS}
    mi = other_index(p["age"])[:, None]
    pi = (breast_index(p) + treatment_rx(p))[:, None]
    annual_oth = _annual(h_oth(YEARS))[None, :]
    annual_br = np.where(p["er"][:, None] == 1, _annual(h_br_pos(YEARS))[None, :],
                         _annual(h_br_neg(YEARS))[None, :])
    s_oth = np.exp(-np.cumsum(annual_oth * np.exp(mi), axis=1))
    s_br = np.exp(-np.cumsum(annual_br * np.exp(pi), axis=1))
    m_oth = np.diff(1 - s_oth, axis=1, prepend=0.0)
    m_br = np.diff(1 - s_br, axis=1, prepend=0.0)
    m_all = np.diff(1 - s_oth * s_br, axis=1, prepend=0.0)
    share = m_br / (m_br + m_oth)
    d_br = share * m_all
    d_oth = m_all - d_br
    return Result(os=1 - np.cumsum(d_br, axis=1) - np.cumsum(d_oth, axis=1),
                  br_mortality=np.cumsum(d_br, axis=1), oth_mortality=np.cumsum(d_oth, axis=1))


def random_patients(n: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``n`` random valid patients over the plugin's valid ranges and codings."""
    rng = np.random.default_rng(seed)
    return {
        "age": rng.uniform(25, 85, n).round(0),
        "size_mm": rng.uniform(1, 200, n).round(0),
        "nodes": rng.integers(0, 61, n).astype(float),
        "grade": rng.choice([1, 2, 3, 9], n).astype(float),
        "er": rng.choice([0, 1], n).astype(float),
        "her2": rng.choice([0, 1, 9], n).astype(float),
        "ki67": rng.choice([0, 1, 9], n).astype(float),
        "screen": rng.choice([0, 1, 2], n).astype(float),
        "generation": rng.choice([0, 2, 3], n).astype(float),
        "horm": rng.choice([0, 1], n).astype(float),
        "traz": rng.choice([0, 1], n).astype(float),
        "bis": rng.choice([0, 1], n).astype(float),
    }


def published_example(screen: int = 0) -> dict[str, np.ndarray]:
    """Return the sheet's example (65 y, 19 mm, 1 node, grade 2, ER+, HER2-, Ki67-), surgery only.

    Detection defaults to clinical (0), which gives the published 10-year OS of about 74 %.
    """
    values = {"age": 65, "size_mm": 19, "nodes": 1, "grade": 2, "er": 1, "her2": 0, "ki67": 0,
              "screen": screen, "generation": 0, "horm": 0, "traz": 0, "bis": 0}
    return {k: np.array([float(v)]) for k, v in values.items()}
