"""Write relapse-gbsg2's plugin.toml and MODEL_CARD.md from their templates and measured numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from common.manifest_io import (
    fill_template,
    fmt_estimate,
    render_golden,
    render_metrics,
    table,
    toml_value,
)
from cv import CALIBRATION_MONTH, COMPARATORS, PH_CANDIDATES
from export_onnx import PHEnsemble, numpy_forward
from gbsg2_data import GRID_MONTHS, Cohort
from sksurv.nonparametric import kaplan_meier_estimator

HERE = Path(__file__).resolve().parent
KIND_TEXT = {
    "cox-fp": "A Cox proportional-hazards model with transformed predictors (fractional "
              "polynomials of age, exp(-0.12 x nodes), log receptor levels; ridge-penalised)",
    "cox-linear": "A Cox proportional-hazards model on the raw predictors (ridge-penalised)",
    "gbm": "Gradient-boosted trees with the Cox loss",
    "rsf": "Random survival forest (200 trees, min 15 patients per leaf, not tuned)",
}
TERTILES = {1: "low", 2: "mid", 3: "high"}
EXPORT_TEXT = {
    "cox": "the design transforms and the linear predictor lp of every member (one matrix product)",
    "gbm": "one ai.onnx.ml TreeEnsembleRegressor holding every member's trees, target m giving "
           "member m's lp (summed in float32 by onnxruntime)",
}


def cohort_text(d: Cohort) -> str:
    """Describe the cohort from the data (size, events, follow-up)."""
    t_fu, s_fu = kaplan_meier_estimator(~d.event, d.time)  # reverse KM: follow-up
    median_fu = float(t_fu[np.argmax(s_fu <= 0.5)])
    return (f"{len(d.x)} women with node-positive breast cancer from the GBSG2 trial "
            f"(1984-1989); {int(d.event.sum())} recurrences or deaths "
            f"({100 * d.event.mean():.1f} %), median follow-up {median_fu:.1f} months "
            f"(reverse Kaplan-Meier), last event at {d.time[d.event].max():.1f} months, "
            f"longest follow-up {d.time.max():.1f} months.")


def _cv_estimates(summary: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    s = summary[kind]
    lo, hi = s["c_index_fold_interval"]
    blo, bhi = s["ibs_fold_interval"]
    return {
        "c_index": {"value": s["c_index_mean"], "lower": lo, "upper": hi, "level": 0.95,
                    "description": f"{KIND_TEXT[kind].split(' (')[0]}: Harrell's C, mean of "
                                   f"the outer test folds of repeated nested 5-fold CV; "
                                   f"interval = 2.5th-97.5th percentile of the fold values"},
        "ibs": {"value": s["ibs_mean"], "lower": blo, "upper": bhi, "level": 0.95,
                "description": "IPCW integrated Brier score, months 1-84, same CV folds"},
    }


def write_manifest(path: Path, info: dict[str, Any], summary: dict[str, Any],
                   apparent: dict[str, Any], golden_inputs: dict[str, Any],
                   golden_expected: dict[str, Any]) -> None:
    """Fill plugin.toml.in with the hash, grid, golden case and metrics."""
    kind = info["kind"]
    values: dict[str, Any] = {}
    cv = _cv_estimates(summary, kind)
    values["c_index_cv"], values["ibs_cv"] = cv["c_index"], cv["ibs"]
    for other in PH_CANDIDATES + COMPARATORS:
        if other != kind:
            est = _cv_estimates(summary, other)
            values[f"c_index_cv_{other.replace('-', '_')}"] = est["c_index"]
            values[f"ibs_cv_{other.replace('-', '_')}"] = est["ibs"]
    for row in summary[kind]["calibration_60"]:
        key = f"rfs60_{TERTILES[row['group']]}_risk_tertile_cv"
        values[f"{key}_predicted"] = {"value": row["predicted"], "description":
                                      "mean out-of-fold predicted 5-year RFS (averaged over "
                                      "repeats)"}
        values[f"{key}_observed"] = {"value": row["observed"], "lower": row["observed_lower"],
                                     "upper": row["observed_upper"], "level": 0.95,
                                     "description": "Kaplan-Meier 5-year RFS of that tertile"}
    values.update(apparent)
    dataset = (f"GBSG2, 686 patients: {info['repeats']} x 5-fold nested CV (tuning inside the "
               f"training folds only) and apparent metrics of the exported graph")
    fill_template(HERE / "plugin.toml.in", path, {
        "SHA256": info["sha256"],
        "MODEL_KIND_TEXT": KIND_TEXT[kind],
        "COHORT_TEXT": info["cohort"],
        "TIME_GRID": "[" + ", ".join(str(int(t)) for t in GRID_MONTHS) + "]",
        "N_BOOT": str(info["n_boot"]),
        "GOLDEN": render_golden(golden_inputs, golden_expected, 1e-5),
        "METRICS": render_metrics("models/relapse-gbsg2/build.py", info["generated_at"],
                                  dataset, values),
        "INTERVAL_METHOD": toml_value(info["interval_method"]),
        "CONSISTENCY": "\n".join(table("[[consistency]]", rule) for rule in info["consistency"]),
        **{f"SUPPORT_{name.upper()}": f"support = {toml_value(sup)}"
           for name, sup in info["support"].items()},
    })


def _cv_table(summary: dict[str, Any], chosen: str) -> str:
    rows = ["| model | C-index (fold 95 % range) | SD | IBS (fold 95 % range) | chosen |",
            "|---|---|---|---|---|"]
    for kind in PH_CANDIDATES + COMPARATORS:
        est = _cv_estimates(summary, kind)
        rows.append(f"| {kind}: {KIND_TEXT[kind]} | {fmt_estimate(est['c_index'])} | "
                    f"{summary[kind]['c_index_sd']:.3f} | {fmt_estimate(est['ibs'])} | "
                    f"{'yes' if kind == chosen else ''} |")
    return "\n".join(rows)


def _params_text(summary: dict[str, Any], kind: str) -> str:
    counts: dict[str, int] = {}
    for p in summary[kind]["params"]:
        key = ", ".join(f"{k}={v:g}" for k, v in p.items()) or "fixed"
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{k} ({n} folds)" for k, n in sorted(counts.items(), key=lambda i: -i[1]))


def _cal_table(rows: list[dict[str, Any]]) -> str:
    out = ["| risk tertile | n | mean predicted 5-y RFS | Kaplan-Meier 5-y RFS (95 % CI) |",
           "|---|---|---|---|"]
    for r in rows:
        out.append(f"| {TERTILES[r['group']]} | {r['n']} | {r['predicted']:.3f} | "
                   f"{r['observed']:.3f} ({r['observed_lower']:.3f}-{r['observed_upper']:.3f}) |")
    return "\n".join(out)


def _apparent_cal(apparent: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for g, name in TERTILES.items():
        obs = apparent[f"rfs60_{name}_risk_tertile_observed"]
        pred = apparent[f"rfs60_{name}_risk_tertile_predicted"]
        n = int(pred["description"].split("n=")[1].split(")")[0])
        rows.append({"group": g, "n": n, "predicted": pred["value"], "observed": obs["value"],
                     "observed_lower": obs["lower"], "observed_upper": obs["upper"]})
    return rows


def _horth_text(ens: PHEnsemble) -> str:
    hr_text = ""
    if ens.gamma is not None:
        hr = np.exp(ens.gamma[-1])  # horth is the last design column of every Cox design
        lo, hi = np.quantile(hr[1:], [0.025, 0.975])
        hr_text = (f"Hazard ratio for hormonal therapy in the exported model: {hr[0]:.2f} "
                   f"(bootstrap 95 % interval {lo:.2f}-{hi:.2f}). ")
    row = np.array([[53, 1, 25, 2, 3, 32, 36, 0], [53, 1, 25, 2, 3, 32, 36, 1]], float)
    f = numpy_forward(ens, row)
    i = int(CALIBRATION_MONTH) - 1
    return (f"{hr_text}For the reference patient (53 years, "
            f"post-menopausal, 25 mm, grade II, 3 nodes, PR 32 and ER 36 fmol/mg) the 5-year RFS "
            f"is {f['rfs'][0, i]:.3f} ({f['rfs_lower'][0, i]:.3f}-{f['rfs_upper'][0, i]:.3f}) "
            f"without and {f['rfs'][1, i]:.3f} ({f['rfs_lower'][1, i]:.3f}-"
            f"{f['rfs_upper'][1, i]:.3f}) with hormonal therapy.")


def _horth_by_meno(d: Cohort) -> str:
    parts = []
    for code, name in ((0.0, "pre"), (1.0, "post")):
        sel = d.x[:, 1] == code
        parts.append(f"{100 * d.x[sel, 7].mean():.0f} % of the {int(sel.sum())} "
                     f"{name}-menopausal women received it")
    return "; ".join(parts)


def band_sweep(ens: PHEnsemble, info: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """Return, per continuous input, 5-year RFS and band of the reference patient swept from
    below the observed minimum to above the observed maximum (the rest held at reference)."""
    from gbsg2_data import CONTINUOUS

    ref = np.array([53, 1, 25, 2, 3, 32, 36, 0], float)
    i60 = int(CALIBRATION_MONTH) - 1
    out: dict[str, list[dict[str, float]]] = {}
    for name, col in CONTINUOUS.items():
        sup = info["support"][name]
        pts = sorted({sup["observed_min"], sup["lower"], float(ref[col]), sup["upper"],
                      sup["observed_max"]})
        rows = np.tile(ref, (len(pts), 1))
        rows[:, col] = pts
        f = numpy_forward(ens, rows)
        out[name] = [{"value": float(v), "rfs": float(f["rfs"][k, i60]),
                      "lower": float(f["rfs_lower"][k, i60]),
                      "upper": float(f["rfs_upper"][k, i60])} for k, v in enumerate(pts)]
    return out


def extrapolation_text(ens: PHEnsemble, info: dict[str, Any]) -> str:
    """The card's section for clinicians: where the model extrapolates, how sure it is."""
    from common.support import card_rows

    sweep = band_sweep(ens, info)
    lines = [
        "Each continuous input is held inside the range where the 686 training patients give "
        "support (" + info["support"]["age"]["method"] + "). A value outside that range gets "
        "the estimate at the edge and a flag in plain words (for example \"age 21: only "
        f"{info['support']['age']['n_at_or_below_lower']} of 686 training patients had age "
        f"{info['support']['age']['lower']:g} or less; the estimate is extrapolated\").", "",
        card_rows(list(info["labels"].items()), info["support"]),
        "", "Menopausal status is checked against age: " + "; ".join(
            r["message"] for r in info["consistency"]) + ".", "",
        f"**Interval:** {info['interval_method']}. The band is narrowest near typical values "
        "and wider at the edges of the data; below, the reference patient's 5-year RFS "
        "[95 % band] as one input moves from its lowest to its highest training value (measured "
        "by the build):", "", "| input | value: 5-year RFS [band] |", "|---|---|"]
    for name, rows in sweep.items():
        lines.append(f"| {info['labels'][name]} | " + "; ".join(
            f"{r['value']:g}: {r['rfs']:.2f} [{r['lower']:.2f}-{r['upper']:.2f}]"
            for r in rows) + " |")
    return "\n".join(lines)


def write_card(path: Path, info: dict[str, Any], summary: dict[str, Any],
               apparent: dict[str, Any], ens: PHEnsemble, d: Cohort) -> None:
    """Fill MODEL_CARD.md.in."""
    kind = info["kind"]
    fill_template(HERE / "MODEL_CARD.md.in", path, {
        "GENERATED_AT": info["generated_at"],
        "COHORT_TEXT": info["cohort"],
        "MODEL_KIND_TEXT": KIND_TEXT[kind],
        "EXPORT_TEXT": EXPORT_TEXT["gbm" if kind == "gbm" else "cox"],
        "CHOSEN": kind if kind == info["winner"] else
        f"{kind} (forced with --model for a check; the CV winner was {info['winner']})",
        "CHOSEN_PARAMS": ", ".join(f"{k}={v:g}" for k, v in info["params"].items()),
        "REPEATS": str(info["repeats"]),
        "N_FOLDS": str(5 * info["repeats"]),
        "CV_TABLE": _cv_table(summary, kind),
        "CV_PARAMS": "\n".join(f"- {k}: {_params_text(summary, k)}" for k in PH_CANDIDATES),
        "CAL_CV": _cal_table(summary[kind]["calibration_60"]),
        "CAL_APPARENT": _cal_table(_apparent_cal(apparent)),
        "C_APPARENT": fmt_estimate(apparent["c_index_apparent"]),
        "IBS_APPARENT": f"{apparent['ibs_apparent']['value']:.3f}",
        "BAND_WIDTH": f"{apparent['band_width_60_median']['value']:.3f}",
        "BAND_CONTAINS": f"{100 * apparent['band_contains_point']['value']:.1f}",
        "HORTH": _horth_text(ens),
        "HORTH_BY_MENO": _horth_by_meno(d),
        "N_BOOT": str(info["n_boot"]),
        "SEED": str(info["seed"]),
        "SHA256": info["sha256"],
        "SIZE_KB": f"{info['size'] / 1024:.0f}",
        "SECONDS": f"{info['seconds']:.0f}",
        "CV_SECONDS": f"{info['cv_seconds']:.0f}",
        "JOBS": str(info["jobs"]),
        "EXPORT_ERROR": f"{info['export_error']:.1e}",
        "EXTRAPOLATION": extrapolation_text(ens, info),
    })
