"""Load the GBSG2 cohort (shipped inside scikit-survival) as plain numeric arrays.

Codings used everywhere in this plugin (and by the ONNX graph's inputs):
age (years), menostat (0 = pre, 1 = post), tsize (mm), tgrade (1, 2, 3 for I, II, III),
pnodes (count), progrec and estrec (fmol/mg), horth (0 = no, 1 = yes). Time is in months
(days / (365.25 / 12)); event = recurrence or death observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES: tuple[str, ...] = (
    "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec", "horth")
DAYS_PER_MONTH = 365.25 / 12.0
GRID_MONTHS = np.arange(1, 85, dtype=float)  # the plugin's output grid: 1..84 months
SEED = 20261123  # every random choice of the build (CV splits, bootstrap) derives from it


@dataclass(frozen=True)
class Cohort:
    """The cohort as arrays: ``x`` (n x 8, columns as :data:`FEATURES`), time, event."""

    x: np.ndarray
    time: np.ndarray
    event: np.ndarray


def load_gbsg2() -> Cohort:
    """Return the 686 GBSG2 patients with the plugin's numeric codings."""
    from sksurv.datasets import load_gbsg2 as _load

    frame, y = _load()
    x = np.column_stack([
        frame["age"].to_numpy(float),
        (frame["menostat"].astype(str) == "Post").to_numpy(float),
        frame["tsize"].to_numpy(float),
        frame["tgrade"].astype(str).map({"I": 1.0, "II": 2.0, "III": 3.0}).to_numpy(float),
        frame["pnodes"].to_numpy(float),
        frame["progrec"].to_numpy(float),
        frame["estrec"].to_numpy(float),
        (frame["horTh"].astype(str) == "yes").to_numpy(float),
    ])
    if np.isnan(x).any():
        raise ValueError("unexpected coding in GBSG2: a column did not map to numbers")
    return Cohort(x=x, time=y["time"] / DAYS_PER_MONTH, event=y["cens"].astype(bool))


CONTINUOUS: dict[str, int] = {"age": 0, "tsize": 2, "pnodes": 4, "progrec": 5, "estrec": 6}
INTEGER = ("pnodes",)


def supports(d: Cohort) -> dict[str, dict]:
    """Return the supported range of every continuous input (common.support), by name."""
    from common.support import support_of

    return {name: support_of(d.x[:, i], integer=name in INTEGER)
            for name, i in CONTINUOUS.items()}


def structured_y(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Return the structured array scikit-survival estimators expect."""
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = event
    out["time"] = time
    return out
