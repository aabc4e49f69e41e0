"""Rebuild the predict-breast-v2.1 plugin: graph from the equations, validation, manifest, card.

Usage (from the repository root)::

    .venv/bin/python models/predict-breast-v2.1/build.py [--n-random 5000]

Steps: build the ONNX graph from the published equations (predict_onnx.py) -> compare it with the
NumPy implementation (predict_equations.py) on ``n-random`` random valid patients under every
treatment combination and on the published example -> check that no treatment lowers survival ->
write ``plugins/predict-breast-v2.1/{model.onnx, plugin.toml, MODEL_CARD.md}``. No training.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import predict_equations as pe  # noqa: E402
from common.manifest_io import (  # noqa: E402
    fill_template,
    render_golden,
    render_metrics,
    toml_value,
)
from common.onnx_graph import save  # noqa: E402
from predict_onnx import build_graph  # noqa: E402

ROOT = HERE.parent.parent
PLUGIN = ROOT / "plugins" / "predict-breast-v2.1"
SEED = 20261123
TOLERANCE_PP = 0.01  # required agreement with the equations, percentage points
NOISE_PP = 1e-9  # double-precision noise of 1 - sum(...) where survival is ~0
# No individual interval exists for PREDICT: the published external validation is shown instead,
# stated as such (reference sheet: van Maaren et al., Eur J Cancer 2017).
UNCERTAINTY = ("No confidence interval: PREDICT publishes none for an individual estimate. "
               "Published external validation (van Maaren et al., Eur J Cancer 2017, Dutch "
               "population): AUC about 0.78-0.80 for 10-year overall survival; calibration and "
               "discrimination weaker under 40 and over 75.")
AGE_CAUTIONS = [
    {"below": 40.0, "message": "PREDICT's calibration and discrimination are weaker under 40 "
                               "(published validation); read the estimate with caution"},
    {"above": 75.0, "message": "PREDICT's calibration and discrimination are weaker over 75 "
                               "(published validation); read the estimate with caution"},
]
# Published code: unknown grade is 2.13 in the ER-positive index and 0 in the ER-negative one.
ER_NEG_UNKNOWN_GRADE = {"age": 50, "size_mm": 20, "nodes": 1, "grade": 9, "er": 0, "her2": 0,
                        "ki67": 9, "screen": 0, "generation": 0, "horm": 0, "traz": 0, "bis": 0}
KI67_SOURCE = {"type": "derived", "derivation": "ki67_status", "window_days": 3650}
EXAMPLE_LABELS = {"age": 65, "size_mm": 19, "nodes": 1, "grade": "2", "er": "positive",
                  "her2": "negative", "ki67": "negative", "screen": "clinical",
                  "generation": "none", "horm": "no", "traz": "no", "bis": "no"}
OPTIONS = {"horm": "Hormone therapy", "generation": "Chemotherapy", "traz": "Trastuzumab",
           "bis": "Bisphosphonates"}


def treatment_combinations() -> list[dict[str, int]]:
    """Return the 24 combinations of hormone therapy, chemo 0/2/3, trastuzumab, bisphosphonates."""
    combos = [{"horm": h, "generation": c, "traz": t, "bis": b}
              for h, c, t, b in itertools.product((0, 1), (0, 2, 3), (0, 1), (0, 1))]
    # Surgery only first, then single options, pairs, ... in the order of the PREDICT tool.
    return sorted(combos, key=lambda r: (sum(bool(v) for v in r.values()), -r["horm"],
                                         r["generation"] == 0, r["generation"], -r["traz"],
                                         -r["bis"]))


def scenario_name(rx: dict[str, int]) -> str:
    """Return a readable name, e.g. 'Hormone therapy + Chemotherapy (3rd gen)'."""
    parts = []
    if rx["horm"]:
        parts.append(OPTIONS["horm"])
    if rx["generation"]:
        gen = {2: "2nd", 3: "3rd"}[rx["generation"]]
        parts.append(f"Chemotherapy ({gen} gen)")
    if rx["traz"]:
        parts.append(OPTIONS["traz"])
    if rx["bis"]:
        parts.append(OPTIONS["bis"])
    return " + ".join(parts) or "Surgery only"


def scenarios_toml() -> str:
    """Return the [[scenarios]] blocks: surgery only (baseline) and the 23 treated options."""
    labels = {"generation": {0: "none", 2: "second", 3: "third"}}
    blocks = []
    for rx in treatment_combinations():
        over = {k: labels.get(k, {0: "no", 1: "yes"})[v] for k, v in rx.items()}
        lines = ["[[scenarios]]", f"name = {toml_value(scenario_name(rx))}",
                 f"overrides = {toml_value(over)}"]
        if not any(rx.values()):
            lines.append("baseline = true")
            lines.append('description = "Surgery alone: the reference for every benefit."')
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def graph_inputs_toml() -> str:
    """Return the [[model.inputs]] blocks (one n x 1 float32 tensor per input)."""
    return "\n\n".join(
        f'[[model.inputs]]\nname = "{n}"\ntype = "tabular"\ndtype = "float32"\nshape = ["n", 1]'
        for n in pe.INPUTS)


def run_onnx(path: Path, patients: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the graph; return its outputs by name (float64)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: np.asarray(patients[k], np.float32).reshape(-1, 1) for k in pe.INPUTS}
    names = [o.name for o in sess.get_outputs()]
    return {k: v.astype(float) for k, v in zip(names, sess.run(names, feeds), strict=True)}


def compare(path: Path, patients: dict[str, np.ndarray]) -> dict[str, float]:
    """Return max |ONNX - NumPy| in percentage points for each output."""
    got, ref = run_onnx(path, patients), pe.predict(patients)
    return {k: 100 * float(np.abs(got[k] - getattr(ref, k)).max()) for k in got}


def with_treatments(patients: dict[str, np.ndarray], rx: dict[str, int]) -> dict[str, np.ndarray]:
    """Return the same patients under treatment combination ``rx``."""
    n = len(patients["age"])
    return {**patients, **{k: np.full(n, float(v)) for k, v in rx.items()}}


def validate(path: Path, n_random: int) -> dict[str, dict[str, float | str]]:
    """Measure agreement with the equations, the example, and benefit signs; return metrics."""
    base = pe.random_patients(n_random, SEED)
    worst = {"os": 0.0, "br_mortality": 0.0, "oth_mortality": 0.0}
    min_benefit = np.inf
    surgery = run_onnx(path, with_treatments(base, treatment_combinations()[0]))["os"]
    for rx in treatment_combinations():
        diffs = compare(path, with_treatments(base, rx))
        worst = {k: max(worst[k], diffs[k]) for k in worst}
        treated = run_onnx(path, with_treatments(base, rx))["os"]
        min_benefit = min(min_benefit, 100 * float((treated - surgery).min()))
    ex = {k: np.array([float(v)]) for k, v in _example_codes().items()}
    ex_onnx = run_onnx(path, ex)
    ex_unknown = run_onnx(path, {**ex, "screen": np.array([2.0])})
    n_cases = n_random * len(treatment_combinations())
    values: dict[str, dict[str, float | str]] = {
        f"max_abs_diff_{k}_pp": {"value": v, "description": f"largest |ONNX - NumPy equations| of "
                                 f"{k}, percentage points, over {n_cases} random valid "
                                 f"patient-treatment cases (years 1-15); required <= "
                                 f"{TOLERANCE_PP}"} for k, v in worst.items()}
    values["min_treatment_benefit_os_pp"] = {
        "value": min_benefit, "description": "smallest OS benefit (treated - surgery only) over "
                                             "the same cases and years, percentage points"}
    values["example_os10_surgery_pct"] = {
        "value": 100 * float(ex_onnx["os"][0, 9]),
        "description": "published example (65 y, 19 mm, 1 node, grade 2, ER+, HER2-, Ki67-, "
                       "clinically detected), 10-year OS after surgery only, % (published: "
                       "about 74 %)"}
    neg = run_onnx(path, {k: np.array([float(v)]) for k, v in ER_NEG_UNKNOWN_GRADE.items()})
    values["example_os10_er_negative_grade_unknown_pct"] = {
        "value": 100 * float(neg["os"][0, 9]),
        "description": "50 y, 20 mm, 1 node, grade unknown, ER-, HER2-, surgery only: 10-year "
                       "OS, % (unknown grade scores 0 in the ER-negative index, as in the "
                       "published code)"}
    values["example_os10_surgery_screen_unknown_pct"] = {
        "value": 100 * float(ex_unknown["os"][0, 9]),
        "description": "same, detection unknown (code 2), %"}
    for rx in treatment_combinations()[1:]:
        if sum(bool(v) for v in rx.values()) == 1:
            treated = run_onnx(path, with_treatments(ex, rx))["os"][0, 9]
            key = "_".join(f"{k}{v}" if k == "generation" else k for k, v in rx.items() if v)
            values[f"example_benefit10_{key}_pp"] = {
                "value": 100 * float(treated - ex_onnx["os"][0, 9]),
                "description": f"example, 10-year OS benefit of {scenario_name(rx).lower()} "
                               f"over surgery only, percentage points"}
    if max(worst.values()) > TOLERANCE_PP or min_benefit < -NOISE_PP:
        raise SystemExit(f"validation failed: {worst}, min benefit {min_benefit}")
    return values


def _example_codes() -> dict[str, float]:
    return {"age": 65, "size_mm": 19, "nodes": 1, "grade": 2, "er": 1, "her2": 0, "ki67": 0,
            "screen": 0, "generation": 0, "horm": 0, "traz": 0, "bis": 0}


def main(argv: list[str] | None = None) -> int:
    """Run the whole rebuild."""
    from model_card import write_card

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-random", type=int, default=5000, help="random patients (default 5000)")
    ap.add_argument("--out", type=Path, default=PLUGIN,
                    help="plugin folder to write (default plugins/predict-breast-v2.1)")
    args = ap.parse_args(argv)
    out = args.out
    t0 = time.perf_counter()
    meta = {"plugin": "predict-breast-v2.1", "source": "published equations (no training)",
            "inputs": ",".join(pe.INPUTS)}
    sha = save(build_graph(meta), out / "model.onnx")
    values = validate(out / "model.onnx", args.n_random)
    ex = {k: np.array([float(v)]) for k, v in _example_codes().items()}
    golden = run_onnx(out / "model.onnx", ex)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    fill_template(HERE / "plugin.toml.in", out / "plugin.toml", {
        "SHA256": sha,
        "GRAPH_INPUTS": graph_inputs_toml(),
        "KI67_SOURCE": toml_value(KI67_SOURCE),
        "TIME_GRID": toml_value([int(y) for y in pe.YEARS]),
        "SCENARIOS": scenarios_toml(),
        "UNCERTAINTY": toml_value(UNCERTAINTY),
        "AGE_CAUTIONS": toml_value(AGE_CAUTIONS),
        "GOLDEN": render_golden(EXAMPLE_LABELS, {k: [round(float(v), 6) for v in golden[k][0]]
                                                 for k in ("os", "br_mortality")}, 1e-5),
        "METRICS": render_metrics("models/predict-breast-v2.1/build.py", now,
                                  f"{args.n_random} random valid patients x 24 treatment "
                                  f"combinations (seed {SEED}); published example", values),
    })
    elapsed = time.perf_counter() - t0
    write_card(out / "MODEL_CARD.md", {"sha256": sha, "generated_at": now, "seconds": elapsed,
                                          "n_random": args.n_random, "seed": SEED,
                                          "uncertainty": UNCERTAINTY,
                                          "size": (out / "model.onnx").stat().st_size},
               values)
    print(f"predict-breast-v2.1: max diff OS {values['max_abs_diff_os_pp']['value']:.2e} pp; "
          f"example 10-y OS {values['example_os10_surgery_pct']['value']:.1f} %; "
          f"sha256 {sha[:12]}; {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
