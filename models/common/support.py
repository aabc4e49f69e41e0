"""Where the training data has support for a continuous input: the range its transforms use.

Every continuous input of a trained plugin is clamped, inside the model, to [lower, upper]:
the 1st and 99th percentiles of the training values (as PREDICT's authors clamp), each an
observed value (NumPy's 'lower' / 'higher' quantile rule), so no transform extrapolates. The
build script writes the range, the counts of training patients at each edge and the observed
extremes into the manifest (``support = {...}`` of the input), and the app flags a value outside
it in plain words ("age 21: only 7 of 686 training patients had age 30 or less; the estimate is
extrapolated").
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = (0.01, 0.99)
METHOD = ("1st-99th percentile of the training values (each an observed value); the model "
          "holds the value at these edges")


def support_of(values: np.ndarray, quantiles: tuple[float, float] = QUANTILES,
               integer: bool = False) -> dict[str, Any]:
    """Return the manifest's ``support`` table for one input's training values."""
    v = np.asarray(values, dtype=float)
    lo = float(np.quantile(v, quantiles[0], method="lower"))
    hi = float(np.quantile(v, quantiles[1], method="higher"))
    cast = (lambda x: float(round(x))) if integer else (lambda x: round(float(x), 6))
    return {"lower": cast(lo), "upper": cast(hi), "n_training": int(len(v)),
            "n_at_or_below_lower": int((v <= lo).sum()),
            "n_at_or_above_upper": int((v >= hi).sum()),
            "observed_min": cast(v.min()), "observed_max": cast(v.max()), "clamped": True,
            "method": METHOD}


def clamp(values: np.ndarray, sup: dict[str, Any]) -> np.ndarray:
    """Return ``values`` held inside [lower, upper]."""
    return np.clip(np.asarray(values, dtype=float), sup["lower"], sup["upper"])


def card_rows(names_labels: list[tuple[str, str]], supports: dict[str, dict[str, Any]],
              units: str = "patients") -> str:
    """Return a Markdown table of the supported ranges for a model card."""
    rows = [f"| input | range the model uses | training {units} at or beyond each edge | "
            "observed in training |", "|---|---|---|---|"]
    for name, label in names_labels:
        s = supports[name]
        rows.append(f"| {label} | {s['lower']:.4g} to {s['upper']:.4g} | "
                    f"{s['n_at_or_below_lower']} / {s['n_at_or_above_upper']} of "
                    f"{s['n_training']} | {s['observed_min']:.4g} to {s['observed_max']:.4g} |")
    return "\n".join(rows)
