"""Rebuild plugins/response-nsclc-rtio: virtual cohort, radiomics, training, ONNX, validation.

Run from the repository root (about 1-2 minutes on 2 cores)::

    .venv/bin/python models/response-nsclc-rtio/build.py

Steps: draw the synthetic cohort (generate.py), synthesise each tumour's CT crop and compute its
radiomics features with oncoboard.inference.radiomics (the engine's own code), write a subset as
DICOM CT + RTSTRUCT and check the features survive the DICOM round trip, fit a logistic regression
on blood + clinical + radiomics features (penalty chosen by 5-fold CV on the training part only),
export the ONNX graph (feature transforms inside it), score it with onnxruntime on the held-out
part against the Bayes-optimal AUC, and write model.onnx, plugin.toml and MODEL_CARD.md (every
figure from this run). Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common.binary_metrics as bm  # noqa: E402
import generate as gen  # noqa: E402
import onnx_graph  # noqa: E402
import report  # noqa: E402
from common.support import support_of  # noqa: E402

from oncoboard.inference.radiomics import compute_features  # noqa: E402

PLUGIN_ID = "response-nsclc-rtio"
VERSION = "1.1.0"
# One texture feature only: hu_sd, GLCM entropy, homogeneity and contrast all measure the same
# heterogeneity here (|r| > 0.9); several of them gave opposite-signed, offsetting coefficients
# (and confusing explanations) for no gain in cross-validated AUC.
RADIOMICS = ["volume_cc", "glcm_entropy"]
OTHER_TEXTURE = ["hu_sd", "glcm_homogeneity", "glcm_contrast"]   # measured, compared, not used
RAW = ["nlr", "ldh_ratio", "albumin", "crp", "ecog", "pdl1_tps", *RADIOMICS]
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 10.0)
N_BOOT = 200
CATEGORICAL = {"ecog": (0.0, 3.0)}     # held at its category range, no support table


def supports(x_train: np.ndarray) -> tuple[dict[str, dict], np.ndarray, np.ndarray]:
    """Return the support of each continuous input (training patients) and the clamp bounds."""
    sup, lo, hi = {}, np.empty(len(RAW)), np.empty(len(RAW))
    for j, name in enumerate(RAW):
        if name in CATEGORICAL:
            lo[j], hi[j] = CATEGORICAL[name]
            continue
        sup[name] = support_of(x_train[:, j])
        lo[j], hi[j] = sup[name]["lower"], sup[name]["upper"]
    return sup, lo, hi


def fit_bootstrap(design: np.ndarray, y: np.ndarray, params: dict, seed: int,
                  n_boot: int = N_BOOT) -> None:
    """Refit the chosen model (same C, same standardisation) on patient resamples."""
    from sklearn.linear_model import LogisticRegression

    z = (design - params["mean"]) / params["sd"]
    rng = np.random.default_rng(seed)
    coefs, icepts = [], []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        m = LogisticRegression(C=params["C"], max_iter=2000).fit(z[idx], y[idx])
        coefs.append(m.coef_[0])
        icepts.append(float(m.intercept_[0]))
    params["boot_coef"], params["boot_intercept"] = np.array(coefs), np.array(icepts)


def band_sweep(path: Path, params: dict, x_ref: np.ndarray, sup: dict) -> dict:
    """Return probability and band of a typical patient as each input moves over its data."""
    out = {}
    for name, s in sup.items():
        j = RAW.index(name)
        pts = sorted({s["observed_min"], s["lower"], float(x_ref[j]), s["upper"],
                      s["observed_max"]})
        rows = np.tile(x_ref, (len(pts), 1))
        rows[:, j] = pts
        p = onnx_graph.run_onnx(path, rows)
        lo, hi = onnx_graph.run_onnx_band(path, rows)
        out[name] = [{"value": float(v), "p": float(a), "lower": float(b), "upper": float(c)}
                     for v, a, b, c in zip(pts, p, lo, hi, strict=True)]
    return out


def cohort_features(cohort: gen.Cohort, seed: int, n_full: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw model inputs (n, len(RAW)), radiomics measured on each synthetic CT,
    and the other texture features (n, len(OTHER_TEXTURE)) for the feature-choice check."""
    n = len(cohort)
    x = np.empty((n, len(RAW)))
    other = np.empty((n, len(OTHER_TEXTURE)))
    x[:, 0] = cohort["neutrophils"] / cohort["lymphocytes"]
    x[:, 1] = cohort["ldh"] / cohort["ldh_uln"]
    x[:, 2], x[:, 3] = cohort["albumin"], cohort["crp"]
    x[:, 4], x[:, 5] = cohort["ecog"], cohort["pdl1_tps"]
    for i in range(n):
        vox, mask, affine = gen.tumour_image(cohort, i, seed, full=i < n_full)
        f = compute_features(vox, mask, RADIOMICS + OTHER_TEXTURE, affine=affine)
        x[i, 6:] = [f[k] for k in RADIOMICS]
        other[i] = [f[k] for k in OTHER_TEXTURE]
    return x, other


def texture_check(design: np.ndarray, entropy: np.ndarray, other: np.ndarray, y: np.ndarray,
                  c: float, seed: int) -> dict:
    """Return how the other texture features relate to GLCM entropy and what they would add."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    full = np.column_stack([design, other])
    out: dict = {"correlation_with_glcm_entropy": {
        k: float(np.corrcoef(entropy, other[:, j])[0, 1]) for j, k in enumerate(OTHER_TEXTURE)}}
    for name, d in (("chosen", design), ("with_other_texture", full)):
        z = (d - d.mean(axis=0)) / d.std(axis=0)
        scores = []
        for tr, va in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y):
            m = LogisticRegression(C=c, max_iter=2000).fit(z[tr], y[tr])
            scores.append(bm.auc(y[va], m.decision_function(z[va])))
        out[f"cv_auc_{name}"] = float(np.mean(scores))
        if name == "with_other_texture":
            coef = LogisticRegression(C=c, max_iter=2000).fit(z, y).coef_[0]
            names = ["glcm_entropy", *OTHER_TEXTURE]
            cols = [onnx_graph.DESIGN_NAMES.index("glcm_entropy"),
                    *range(design.shape[1], full.shape[1])]
            out["texture_coefficients_if_all_used"] = {
                k: float(coef[j]) for k, j in zip(names, cols, strict=True)}
    return out


def fit(design: np.ndarray, y: np.ndarray, seed: int) -> tuple[dict, dict[str, float]]:
    """Fit the standardised L2 logistic regression; C chosen by 5-fold CV AUC (training only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    mean, sd = design.mean(axis=0), design.std(axis=0)
    sd[sd == 0] = 1.0
    z = (design - mean) / sd
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y))
    cv = {}
    for c in C_GRID:
        scores = []
        for tr, va in folds:
            m = LogisticRegression(C=c, max_iter=2000).fit(z[tr], y[tr])
            scores.append(bm.auc(y[va], m.decision_function(z[va])))
        cv[f"C={c:g}"] = float(np.mean(scores))
    best = max(C_GRID, key=lambda c: cv[f"C={c:g}"])
    m = LogisticRegression(C=best, max_iter=2000).fit(z, y)
    params = {"mean": mean, "sd": sd, "coef": m.coef_[0], "intercept": float(m.intercept_[0]),
              "C": best}
    return params, cv


def dicom_round_trip(cohort: gen.Cohort, seed: int, n: int, x: np.ndarray) -> dict:
    """Write `n` patients as DICOM and compare features read back through oncoboard.imaging."""
    out_dir = HERE / "build" / "dicom"
    for i in range(n):
        gen.write_dicom(cohort, i, seed, out_dir)
    result: dict = {"patients_written": n, "folder": str(out_dir.relative_to(ROOT))}
    try:
        from roundtrip import features_from_dicom
        diffs = []
        for i in range(n):
            f = features_from_dicom(out_dir / f"SYN-LU-{i:05d}", RADIOMICS)
            diffs.append([abs(f[k] - x[i, 6 + j]) / max(abs(x[i, 6 + j]), 1e-9)
                          for j, k in enumerate(RADIOMICS)])
        result["max_relative_difference"] = dict(zip(RADIOMICS, np.max(diffs, axis=0).tolist(),
                                                     strict=True))
        result["checked"] = True
    except NotImplementedError as exc:
        result.update(checked=False, reason=f"oncoboard.imaging not available yet: {exc!r}")
    return result


def evaluate(y: np.ndarray, p: np.ndarray, true_p: np.ndarray, seed: int) -> dict:
    """Return the held-out metrics (AUC, Bayes-optimal AUC, gap, calibration)."""
    (lo, hi), (blo, bhi), (glo, ghi) = bm.bootstrap_auc(y, [p, true_p], seed=seed)
    a, bayes = bm.auc(y, p), bm.auc(y, true_p)
    slope, intercept = bm.calibration_slope_intercept(y, p)
    return {"auc": {"value": a, "lower": lo, "upper": hi},
            "bayes_auc": {"value": bayes, "lower": blo, "upper": bhi},
            # paired bootstrap of (Bayes - model): the interval list's last item is score0-score1
            "bayes_gap": {"value": bayes - a, "lower": -ghi, "upper": -glo},
            "calibration_slope": slope, "calibration_intercept": intercept,
            "calibration_interval": bm.bootstrap_calibration(y, p, seed=seed),
            "brier": bm.brier(y, p), "brier_bayes": bm.brier(y, true_p),
            "prevalence": float(y.mean()), "n": int(len(y)),
            "binned": bm.binned_calibration(y, p)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--n-train", type=int, default=1800)
    ap.add_argument("--n-test", type=int, default=1200)
    ap.add_argument("--n-dicom", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "plugins" / PLUGIN_ID)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cohort = gen.sample_cohort(args.n_train + args.n_test, args.seed)
    x, other = cohort_features(cohort, args.seed, n_full=args.n_dicom)
    t_feat = time.perf_counter() - t0
    y, true_p = cohort["response"], cohort["true_p"]
    tr, te = slice(0, args.n_train), slice(args.n_train, None)
    sup, lo, hi = supports(x[tr])
    design_tr = onnx_graph.design_numpy(onnx_graph.clamp(x[tr], lo, hi))
    params, cv = fit(design_tr, y[tr], args.seed)
    params["lo"], params["hi"] = lo, hi
    fit_bootstrap(design_tr, y[tr], params, args.seed)
    model = onnx_graph.build_model(params, RAW)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    p_onnx = onnx_graph.run_onnx(onnx_path, x[te])
    p_numpy = onnx_graph.predict_numpy(params, x[te])
    metrics = evaluate(y[te], p_onnx, true_p[te], args.seed)
    metrics["onnx_vs_numpy_max_abs"] = float(np.abs(p_onnx - p_numpy).max())
    metrics["cv_auc_train"] = cv
    metrics["chosen_C"] = params["C"]
    b_lo, b_hi = onnx_graph.run_onnx_band(onnx_path, x[te])
    n_lo, n_hi = onnx_graph.band_numpy(params, x[te])
    metrics["onnx_vs_numpy_band_max_abs"] = float(max(np.abs(b_lo - n_lo).max(),
                                                      np.abs(b_hi - n_hi).max()))
    metrics["band"] = {"n_boot": N_BOOT, "median_width": float(np.median(b_hi - b_lo)),
                       "contains_point": float(np.mean((b_lo <= p_onnx) & (p_onnx <= b_hi))),
                       "sweep": band_sweep(onnx_path, params, np.median(x[tr], axis=0), sup)}
    metrics["texture_check"] = texture_check(design_tr, x[tr, 7],
                                             other[tr], y[tr], params["C"], args.seed)
    metrics["dicom_round_trip"] = dicom_round_trip(cohort, args.seed, args.n_dicom, x)
    metrics["seconds_features"] = round(t_feat, 1)
    metrics["seconds_total"] = round(time.perf_counter() - t0, 1)
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    info = {"plugin_id": PLUGIN_ID, "version": VERSION, "seed": args.seed, "sha256": sha,
            "n_train": args.n_train, "n_test": args.n_test, "raw_inputs": RAW,
            "shape": list(gen.SHAPE), "spacing": list(gen.SPACING),
            "coefficients": dict(zip(onnx_graph.DESIGN_NAMES, params["coef"].tolist(),
                                     strict=True)),
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "golden_x": x[args.n_train].tolist(), "golden_p": float(p_onnx[0]),
            "support": sup,
            "interval_method": (f"bootstrap: 2.5th-97.5th percentiles of the probabilities of "
                                f"{N_BOOT} refits on resampled training patients (same penalty "
                                "and standardisation); inputs held inside the training support")}
    # The full record of the run sits next to the build script for the bundled plugin, else
    # in the output folder (so a test rebuild leaves the committed record alone).
    record = HERE if args.out.resolve() == (ROOT / "plugins" / PLUGIN_ID).resolve() else args.out
    (record / "metrics.json").write_text(json.dumps({**info, "metrics": metrics}, indent=2,
                                                    ensure_ascii=False) + "\n")
    report.write_manifest(args.out / "plugin.toml", info, metrics)
    report.write_model_card(args.out / "MODEL_CARD.md", info, metrics)
    print(json.dumps({k: metrics[k] for k in ("auc", "bayes_auc", "bayes_gap",
                                              "calibration_slope", "calibration_intercept",
                                              "seconds_total")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
