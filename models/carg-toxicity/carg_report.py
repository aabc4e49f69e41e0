# ruff: noqa: E501  (TOML and Markdown templates: their lines are written as they are)
"""Write the CARG plugin's plugin.toml and MODEL_CARD.md from one build (never by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import carg_graph as cg
import numpy as np
from common.manifest_io import Raw, q, render_golden, render_metrics, table, write_text

CAVEAT = ("External validations vary widely (AUC 0.52 to 0.68 in Australian, German and French "
          "cohorts): show the score with that caveat, beside the record-based toxicity model "
          "(toxicity-hosp30), never alone.")
YES_NO = ('[{label = "yes", value = 1, synonyms = ["true", "oui", "y"]}, '
          '{label = "no", value = 0, synonyms = ["false", "non", "n"]}]')
LOCAL = "urn:oncoboard:code"


def _input(name: str, label: str, source: str, col: int, reference: str,
           extra: dict[str, Any] | None = None) -> str:
    return table("[[inputs]]", {"kind": "clinical", "name": name, "label": label,
                                "source": Raw(source), "tensor": "features", "column": col,
                                "reference": Raw(reference), **(extra or {})})


def _inputs() -> str:
    site = ('[{label = "gi", value = 1, synonyms = ["gastrointestinal"]}, '
            '{label = "gu", value = 1, synonyms = ["genitourinary"]}, '
            '{label = "lung", value = 0}, {label = "breast", value = 0}, '
            '{label = "gyn", value = 0, synonyms = ["gynaecological"]}, '
            '{label = "other", value = 0}]')
    hearing = ", ".join(f'{{label = "{h}", value = {k}}}' for k, h in enumerate(
        ["excellent", "good", "fair", "poor", "deaf"]))
    obs = '{{type = "observation", system = "{s}", code = "{c}", window_days = {w}}}'
    parts = [
        _input("age", "Age (years)", '{type = "patient", field = "age"}', 0, "65",
               {"unit": "a", "valid_range": [18.0, 120.0]}),
        _input("cancer_site", "Cancer site group", '{type = "derived", derivation = '
               '"cancer_site_group", window_days = 3650}', 1, '"other"', {"categories": Raw(site)}),
        _input("dose_intensity", "Relative dose intensity of the regimen (1 = standard dose)",
               '{type = "derived", derivation = "dose_intensity", window_days = 180}', 2, "0.8",
               {"unit": "1", "valid_range": [0.05, 2.0]}),
        _input("n_agents", "Number of chemotherapy agents", '{type = "derived", derivation = '
               '"n_agents", window_days = 180}', 3, "1", {"valid_range": [1.0, 10.0],
                                                          "integer": True}),
        _input("haemoglobin", "Haemoglobin", obs.format(s="http://loinc.org", c="718-7", w=60),
               4, "13.0", {"unit": "g/dL", "valid_range": [3.0, 25.0]}),
        _input("sex", "Sex (haemoglobin threshold)", '{type = "patient", field = "sex"}', 5,
               '"female"', {"categories": Raw('[{label = "male", value = 1}, '
                                         '{label = "female", value = 0}]')}),
        _input("crcl", "Creatinine clearance (Jelliffe)", '{type = "derived", derivation = '
               '"crcl_jelliffe", window_days = 60}', 6, "80.0",
               {"unit": "mL/min", "valid_range": [1.0, 300.0]}),
        _input("hearing", "Hearing", obs.format(s=LOCAL, c="hearing", w=365), 7, '"good"',
               {"categories": Raw(f"[{hearing}]")}),
        _input("falls_6m", "Falls in the last 6 months", obs.format(s=LOCAL, c="falls-6m",
               w=365), 8, "0", {"unit": "1", "valid_range": [0.0, 100.0],
                                "integer": True}),
        _input("walk_limited", "Limited in walking one block", obs.format(
            s=LOCAL, c="walk-one-block", w=365), 9, '"no"', {"categories": Raw(YES_NO)}),
        _input("needs_medication_help", "Needs help taking medications", obs.format(
            s=LOCAL, c="medication-help", w=365), 10, '"no"', {"categories": Raw(YES_NO)}),
        _input("social_decreased", "Social activities decreased because of health", obs.format(
            s=LOCAL, c="social-decrease", w=365), 11, '"no"', {"categories": Raw(YES_NO)}),
    ]
    return "\n".join(parts)


GOLDEN_INPUTS = ('{age = 74, cancer_site = "gi", dose_intensity = 1.0, n_agents = 2, '
                 'haemoglobin = 10.5, sex = "male", crcl = 30.0, hearing = "fair", falls_6m = 0, '
                 'walk_limited = "no", needs_medication_help = "no", social_decreased = "yes"}')


def golden_expected(info: dict[str, Any]) -> str:
    """The golden case's expected outputs (a high-risk patient: group index 2)."""
    rate = float(np.float32(info["validation"]["rate"][2]))
    return (f"{{carg_score = 17.0, development_cohort_toxicity_rate = 0.83, "
            f"validation_cohort_toxicity_rate = {rate!r}}}")


def _validation_tensors() -> str:
    return "".join(f"""
[[model.outputs]]
name = "validation_{key}"
type = "probability"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 1.0]
""" for key in cg.VALIDATION_OUTPUTS)


def _validation_outputs(info: dict[str, Any]) -> str:
    """The validation cohort's rate for the patient's group, with its interval."""
    counts = ", ".join(f"{g} {k}/{n}" for g, (k, n) in zip(
        cg.GROUP_LABELS, info["validation"]["counts"], strict=True))
    return f"""[[outputs]]
name = "validation_cohort_toxicity_rate"
kind = "probability"
label = "Grade 3-5 toxicity observed in the external validation cohort for this risk group"
description = {q(f"Observed rate in the {cg.VALIDATION_SOURCE} for the patient's group "
                 f"({counts}); not a calibrated individual probability.")}
tensor = "validation_rate"
column = 0
lower = "validation_cohort_toxicity_rate_lower"
upper = "validation_cohort_toxicity_rate_upper"
interval_method = {q(f"Wilson 95 % interval of the group's observed rate ({counts})")}

[[outputs]]
name = "validation_cohort_toxicity_rate_lower"
kind = "probability"
label = "Lower 95% bound of the validation cohort's rate"
tensor = "validation_lower"
column = 0
display = false

[[outputs]]
name = "validation_cohort_toxicity_rate_upper"
kind = "probability"
label = "Upper 95% bound of the validation cohort's rate"
tensor = "validation_upper"
column = 0
display = false
"""


def _metrics(info: dict[str, Any], check: dict[str, float]) -> str:
    agreement = (f"{{value = {check['fraction']!r}, description = \"fraction of "
                 f"{int(check['cases'])} input combinations where the ONNX points, group and "
                 "rate equal the reference table's\"}")
    return render_metrics(
        "models/carg-toxicity/build.py", info["generated_at"],
        "every combination of values at and on both sides of each item's threshold",
        {"agreement_with_reference_table": Raw(agreement), "cases_checked": check["cases"]},
        header="[metrics]", spaced=False)


def write_manifest(path: Path, info: dict[str, Any], check: dict[str, float]) -> None:
    """Write plugin.toml."""
    cols = ", ".join(f'{i} = "{c}"' for i, c in enumerate(cg.COLUMNS))
    items = ", ".join(f'{i} = "{it[0]} ({it[1]} pts)"' for i, it in enumerate(cg.ITEMS))
    rates = ", ".join(f"{g} {r:.0%}" for g, r in zip(cg.GROUP_LABELS, cg.OBSERVED_RATES,
                                                    strict=True))
    text = f"""# Written by models/carg-toxicity/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{info['plugin_id']}"
name = "CARG chemotherapy toxicity score (published score, exact)"
version = "{info['version']}"
task = "toxicity"
description = "Cancer and Aging Research Group score (0-23 points) for grade 3-5 chemotherapy toxicity in adults aged 65 and over with a solid tumour, with its risk group (0-5 low, 6-9 intermediate, 10-23 high) and the development cohort's observed toxicity rate for that group ({rates}). {CAVEAT}"
authors = ["Hurria A et al. (score)", "Oncoboard developers (ONNX implementation)"]
license = "Apache-2.0"
references = [
  "Hurria A et al. Predicting chemotherapy toxicity in older adults with cancer: a prospective multicenter study. J Clin Oncol 2011;29:3457-3465.",
  "Hurria A et al. Validation of a prediction tool for chemotherapy toxicity in older adults with cancer. J Clin Oncol 2016;34:2366-2371.",
]
model_card = "MODEL_CARD.md"

[intended_use]
summary = "Shown beside the record-based toxicity model (toxicity-hosp30) when chemotherapy is discussed for a patient aged 65 or over: a published geriatric score with its caveat, not a decision rule."
not_for = ["use alone, without the caveat (external AUC 0.52-0.68)", "patients under 65 (flagged)", "haematological malignancies"]

[population]
description = "Adults aged 65 and over starting chemotherapy for a solid tumour."
age_min = 65
out_of_population = "flag"
[population.treatment]
kind = "systemic"
subkind = "chemotherapy"

[training_data]
source = "published score (Hurria et al., J Clin Oncol 2011; 500 patients aged 65+)"
synthetic = false
description = "No training: the published points table, implemented exactly. Observed rates per group are those of the development cohort."

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = 17

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float32"
shape = [-1, {len(cg.COLUMNS)}]
channel_def = {{{cols}}}

[[model.outputs]]
name = "score"
type = "score"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 23.0]

[[model.outputs]]
name = "observed_rate"
type = "probability"
dtype = "float32"
shape = [-1, 1]
value_range = [0.0, 1.0]

[[model.outputs]]
name = "risk_group"
type = "label"
dtype = "float32"
shape = [-1, 1]
channel_def = {{0 = "low (0 low, 1 intermediate, 2 high)"}}

[[model.outputs]]
name = "item_points"
type = "score"
dtype = "float32"
shape = [-1, {len(cg.ITEMS)}]
channel_def = {{{items}}}
{_validation_tensors()}
{_inputs()}
[[outputs]]
name = "carg_score"
kind = "score"
label = "CARG toxicity score (0-23)"
description = "Points of the CARG score. {CAVEAT}"
unit = "points"
tensor = "score"
column = 0
uncertainty = {q(info['uncertainty']['text'])}
risk_bands = [{{label = "low", upper = 6.0}}, {{label = "intermediate", upper = 10.0}}, {{label = "high", upper = 23.0}}]

[[outputs]]
name = "development_cohort_toxicity_rate"
kind = "probability"
label = "Grade 3-5 toxicity observed in the development cohort for this risk group"
description = "Observed rate in Hurria 2011 for the patient's group ({rates}); not a calibrated individual probability."
tensor = "observed_rate"
column = 0
uncertainty = {q(info['uncertainty']['text'])}

{_validation_outputs(info)}
[explanation]
method = "occlusion"
output = "carg_score"
scale = "identity"

{_metrics(info, check)}

{render_golden(Raw(GOLDEN_INPUTS), Raw(golden_expected(info)), Raw("1e-6"), header="[golden]")}
"""
    write_text(path, text)


def write_model_card(path: Path, info: dict[str, Any], check: dict[str, float]) -> None:
    """Write MODEL_CARD.md."""
    table = "\n".join(f"| {name} | {pts} |" for name, pts, *_ in cg.ITEMS)
    text = f"""# Model card: CARG chemotherapy toxicity score

*Written by `models/carg-toxicity/build.py` on {info['generated_at']}. Plugin {info['plugin_id']}
{info['version']}, model sha256 `{info['sha256']}`.*

## Intended use
A published geriatric-oncology score, shown **beside** the record-based toxicity model
(`toxicity-hosp30`) when chemotherapy is discussed for a patient aged 65 or over: it gives the
points, the risk group and the development cohort's observed grade 3-5 toxicity rate for that
group. **Caveat, always shown:** {CAVEAT}

## Population
Adults aged 65 and over starting chemotherapy for a solid tumour (Hurria et al., J Clin Oncol
2011, 500 patients; validated in 250 patients, J Clin Oncol 2016). Younger patients are flagged
"outside intended use".

## Data source
No training data: the published points table, implemented exactly as an ONNX graph
(`carg_graph.py`, onnx.helper). Not synthetic, not fitted.

| item | points |
|---|---|
{table}

Risk groups: 0-5 low, 6-9 intermediate, 10-23 high; observed grade 3-5 toxicity in the development
cohort about 30 %, 52 % and 83 %. Haemoglobin threshold: men < 11 g/dL, women < 10 g/dL.
Creatinine clearance: Jelliffe (derived by the engine from creatinine, age and sex).

Implementation choices (where the table leaves room): "standard dose" = relative dose intensity
of the regimen >= 0.95 (the record's `dose_intensity`; 1 = full dose); hearing is coded
excellent/good/fair/poor/deaf and scores for fair or worse; falls = count in the last 6 months.

## Verification (measured by the build)
The ONNX graph was run with onnxruntime on {int(check['cases'])} input combinations (values at and on
both sides of every threshold, both sexes) and compared with a plain-Python transcription of the
table: points, risk group, observed rate and per-item points agreed in
{int(check['agreeing'])} of {int(check['cases'])} cases (fraction {check['fraction']:.6f}); scores
ranged {check['min_score']:.0f}-{check['max_score']:.0f}.

## How sure it is
{info['uncertainty']['text']} The app shows this sentence beside the score and the rate
(manifest `outputs.uncertainty`).

{info['uncertainty']['validation']} The app shows the validation cohort's rate for the patient's
group with this interval, below the development cohort's rate. The score is a published points table applied exactly: it has
no training data of its own here, so no supported range; ages under 65 are flagged as outside
the intended population, and counts (agents, falls) must be whole numbers.

## Limitations
- Discrimination in external cohorts is modest and variable (AUC 0.52-0.68 in Australian,
  German and French cohorts); the observed rates are those of the development cohort, not
  calibrated individual probabilities.
- Geriatric items (hearing, falls, walking, medication help, social activities) must be recorded
  from the patient's own answers; a missing item refuses the score rather than guessing.
- Not for haematological malignancies or patients under 65.
- Explanations (occlusion against the no-points references): every item's input gets exactly its
  points, except that the sex input, which only sets the haemoglobin threshold, also shows the
  3 haemoglobin points for a man with Hb 10-11 g/dL (an interaction; the engine reports the
  excess as a residual). The graph's `item_points` output gives the exact per-item points.

## Version history
- 1.2.0: the external validation cohort's observed rate for the patient's group, with its
  Wilson 95 % interval (counts recovered exactly from the published percentages).
- 1.1.0: whole numbers of agents and falls only; the uncertainty of the published rates stated
  with every result.
- 1.0.0: first version (exact table, 11 items).

## Rebuild
`.venv/bin/python models/carg-toxicity/build.py` ({info['seconds']} s in this run).
"""
    write_text(path, text)
