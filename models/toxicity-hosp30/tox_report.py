# ruff: noqa: E501  (TOML and Markdown templates: their lines are written as they are)
"""Write the toxicity plugin's plugin.toml and MODEL_CARD.md from one build (never by hand)."""

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


def _obs(code: str, days: int) -> dict[str, Any]:
    return {"type": "observation", "system": "http://loinc.org", "code": code,
            "window_days": days}


def _derived(name: str) -> dict[str, Any]:
    return {"type": "derived", "derivation": name, "window_days": 180}


def _inputs(sup: dict[str, dict[str, Any]]) -> str:
    return "\n".join(_input_tables(sup))


def _input_tables(sup: dict[str, dict[str, Any]]) -> list[str]:
    return [
    table("[[inputs]]", {
        "kind": "text", "name": "note",
        "label": "Clinical notes of the last 45 days (French or English)",
        "description": "All notes dated in the window, newest first; the model reads the words "
                       "and their negations.",
        "window_days": 45, "languages": ["fr", "en"], "max_chars": 20000, "required": True,
        "missing": "refuse", "explain": True, "tensor": "note"}),
    table("[[inputs]]", {
        "kind": "clinical", "name": "age", "label": "Age (years)",
        "source": {"type": "patient", "field": "age"}, "unit": "a",
        "valid_range": [18.0, 110.0], "tensor": "features", "column": 0, "reference": 65.0,
        "support": sup["age"]}),
    table("[[inputs]]", {
        "kind": "clinical", "name": "ecog", "label": "ECOG performance status",
        "source": _obs("89247-1", 90), "tensor": "features", "column": 1, "reference": "1",
        "categories": Raw(f"[{ECOG}]")}),
    table("[[inputs]]", {
        "kind": "clinical", "name": "haemoglobin", "label": "Haemoglobin",
        "source": _obs("718-7", 60), "unit": "g/dL", "valid_range": [3.0, 25.0],
        "tensor": "features", "column": 2, "reference": 12.0, "support": sup["haemoglobin"]}),
    table("[[inputs]]", {
        "kind": "clinical", "name": "n_agents", "label": "Number of agents in the regimen",
        "source": _derived("n_agents"), "valid_range": [1.0, 10.0], "integer": True,
        "tensor": "features", "column": 3, "reference": 1.0, "support": sup["n_agents"]}),
    table("[[inputs]]", {
        "kind": "clinical", "name": "dose_intensity",
        "label": "Relative dose intensity (1 = standard dose)",
        "source": _derived("dose_intensity"), "unit": "1", "valid_range": [0.05, 2.0],
        "tensor": "features", "column": 4, "reference": 1.0,
        "support": sup["dose_intensity"]}),
    ]


def _metrics(info: dict[str, Any], m: dict[str, Any]) -> str:
    s, h = m["seen_templates"], m["held_out_templates"]
    return render_metrics(
        "models/toxicity-hosp30/build.py", info["generated_at"],
        f"new synthetic cycles: n = {s['n']} written with training phrasings, n = {h['n']} with "
        "held-out phrasings; 1000 bootstrap resamples", {
            "auc": estimate(s["auc"], "AUC on new cycles written with the training phrasing templates"),
            "auc_held_out_templates": estimate(h["auc"], "AUC on new cycles written only with held-out phrasing templates"),
            "bayes_optimal_auc": estimate(s["bayes_auc"], "AUC of the true probability (latent states), training-phrasing test set"),
            "bayes_gap": estimate(s["bayes_gap"], "Bayes-optimal minus model AUC, training-phrasing test set (paired bootstrap)"),
            "calibration_slope": Raw(f"{s['calibration_slope']:.4f}"),
            "calibration_intercept": Raw(f"{s['calibration_intercept']:.4f}"),
            "brier": Raw(f"{s['brier']:.4f}")}, header="[metrics]", spaced=False)


def write_manifest(path: Path, info: dict[str, Any], m: dict[str, Any]) -> None:
    """Write plugin.toml."""
    golden = (f"{{note = {q(info['golden_note'])}, age = 65, ecog = \"1\", haemoglobin = 12.0, "
              "n_agents = 2, dose_intensity = 1.0}")
    expected = f"{{hospitalisation_30d = {info['golden_p']!r}}}"
    text = f"""# Written by models/toxicity-hosp30/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{info['plugin_id']}"
name = "Unplanned hospitalisation within 30 days of a chemotherapy cycle, from the notes ({SYN.lower()})"
version = "{info['version']}"
task = "toxicity"
description = {q("Probability of an unplanned hospitalisation within 30 days after a "
                  "chemotherapy cycle, from the French and English notes of the last 45 days "
                  "(tokenised inside the ONNX graph, negations such as 'pas de fièvre' / "
                  "'no fever' kept apart) plus age, ECOG, haemoglobin, number of agents and "
                  "dose intensity. Shown with the CARG score (carg-toxicity). " + SYN +
                  ": trained on generated notes.")}
authors = ["Oncoboard developers"]
license = "Apache-2.0"
references = ["Inspired by SoftChemo-style record-based toxicity prediction; no published weights are used."]
model_card = "MODEL_CARD.md"

[intended_use]
summary = {q(SYN + ". Shows how a record-based toxicity model would appear beside the CARG "
              "score at a tumour board; must not inform any clinical decision.")}
users = "tumour board clinicians (demonstration)"
not_for = ["clinical decision making", "notes in languages other than French or English"]

[population]
description = "Adults receiving a cycle of chemotherapy for a solid tumour (synthetic cohort)."
age_min = 18
out_of_population = "flag"
[population.treatment]
kind = "systemic"
subkind = "chemotherapy"

[training_data]
source = "synthetic"
synthetic = true
description = {q(f"{info['n_train']} generated chemotherapy cycles with French/English notes "
                  f"(models/toxicity-hosp30/corpus.py, seed {info['seed']}); "
                  f"{info['templates_held_out']} of {info['templates_total']} phrasing templates "
                  "held out of training for the held-out-phrasing test.")}
n_patients = {info['n_train']}
generator = "models/toxicity-hosp30/corpus.py"

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = {info['opset']}

[[model.inputs]]
name = "note"
type = "text"
dtype = "string"
shape = [-1, 1]

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float32"
shape = [-1, 5]
channel_def = {{0 = "age", 1 = "ecog", 2 = "haemoglobin", 3 = "n_agents", 4 = "dose_intensity"}}

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

{_inputs(info['support'])}
[[outputs]]
name = "hospitalisation_30d"
kind = "probability"
label = "Unplanned hospitalisation within 30 days ({SYN.lower()})"
description = "Probability of an unplanned hospitalisation within 30 days after the cycle."
tensor = "probability"
column = 0
risk_bands = [{{label = "low", upper = 0.2}}, {{label = "intermediate", upper = 0.4}}, {{label = "high", upper = 1.0}}]
lower = "hospitalisation_30d_lower"
upper = "hospitalisation_30d_upper"
interval_level = 0.95
interval_method = {q(info['interval_method'])}

[[outputs]]
name = "hospitalisation_30d_lower"
kind = "probability"
label = "Unplanned hospitalisation within 30 days, lower 95 % bound"
description = "2.5th percentile over the bootstrap refits."
tensor = "probability_lower"
column = 0
display = false

[[outputs]]
name = "hospitalisation_30d_upper"
kind = "probability"
label = "Unplanned hospitalisation within 30 days, upper 95 % bound"
description = "97.5th percentile over the bootstrap refits."
tensor = "probability_upper"
column = 0
display = false

[explanation]
method = "occlusion"
output = "hospitalisation_30d"
scale = "logit"
max_sentences = 5

{_metrics(info, m)}

{render_golden(Raw(golden), Raw(expected), Raw("1e-4"), header="[golden]")}
"""
    write_text(path, text)


def _metric_rows(name: str, r: dict[str, Any]) -> str:
    a, b, g = r["auc"], r["bayes_auc"], r["bayes_gap"]
    ci = r["calibration_interval"]
    return (f"| {name} | {r['n']} | {a['value']:.3f} ({a['lower']:.3f}-{a['upper']:.3f}) | "
            f"{b['value']:.3f} | {g['value']:.3f} ({g['lower']:.3f} to {g['upper']:.3f}) | "
            f"{r['calibration_slope']:.2f} ({ci['slope'][0]:.2f} to {ci['slope'][1]:.2f}) / "
            f"{r['calibration_intercept']:.2f} ({ci['intercept'][0]:.2f} to "
            f"{ci['intercept'][1]:.2f})"
            f" | {r['brier']:.3f} |")


LABELS = {"age": "age (years)", "haemoglobin": "haemoglobin (g/dL)",
          "n_agents": "number of agents", "dose_intensity": "relative dose intensity"}


def _extrapolation(info: dict[str, Any], m: dict[str, Any]) -> str:
    from common.support import card_rows

    sup, band = info["support"], m["band"]
    n = next(iter(sup.values()))["n_training"]
    rows = "\n".join(
        f"| {LABELS[k]} | " + "; ".join(f"{r['value']:.3g}: {r['p']:.2f} [{r['lower']:.2f}-"
                                         f"{r['upper']:.2f}]" for r in v) + " |"
        for k, v in band["sweep"].items())
    return (f"Each structured item is held inside the range where the {n} training cycles give "
            f"support ({next(iter(sup.values()))['method']}); a value outside gets the estimate "
            "at the edge and a flag saying it is extrapolated. The text part has no such range: "
            "words never seen in training get no weight (see Limitations).\n\n"
            + card_rows([(k, LABELS[k]) for k in sup], sup, units="cycles") + "\n\n"
            f"**Interval:** {info['interval_method']}. On the new cycles written with training "
            f"phrasings the median width of the band is {band['median_width']:.3f} and it "
            f"contains the point estimate for {100 * band['contains_point']:.1f} % of them. The "
            "band reflects the sampling uncertainty of the fitted model, not the gap between "
            "generated notes and real ones. The reference cycle (first test note; age 65, ECOG "
            "1, Hb 12 g/dL, 2 agents, full dose) as one item moves from its lowest to its "
            "highest training value (probability [band], measured by the build):\n\n"
            "| item | value: probability [band] |\n|---|---|\n" + rows)


def write_model_card(path: Path, info: dict[str, Any], m: dict[str, Any]) -> None:
    """Write MODEL_CARD.md."""
    neg_lines = []
    for key, res in m["negation"].items():
        probs = ", ".join(f'"{k}" {v:.3f}' for k, v in res.items() if k != "passed")
        neg_lines.append(f"- {key}: {probs} -> {'passed' if res['passed'] else 'FAILED'}")
    examples = "\n".join(f"> {n}\n" for n in info["example_notes"])
    cv = ", ".join(f"{k}: {v:.3f}" for k, v in m["cv_auc_train"].items())
    s = m["seen_templates"]
    text = f"""# Model card: unplanned hospitalisation within 30 days of a chemotherapy cycle

> **{SYN}.** Trained and tested on generated notes; its numbers say how well it recovers a known
> synthetic truth, nothing about real patients. The app labels every result "synthetic -
> demonstration only" (manifest `training_data.synthetic = true`).

*Written by `models/toxicity-hosp30/build.py` on {info['generated_at']} (seed {info['seed']}); every
figure below comes from that run. Plugin {info['plugin_id']} {info['version']}, model sha256
`{info['sha256']}`.*

## Intended use
Demonstrate a SoftChemo-like, record-based toxicity model at a tumour board: the probability of an
unplanned hospitalisation within 30 days after a chemotherapy cycle, from the French and English
notes of the last 45 days (current and previous cycle) and five structured items, with the sentences that moved the result
highlighted (the engine's sentence occlusion). Shown beside the published CARG score
(`carg-toxicity`). Not for clinical decisions.

## Population
Adults receiving a cycle of chemotherapy for a solid tumour (synthetic).

## Data source: synthetic
`corpus.py` draws each cycle's age, ECOG, haemoglobin, number of agents and dose intensity, then
latent states (fever, neutropenia, diarrhoea, vomiting, mucositis, fatigue, weight loss,
dyspnoea, poor intake; more frequent with poor ECOG and polychemotherapy), then the
hospitalisation from a known logistic model, so the Bayes-optimal AUC is known. The note mentions
most present states (one of several French or English phrasings), negates some absent ones ("pas
de fièvre", "apyrétique", "no fever", "denies fever"), adds neutral sentences, abbreviations (NFS,
PNN, T°, AEG, CBC, ANC, N/V, SOB), French decimal commas and typos. {info['templates_held_out']} of
{info['templates_total']} phrasing templates are held out of training (listed in
`models/toxicity-hosp30/metrics.json`, `held_out_template_texts`); {len(info['held_out_only_words'])}
of their words never occur in training ({', '.join(info['held_out_only_words'][:12])}...).
Examples:

{examples}
## Training
Inside the ONNX graph: lower-casing, a regular-expression tokenizer whose tokens keep a negation
cue with the word it negates ("pas de fièvre" is one token, distinct from "fièvre"), binary
unigrams and bigrams (min_df 3, {m['vocabulary']} terms), then a logistic regression together
with the standardised structured items. L2 penalty chosen by 5-fold CV AUC on the
{info['n_train']} training cycles only ({cv}; chosen C = {m['chosen_C']:g}). The ONNX output matches
scikit-learn to {m['onnx_vs_sklearn_max_abs']:.1e}.

## Metrics (new synthetic cycles)
| test set | n | AUC (95 % bootstrap) | Bayes-optimal AUC | gap (95 %) | calibration slope / intercept (95 %) | Brier |
|---|---|---|---|---|---|---|
{_metric_rows("training phrasings", s)}
{_metric_rows("held-out phrasings", m['held_out_templates'])}

The Bayes-optimal AUC uses the latent states, including those the note does not mention. A
"note oracle" (logistic regression on what each note truly reports for each sign, from the
generator's record, plus the structured items) splits the gap: AUC {s['note_oracle_auc']:.3f} on
the training-phrasing set and {m['held_out_templates']['note_oracle_auc']:.3f} on the held-out set,
so the text processing loses {s['note_oracle_auc'] - s['auc']['value']:.3f} and
{m['held_out_templates']['note_oracle_auc'] - m['held_out_templates']['auc']['value']:.3f} AUC, and
the notes lack {s['bayes_auc']['value'] - s['note_oracle_auc']:.3f} and
{m['held_out_templates']['bayes_auc']['value'] - m['held_out_templates']['note_oracle_auc']:.3f}.

## Negation check (reference patient: age 65, ECOG 1, Hb 12 g/dL, 2 agents, full dose)
{chr(10).join(neg_lines)}

## Where the model extrapolates, and how sure it is
{_extrapolation(info, m)}

## Limitations
- Synthetic notes are far more regular than real ones; real notes have copy-paste, templates,
  lists, lab tables, and negation scopes longer than one word ("pas de fièvre ni frissons": only
  "fièvre" is caught by the negation token, "frissons" by the "ni" cue).
- Unseen words carry no weight; a new synonym of a sign (or a negation cue outside the list)
  is ignored, which the held-out-phrasing AUC partly measures.
- The label model is invented; real hospitalisation risk depends on regimen, cancer site,
  comorbidities and social factors not modelled here.

## Version history
- 1.1.0: structured items held inside the training support (values outside flagged as
  extrapolated), whole numbers of agents only; a bootstrap 95 % band for every probability.
- 1.0.0: first version (negation-aware n-grams + 5 structured items, logistic regression).

## Rebuild
`.venv/bin/python models/toxicity-hosp30/build.py` ({m['seconds_total']:.0f} s in this run).
"""
    write_text(path, text)
