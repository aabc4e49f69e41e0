"""Validate the exported relapse-gbsg2 ONNX graph on the GBSG2 cohort.

Run alone (``.venv/bin/python models/relapse-gbsg2/validate.py``) it recomputes the apparent
metrics from the committed ``plugins/relapse-gbsg2/model.onnx`` and compares them with those the
manifest records (exit 1 on a mismatch). ``build.py`` calls :func:`apparent_metrics` to measure
them in the first place. The cross-validated metrics need the full rebuild (``build.py``).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common.survival_metrics as sm  # noqa: E402
import numpy as np  # noqa: E402
from gbsg2_data import GRID_MONTHS, SEED, Cohort, load_gbsg2  # noqa: E402

ROOT = HERE.parent.parent
PLUGIN = ROOT / "plugins" / "relapse-gbsg2"
CAL_MONTH = 60
N_BOOT_CI = 500


@functools.lru_cache(maxsize=4)
def _session(path: str, mtime_ns: int, size: int) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the graph on raw feature rows; return its outputs by name."""
    st = Path(path).stat()
    sess = _session(str(path), st.st_mtime_ns, st.st_size)
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {"features": np.asarray(x, dtype=np.float32)})
    return dict(zip(names, outs, strict=True))


def apparent_metrics(path: Path, d: Cohort, seed: int, *, interval: bool = True
                     ) -> dict[str, dict[str, float | str]]:
    """Return the apparent (training-data) metrics of the ONNX graph on the cohort.

    C-index of 1 - S(60 months) with a patient-bootstrap 95 % interval, IPCW integrated Brier
    score over months 1-84, 5-year calibration by tertile of predicted risk (predicted vs
    Kaplan-Meier), and how often the 95 % band contains the point estimate. ``interval=False``
    skips the bootstrap (the slow part) and leaves the C-index without bounds.
    """
    out = run_onnx(path, d.x)
    rfs = out["rfs"].astype(float)
    risk = 1.0 - rfs[:, CAL_MONTH - 1]
    c_index: dict[str, float | str] = {
        "value": sm.harrell_c(d.time, d.event, risk),
        "description": "Harrell's C on the 686 training patients (optimistic); "
                       "patient-bootstrap interval"}
    if interval:
        lo, hi = sm.bootstrap_c_index(d.time, d.event, risk, n_boot=N_BOOT_CI, seed=seed)
        c_index.update(lower=lo, upper=hi, level=0.95)
    values: dict[str, dict[str, float | str]] = {
        "c_index_apparent": c_index,
        "ibs_apparent": {"value": sm.ibs(d.time, d.event, d.time, d.event, rfs, GRID_MONTHS),
                         "description": "IPCW integrated Brier score, months 1-84, training "
                                        "patients"},
    }
    names = {1: "low", 2: "mid", 3: "high"}
    for row in sm.calibration_by_group(d.time, d.event, rfs[:, CAL_MONTH - 1], CAL_MONTH):
        key = f"rfs60_{names[row['group']]}_risk_tertile"
        values[f"{key}_predicted"] = {
            "value": row["predicted"], "description": f"mean predicted 5-year RFS, "
                                                      f"{names[row['group']]}-risk tertile "
                                                      f"(n={row['n']}), apparent"}
        values[f"{key}_observed"] = {
            "value": row["observed"], "lower": row["observed_lower"],
            "upper": row["observed_upper"], "level": 0.95,
            "description": f"Kaplan-Meier 5-year RFS, {names[row['group']]}-risk tertile"}
    inside = (out["rfs_lower"] <= out["rfs"] + 1e-6) & (out["rfs"] <= out["rfs_upper"] + 1e-6)
    width = (out["rfs_upper"] - out["rfs_lower"])[:, CAL_MONTH - 1]
    values["band_width_60_median"] = {
        "value": float(np.median(width)),
        "description": "median width of the 95 % band at 60 months over the cohort"}
    values["band_contains_point"] = {
        "value": float(inside.mean()),
        "description": "share of (patient, month) points where the band contains the estimate"}
    return values


def main() -> int:
    """Recompute the apparent metrics from the committed model; compare with the manifest."""
    import tomllib

    manifest = tomllib.loads((PLUGIN / "plugin.toml").read_text(encoding="utf-8"))
    got = apparent_metrics(PLUGIN / "model.onnx", load_gbsg2(), SEED, interval=False)
    stored = manifest["metrics"]["values"]
    bad = 0
    for name, est in got.items():
        ok = abs(stored[name]["value"] - round(est["value"], 6)) <= 2e-6
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}: stored {stored[name]['value']} "
              f"recomputed {est['value']:.6f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
