# ruff: noqa: E501  (TOML and Markdown templates: their lines are written as they are)
"""Write plugin.toml and MODEL_CARD.md from one build's measurements (never by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.manifest_io import (
    Raw,
    estimate,
    q,
    render_golden,
    render_metrics,
    table,
    write_text,
)

SYN = "SYNTHETIC - DEMONSTRATION ONLY"
ECOG = ", ".join(f'{{label = "{k}", value = {k}, synonyms = ["ECOG {k}"]}}' for k in range(4))


def _clinical(name: str, label: str, source: str, col: int, rng: tuple[float, float] | None,
              reference: float | str, unit: str | None = None,
              extra: dict[str, Any] | None = None) -> str:
    return table("[[inputs]]", {
        "kind": "clinical", "name": name, "label": label, "source": Raw(source), "unit": unit,
        "valid_range": None if rng is None else list(rng), "tensor": "features", "column": col,
        "reference": Raw(repr(reference)) if isinstance(reference, float) else reference,
        **(extra or {}), "support": SUPPORT.get(name)})


SUPPORT: dict[str, dict[str, Any]] = {}   # set by write_manifest from the build's measurements


def _inputs() -> str:
    lab = 'type = "derived", window_days = 30'
    parts = [
        _clinical("nlr", "Neutrophil-to-lymphocyte ratio", f'{{{lab}, derivation = "nlr"}}',
                  0, (0.0, 100.0), 3.0),
        _clinical("ldh_ratio", "LDH / upper limit of normal",
                  f'{{{lab}, derivation = "ldh_uln_ratio"}}', 1, (0.05, 30.0), 1.0),
        _clinical("albumin", "Albumin", '{type = "observation", system = "http://loinc.org", '
                  'code = "1751-7", window_days = 30}', 2, (10.0, 60.0), 38.0, "g/L"),
        _clinical("crp", "C-reactive protein", '{type = "observation", system = '
                  '"http://loinc.org", code = "1988-5", window_days = 30}', 3, (0.0, 500.0),
                  10.0, "mg/L"),
        _clinical("ecog", "ECOG performance status", '{type = "observation", system = '
                  '"http://loinc.org", code = "89247-1", window_days = 60}', 4, None, "1",
                  extra={"categories": Raw(f"[{ECOG}]")}),
        _clinical("pdl1_tps", "PD-L1 tumour proportion score", '{type = "observation", system = '
                  '"urn:oncoboard:code", code = "pdl1-tps", window_days = 365}', 5, (0.0, 100.0),
                  10.0, "%", extra={"required": False, "missing": "default", "default": 10.0}),
    ]
    for col, (name, label, rng, ref) in enumerate([
            ("volume_cc", "GTV volume (cm3)", (0.1, 1500.0), 35.0),
            ("glcm_entropy", "GTV texture entropy (GLCM, bits)", (0.0, 10.0), 5.5)], start=6):
        parts.append(_clinical(name, label, f'{{type = "radiomics", image = "planning_ct", '
                               f'feature = "{name}"}}', col, rng, ref))
    parts.append(
        '[[inputs]]\nkind = "image"\nname = "planning_ct"\nlabel = "Planning CT with GTV"\n'
        'modality = "CT"\nwindow_days = 120\nspacing_mm = [2.0, 1.5, 1.5]\nmode = "features"\n'
        'feature_definition = "IBSI 1"\n'
        'mask = {source = "RTSTRUCT", roi_names = ["GTV", "GTVp", "GTV_T", "GTV-1"]}\n'
        'preprocessing = {resample = true, crop = "mask_bbox", margin_mm = 10.0}\n')
    return "\n".join(parts)


def _metrics(info: dict[str, Any], m: dict[str, Any]) -> str:
    return render_metrics(
        "models/response-nsclc-rtio/build.py", info["generated_at"],
        f"held-out synthetic patients (n = {m['n']}), 1000 bootstrap resamples", {
            "auc": estimate(m["auc"], "AUC of the ONNX model on the held-out synthetic patients"),
            "bayes_optimal_auc": estimate(m["bayes_auc"], "AUC of the true generative probability, same patients"),
            "bayes_gap": estimate(m["bayes_gap"], "Bayes-optimal AUC minus model AUC (paired bootstrap)"),
            "calibration_slope": Raw(f"{m['calibration_slope']:.4f}"),
            "calibration_intercept": Raw(f"{m['calibration_intercept']:.4f}"),
            "brier": Raw(f"{m['brier']:.4f}")}, header="[metrics]", spaced=False)


def write_manifest(path: Path, info: dict[str, Any], m: dict[str, Any]) -> None:
    """Write plugin.toml for this build."""
    SUPPORT.clear()
    SUPPORT.update(info["support"])
    raw = info["raw_inputs"]
    golden = dict(zip(raw, info["golden_x"], strict=True))
    golden_txt = ", ".join(f'{k} = {q(str(int(v)))}' if k == "ecog" else f"{k} = {v!r}"
                           for k, v in golden.items())
    text = f"""# Written by models/response-nsclc-rtio/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{info['plugin_id']}"
name = "Response to radiotherapy + immunotherapy, stage III-IV NSCLC ({SYN.lower()})"
version = "{info['version']}"
task = "response"
description = {q("Probability of objective response (RECIST 1.1 complete or partial) 3 months "
                  "after radiotherapy combined with anti-PD-(L)1 immunotherapy in stage III-IV "
                  "non-small-cell lung cancer, from blood (NLR, LDH/ULN, albumin, CRP), ECOG, "
                  "PD-L1 and radiomics of the planning-CT GTV. " + SYN + ": trained on a "
                  "virtual cohort, not on patients.")}
authors = ["Oncoboard developers"]
license = "Apache-2.0"
references = [
  "Mezquita L et al. Association of the Lung Immune Prognostic Index with immune checkpoint inhibitor outcomes in NSCLC. JAMA Oncol 2018;4:351-357.",
  "Aerts HJWL et al. Decoding tumour phenotype by noninvasive imaging using a quantitative radiomics approach. Nat Commun 2014;5:4006.",
]
model_card = "MODEL_CARD.md"

[intended_use]
summary = {q(SYN + ". Shows how a response model would appear at a thoracic tumour board; "
              "must not inform any clinical decision.")}
users = "tumour board clinicians (demonstration)"
not_for = ["clinical decision making", "small-cell lung cancer", "stage I-II disease"]

[population]
description = "Adults with stage III-IV NSCLC planned for radiotherapy plus anti-PD-(L)1 (virtual cohort)."
diagnoses = ["C34"]
age_min = 18
age_max = 100
out_of_population = "flag"

[population.treatment]
kind = "radiotherapy"

[training_data]
source = "synthetic"
synthetic = true
description = {q(f"Virtual cohort drawn by models/response-nsclc-rtio/generate.py (seed "
                  f"{info['seed']}): {info['n_train']} training and {info['n_test']} held-out "
                  "patients, each with a synthetic CT crop and GTV mask.")}
n_patients = {info['n_train']}
generator = "models/response-nsclc-rtio/generate.py"

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = 17

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float32"
shape = [-1, {len(raw)}]
channel_def = {{{", ".join(f'{i} = "{n}"' for i, n in enumerate(raw))}}}

[[model.outputs]]
name = "probability"
type = "probability"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 1.0]

[[model.outputs]]
name = "probability_lower"
type = "probability"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 1.0]

[[model.outputs]]
name = "probability_upper"
type = "probability"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 1.0]

{_inputs()}
[[outputs]]
name = "response"
kind = "probability"
label = "Objective response at 3 months ({SYN.lower()})"
description = "RECIST 1.1 complete or partial response 3 months after radiotherapy + immunotherapy."
tensor = "probability"
column = 0
risk_bands = [{{label = "low", upper = 0.3}}, {{label = "intermediate", upper = 0.6}}, {{label = "high", upper = 1.0}}]
lower = "response_lower"
upper = "response_upper"
interval_level = 0.95
interval_method = {q(info['interval_method'])}

[[outputs]]
name = "response_lower"
kind = "probability"
label = "Objective response, lower 95 % bound"
description = "2.5th percentile over the bootstrap refits."
tensor = "probability_lower"
column = 0
display = false

[[outputs]]
name = "response_upper"
kind = "probability"
label = "Objective response, upper 95 % bound"
description = "97.5th percentile over the bootstrap refits."
tensor = "probability_upper"
column = 0
display = false

[explanation]
method = "occlusion"
output = "response"
scale = "logit"

{_metrics(info, m)}

{render_golden(Raw(f"{{{golden_txt}}}"), Raw(f"{{response = {info['golden_p']!r}}}"),
               Raw("1e-4"), header="[golden]")}
"""
    write_text(path, text)


LABELS = {"nlr": "NLR", "ldh_ratio": "LDH / ULN", "albumin": "albumin (g/L)",
          "crp": "CRP (mg/L)", "pdl1_tps": "PD-L1 TPS (%)", "volume_cc": "GTV volume (cm3)",
          "glcm_entropy": "GLCM entropy (bits)"}


def _extrapolation(info: dict[str, Any], m: dict[str, Any]) -> str:
    from common.support import card_rows

    sup, band = info["support"], m["band"]
    n = next(iter(sup.values()))["n_training"]
    rows = "\n".join(
        f"| {LABELS[k]} | " + "; ".join(f"{r['value']:.3g}: {r['p']:.2f} [{r['lower']:.2f}-"
                                         f"{r['upper']:.2f}]" for r in v) + " |"
        for k, v in band["sweep"].items())
    return (f"Each continuous input is held inside the range where the {n} training patients "
            f"give support ({next(iter(sup.values()))['method']}); a value outside gets the "
            "estimate at the edge and a flag saying it is extrapolated.\n\n"
            + card_rows([(k, LABELS[k]) for k in sup], sup) + "\n\n"
            f"**Interval:** {info['interval_method']}. On the held-out patients the median "
            f"width of the band is {band['median_width']:.3f} and it contains the point "
            f"estimate for {100 * band['contains_point']:.1f} % of them (ONNX band vs NumPy "
            f"{m['onnx_vs_numpy_band_max_abs']:.1e}). The band reflects the sampling "
            "uncertainty of the fitted model, not the gap between a virtual cohort and real "
            "patients. A typical patient (training medians) as one input moves from its lowest "
            "to its highest training value (probability [band], measured by the build):\n\n"
            "| input | value: probability [band] |\n|---|---|\n" + rows)


def write_model_card(path: Path, info: dict[str, Any], m: dict[str, Any]) -> None:
    """Write MODEL_CARD.md for this build."""
    rt = m["dicom_round_trip"]
    if rt.get("checked"):
        rt_text = ("Features read back through oncoboard.imaging (index, load, RTSTRUCT "
                   f"rasterisation) on {rt['patients_written']} written patients: largest "
                   "relative difference per feature " + ", ".join(
                       f"{k} {v:.2%}" for k, v in rt["max_relative_difference"].items()) + ".")
    else:
        rt_text = (f"{rt['patients_written']} patients written as DICOM CT + RTSTRUCT to "
                   f"`{rt['folder']}`; the read-back comparison did not run: {rt['reason']}.")
    bins = "\n".join(f"| {i + 1} | {b['predicted']:.3f} | {b['observed']:.3f} | {int(b['n'])} |"
                     for i, b in enumerate(m["binned"]))
    coefs = "\n".join(f"| {k} | {v:+.3f} |" for k, v in info["coefficients"].items())
    cv = ", ".join(f"{k}: {v:.3f}" for k, v in m["cv_auc_train"].items())
    a, g, bay = m["auc"], m["bayes_gap"], m["bayes_auc"]
    ci = m["calibration_interval"]
    tc = m["texture_check"]
    # more heterogeneity -> worse: entropy, SD and contrast should be negative, homogeneity positive
    expected = {"glcm_entropy": -1, "hu_sd": -1, "glcm_homogeneity": 1, "glcm_contrast": -1}
    flipped = sum(v * expected[k] < 0 for k, v in tc["texture_coefficients_if_all_used"].items())
    texture_text = (
        "The other texture features measure the same heterogeneity in this cohort (correlation "
        "with GLCM entropy on the training patients: " + ", ".join(
            f"{k} {v:+.2f}" for k, v in tc["correlation_with_glcm_entropy"].items())
        + f"). Adding them changes the 5-fold CV AUC from {tc['cv_auc_chosen']:.4f} to "
        f"{tc['cv_auc_with_other_texture']:.4f}, and their coefficients would be ("
        + ", ".join(f"{k} {v:+.2f}" for k, v in tc["texture_coefficients_if_all_used"].items())
        + f"; {flipped} of 4 against the direction of the heterogeneity effect): collinear "
        "features split one effect between them, which makes per-feature explanations hard to "
        "read for no gain, so the model keeps GLCM entropy alone.")
    text = f"""# Model card: response to radiotherapy + immunotherapy, stage III-IV NSCLC

> **{SYN}.** This model was trained on a generated virtual cohort. Its numbers say how well it
> recovers a known synthetic truth, nothing about real patients. The app labels every result
> "synthetic - demonstration only" (manifest `training_data.synthetic = true`).

*Written by `models/response-nsclc-rtio/build.py` on {info['generated_at']} (seed {info['seed']});
every figure below comes from that run. Plugin {info['plugin_id']} {info['version']}, model sha256
`{info['sha256']}`.*

## Intended use
Demonstrate, at a thoracic tumour board, a response model combining blood, clinical and imaging
inputs: probability of objective response (RECIST 1.1 CR/PR) 3 months after radiotherapy with
anti-PD-(L)1 immunotherapy. Not for clinical decisions.

## Population
Adults with **stage III-IV non-small-cell lung cancer** (ICD-10 C34) planned for radiotherapy plus
immunotherapy, with a planning CT and a GTV contour (RTSTRUCT). Patients outside it are flagged.

## Inputs
NLR (neutrophils / lymphocytes, derived by the engine), LDH / upper limit of normal (derived),
albumin (g/L), CRP (mg/L), ECOG 0-3, PD-L1 TPS (%; imputed 10 % when missing, shown as imputed),
and two radiomics features of the GTV on the planning CT resampled to 2 x 1.5 x 1.5 mm
(`oncoboard.inference.radiomics`): volume (cm3) and GLCM joint entropy (texture heterogeneity).
{texture_text}

## Data source: synthetic
`generate.py` draws {info['n_train'] + info['n_test']} virtual patients with effect directions from the
literature: lung immune prognostic index (NLR > 3 and LDH > ULN worse; Mezquita 2018), low
albumin / high CRP worse, ECOG (step at >= 2) worse, PD-L1 >= 50 % better (1-49 % intermediate),
larger and more heterogeneous GTV worse. A latent inflammation score couples the blood values.
Each patient's response is drawn from the known probability, so the Bayes-optimal AUC is known.
Each tumour is a rotated ellipsoid with a smooth heterogeneous texture plus CT noise (its level,
8-16 HU, varies between patients and does not affect the outcome) in a
{'x'.join(map(str, info['shape']))} crop ({' x '.join(map(str, info['spacing']))} mm); the features are measured on the image, never read from the generator.

DICOM: {rt_text}

## Training
Logistic regression (L2) on {len(info['coefficients'])} transforms of the raw inputs (logs, LIPI
thresholds, ECOG >= 2, PD-L1 groups), standardised; the penalty was chosen by 5-fold
cross-validated AUC on the {info['n_train']} training patients only ({cv}; chosen C =
{m['chosen_C']:g}). The transforms and the regression are one ONNX graph (opset 17); its
output matches the NumPy reference to {m['onnx_vs_numpy_max_abs']:.1e}.

| design feature | coefficient (standardised) |
|---|---|
{coefs}

## Metrics (held-out synthetic patients, n = {m['n']}, prevalence {m['prevalence']:.3f})
| metric | value | 95 % bootstrap interval |
|---|---|---|
| AUC (ONNX model) | {a['value']:.3f} | {a['lower']:.3f} to {a['upper']:.3f} |
| Bayes-optimal AUC (true probability) | {bay['value']:.3f} | {bay['lower']:.3f} to {bay['upper']:.3f} |
| gap to Bayes-optimal (target <= 0.02) | {g['value']:.4f} | {g['lower']:.4f} to {g['upper']:.4f} |
| calibration slope | {m['calibration_slope']:.3f} | {ci['slope'][0]:.3f} to {ci['slope'][1]:.3f} |
| calibration intercept | {m['calibration_intercept']:.3f} | {ci['intercept'][0]:.3f} to {ci['intercept'][1]:.3f} |
| Brier score (model / true probability) | {m['brier']:.4f} / {m['brier_bayes']:.4f} | |

Calibration by decile of predicted probability:

| decile | mean predicted | observed | n |
|---|---|---|---|
{bins}

## Where the model extrapolates, and how sure it is
{_extrapolation(info, m)}

## Limitations
- Synthetic: real effect sizes, correlations, missingness, scanners and contouring differ; the
  published directions were used, not published effect sizes. Never use for patients.
- Radiomics are computed on simple ellipsoid tumours without partial-volume blur; real GTVs touch
  mediastinum and chest wall, which changes intensity and texture features.
- NLR replaces the derived NLR (neutrophils / (leukocytes - neutrophils)) of the original LIPI.
- PD-L1 missing is imputed at 10 % (shown as imputed).

## Version history
- 1.1.0: inputs held inside the training support (values outside flagged as extrapolated); a
  bootstrap 95 % band for every probability.
- 1.0.0: first version (logistic regression on blood + clinical + 2 radiomics features).

## Rebuild
`.venv/bin/python models/response-nsclc-rtio/build.py` (this run: {m['seconds_total']:.0f} s, of
which {m['seconds_features']:.0f} s synthesising images and computing features).
"""
    write_text(path, text)
