"""Rebuild plugins/immuno-grim: the Gustave Roussy Immune Score as an exact ONNX graph.

Run from the repository root (a few seconds)::

    PYTHONPATH=app .venv/bin/python models/immuno-grim/build.py

No training. GRIm (Bigot et al., Eur J Cancer 2017) gives one point each for NLR > 6, LDH above
the reporting lab's upper limit of normal and albumin < 35 g/L; 0-1 is low, 2-3 high. The graph
gives the score, the items and, for the patient's group, the published outcomes that could be
confirmed (table PUBLISHED below, the only place the numbers are typed): the pooled overall
survival hazard ratio of high vs low GRIm with its 95 % interval, and the median overall
survival of each group in an NSCLC immunotherapy cohort (no interval published in its abstract). The build checks the graph with onnxruntime against a
plain-Python transcription (reference()) on the sheet's test vectors and on a grid of values at
and on both sides of each threshold (the next double either side), then writes model.onnx,
plugin.toml and MODEL_CARD.md: nothing in them is typed by hand.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE.parent)]

from common.manifest_io import toml_value  # noqa: E402
from common import exact_build  # noqa: E402
from common.onnx_graph import GraphBuilder, save  # noqa: E402

PLUGIN_ID, VERSION = "immuno-grim", "1.0.1"
NLR_CUT, LDH_RATIO_CUT, ALBUMIN_CUT = 6.0, 1.0, 35.0   # NLR > 6, LDH > ULN, albumin < 35 g/L
GROUPS = ("low", "high")                                # 0-1 low, 2-3 high
PUBLISHED = {
    # Meta-analysis, Ann Med 2023 (15 studies, 20 cohorts, 4,997 patients, any cancer): OS HR of
    # high vs low GRIm 2.07 (1.73-2.48). The low group is the reference (1).
    "os_hr": {"low": (1.0, 1.0, 1.0), "high": (2.07, 1.73, 2.48)},
    # Pretreated NSCLC on immune-checkpoint inhibitor monotherapy (single centre, n = 76): median
    # OS low 19.9 vs high 3.2 months (P < 0.01); intervals not given in the abstract.
    "median_os_nsclc_ici": {"low": 19.9, "high": 3.2},
}
# Test vectors of the reference sheet: ANC, ALC, albumin g/L, LDH, ULN, expected score.
VECTORS = [(4.0, 2.0, 40.0, 200.0, 250.0, 0), (6.0, 1.0, 35.0, 250.0, 250.0, 0),
           (7.0, 1.0, 38.0, 200.0, 250.0, 1), (5.0, 1.5, 30.0, 300.0, 250.0, 2),
           (9.0, 1.0, 28.0, 500.0, 250.0, 3)]
def around(x: float) -> list[float]:
    """The value, the next doubles either side, and values clearly either side."""
    return [x * 0.5, np.nextafter(x, -np.inf), x, np.nextafter(x, np.inf), x * 1.5]


GRID = {"nlr": [0.5, *around(NLR_CUT), 60.0],
        "ldh_uln_ratio": [0.1, *around(LDH_RATIO_CUT), 12.0],
        "albumin": [12.0, *around(ALBUMIN_CUT), 55.0]}


def reference(nlr: float, ratio: float, albumin: float) -> dict[str, float | str]:
    """Plain-Python GRIm: score, group and the group's published outcomes."""
    score = int(nlr > NLR_CUT) + int(ratio > LDH_RATIO_CUT) + int(albumin < ALBUMIN_CUT)
    group = GROUPS[int(score >= 2)]
    hr = PUBLISHED["os_hr"][group]
    return {"score": score, "group": group, "hr": hr[0], "hr_lower": hr[1], "hr_upper": hr[2],
            "median_os": PUBLISHED["median_os_nsclc_ici"][group]}


def build_model():  # noqa: ANN201
    """Return the ONNX model: features [N, 3] float64 (nlr, ldh_uln_ratio, albumin g/L)."""
    g = GraphBuilder("immuno_grim")
    x = g.add_input("features", TensorProto.DOUBLE, ["N", 3])
    items = [g.op("Cast", g.op("Greater", g.column(x, 0), g.const(NLR_CUT)), to=TensorProto.DOUBLE),
             g.op("Cast", g.op("Greater", g.column(x, 1), g.const(LDH_RATIO_CUT)),
                  to=TensorProto.DOUBLE),
             g.op("Cast", g.op("Less", g.column(x, 2), g.const(ALBUMIN_CUT)),
                  to=TensorProto.DOUBLE)]
    score = g.op("Add", g.op("Add", items[0], items[1]), items[2])
    high = g.op("Cast", g.op("GreaterOrEqual", score, g.const(2.0)), to=TensorProto.INT64)
    axes = g.const(np.array([1], np.int64), np.int64)

    def table(values: list[float]) -> str:
        return g.op("Unsqueeze", g.op("Gather", g.const(np.array(values)), high, axis=0), axes)

    g.add_output(g.op("Unsqueeze", score, axes), "score", TensorProto.DOUBLE, ["N", 1])
    g.add_output(g.op("Cast", g.op("Unsqueeze", high, axes), to=TensorProto.DOUBLE), "group",
                 TensorProto.DOUBLE, ["N", 1])
    g.add_output(g.op("Concat", *(g.op("Unsqueeze", i, axes) for i in items), axis=1), "items",
                 TensorProto.DOUBLE, ["N", 3])
    for name, k in (("os_hr", 0), ("os_hr_lower", 1), ("os_hr_upper", 2)):
        g.add_output(table([PUBLISHED["os_hr"][grp][k] for grp in GROUPS]), name,
                     TensorProto.DOUBLE, ["N", 1])
    g.add_output(table([PUBLISHED["median_os_nsclc_ici"][grp] for grp in GROUPS]),
                 "median_os_nsclc_ici", TensorProto.DOUBLE, ["N", 1])
    return g.model("Gustave Roussy Immune Score (Bigot 2017), exact", "oncoboard",
                   {"plugin": PLUGIN_ID, "version": VERSION})


def check(model_path: Path) -> dict[str, float]:
    """Run the graph on the test vectors and the grid; compare with reference()."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    vec_rows = [(a / ly, ldh / uln, alb) for a, ly, alb, ldh, uln, _ in VECTORS]
    grid_rows = list(itertools.product(GRID["nlr"], GRID["ldh_uln_ratio"], GRID["albumin"]))
    out = {}
    for label, rows in (("vectors", vec_rows), ("grid", grid_rows)):
        res = dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                       strict=True))
        ok = 0
        for i, row in enumerate(rows):
            ref = reference(*row)
            got = (res["score"][i, 0], res["group"][i, 0], res["os_hr"][i, 0],
                   res["os_hr_lower"][i, 0], res["os_hr_upper"][i, 0],
                   res["median_os_nsclc_ici"][i, 0])
            want = (ref["score"], GROUPS.index(ref["group"]), ref["hr"], ref["hr_lower"],
                    ref["hr_upper"], ref["median_os"])
            ok += got == want and res["items"][i].sum() == ref["score"] and (
                label != "vectors" or ref["score"] == VECTORS[i][5])
        out[f"{label}_cases"], out[f"{label}_agreeing"] = float(len(rows)), float(ok)
    return out


CAVEAT = ("Prognostic, not a decision rule: derived in fit patients with mixed advanced solid "
          "tumours in phase I immunotherapy trials; the published outcome per group of the "
          "derivation paper could not be confirmed and is not shown: the board sees the pooled "
          "hazard ratio of later studies (any cancer, any treatment) and one small NSCLC "
          "immunotherapy cohort's medians.")


def write_manifest(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    hr, med = PUBLISHED["os_hr"]["high"], PUBLISHED["median_os_nsclc_ici"]
    desc = (f"Gustave Roussy Immune Score: one point each for NLR > 6, LDH above the lab's upper "
            f"limit of normal and albumin < 35 g/L (0-1 low, 2-3 high), with the overall survival "
            f"hazard ratio of high vs low GRIm pooled over 15 studies ({hr[0]:g}, 95% CI "
            f"{hr[1]:g}-{hr[2]:g}) and the median overall survival of the group in pretreated "
            f"NSCLC on checkpoint-inhibitor monotherapy (low {med['low']:g}, high "
            f"{med['high']:g} months; no interval published). {CAVEAT}")
    golden_in = {"nlr": 9.0, "ldh_uln_ratio": 2.0, "albumin": 28.0}
    ref = reference(9.0, 2.0, 28.0)
    text = f'''# Written by models/immuno-grim/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{PLUGIN_ID}"
name = "GRIm-Score, Gustave Roussy Immune Score (published score, exact)"
version = "{VERSION}"
task = "response"
description = {toml_value(desc)}
authors = ["Bigot F et al. (score)", "Oncoboard developers (ONNX implementation)"]
license = "Apache-2.0"
references = [
  "Bigot F et al. Prospective validation of a prognostic score for patients in immunotherapy phase I trials: the Gustave Roussy Immune Score (GRIm-Score). Eur J Cancer 2017;84:212-218. doi:10.1016/j.ejca.2017.07.027",
  "Prognostic significance of the Gustave Roussy immune (GRIm) score in cancer patients: a meta-analysis. Ann Med 2023. doi:10.1080/07853890.2023.2236640",
  "Gustave Roussy Immune Score and Royal Marsden Hospital prognostic score are biomarkers of immune-checkpoint inhibitor for non-small cell lung cancer (single centre, n = 76, 2019).",
]
model_card = "MODEL_CARD.md"

[intended_use]
summary = "Shown at the tumour board before immune-checkpoint therapy for an advanced solid tumour: the patient's GRIm group and the published survival contrast between groups, as prognostic context."
not_for = ["deciding alone whether to give immunotherapy", "early-stage disease", "mixing with modified GRIm versions (HCC-GRIm, 3-category GRIm for resected NSCLC)"]

[population]
description = "Adults with an advanced solid tumour starting an immune-checkpoint inhibitor (derivation: phase I immunotherapy trials at Gustave Roussy); blood counts, LDH and albumin within 30 days before treatment."
age_min = 18
out_of_population = "flag"
[population.treatment]
kind = "systemic"
subkind = "immunotherapy"
window_days = 30

[training_data]
source = "published score (Bigot et al., Eur J Cancer 2017; 155 patients in the discovery cohort, 113 in the prospective validation cohort)"
synthetic = false
description = "No training: the published three-item rule, implemented exactly."

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = 17

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float64"
shape = [-1, 3]
channel_def = {{0 = "nlr", 1 = "ldh_uln_ratio", 2 = "albumin"}}

[[model.outputs]]
name = "score"
type = "score"
dtype = "float64"
shape = [-1, 1]
value_range = [0.0, 3.0]

[[model.outputs]]
name = "group"
type = "label"
dtype = "float64"
shape = [-1, 1]
channel_def = {{0 = "low (0 low, 1 high)"}}

[[model.outputs]]
name = "items"
type = "score"
dtype = "float64"
shape = [-1, 3]
channel_def = {{0 = "NLR > 6", 1 = "LDH > upper limit of normal", 2 = "albumin < 35 g/L"}}
''' + "".join(f'''
[[model.outputs]]
name = "{n}"
type = "other"
dtype = "float64"
shape = [-1, 1]
''' for n in ("os_hr", "os_hr_lower", "os_hr_upper", "median_os_nsclc_ici")) + '''
[[inputs]]
kind = "clinical"
name = "nlr"
label = "Neutrophil-to-lymphocyte ratio (neutrophils / lymphocytes)"
description = "Latest neutrophil (LOINC 751-8) and lymphocyte (LOINC 731-0) counts in the 30 days before the reference date. Not LIPI's dNLR."
source = {type = "derived", derivation = "nlr", window_days = 30}
tensor = "features"
column = 0
reference = 3.0
valid_range = [0.0, 200.0]

[[inputs]]
kind = "clinical"
name = "ldh_uln_ratio"
label = "LDH / the reporting lab's upper limit of normal"
description = "Latest LDH (LOINC 2532-0, U/L) in the 30 days before the reference date, divided by the upper limit of normal stored with that same observation; refused when the lab's limit is not stored (no default limit is used)."
source = {type = "derived", derivation = "ldh_uln_ratio_lab", window_days = 30}
tensor = "features"
column = 1
reference = 0.8
valid_range = [0.05, 50.0]

[[inputs]]
kind = "clinical"
name = "albumin"
label = "Albumin"
description = "Latest serum albumin (LOINC 1751-7) in the 30 days before the reference date, in g/L (g/dL is converted: 3.5 g/dL = 35 g/L)."
source = {type = "observation", system = "http://loinc.org", code = "1751-7", window_days = 30}
tensor = "features"
column = 2
unit = "g/L"
reference = 40.0
valid_range = [5.0, 70.0]
''' + f'''
[[outputs]]
name = "grim_score"
kind = "score"
label = "GRIm-Score (0-1 low, 2-3 high)"
description = {toml_value("Points: NLR > 6, LDH > the lab's upper limit of normal, albumin < 35 g/L. " + CAVEAT)}
unit = "points"
tensor = "score"
column = 0
risk_bands = [{{label = "low", upper = 2.0}}, {{label = "high", upper = 3.0}}]

[[outputs]]
name = "os_hazard_ratio"
kind = "score"
label = "Overall survival hazard ratio of this group vs low GRIm (pooled, 15 studies)"
description = "Meta-analysis, Ann Med 2023 (4,997 patients, any cancer and treatment): high vs low {hr[0]:g} (95% CI {hr[1]:g}-{hr[2]:g}); the low group is the reference (1)."
tensor = "os_hr"
column = 0
lower = "os_hazard_ratio_lower"
upper = "os_hazard_ratio_upper"

[[outputs]]
name = "os_hazard_ratio_lower"
kind = "score"
label = "Lower 95% bound of the hazard ratio"
tensor = "os_hr_lower"
column = 0
display = false

[[outputs]]
name = "os_hazard_ratio_upper"
kind = "score"
label = "Upper 95% bound of the hazard ratio"
tensor = "os_hr_upper"
column = 0
display = false

[[outputs]]
name = "median_os_nsclc_ici"
kind = "score"
label = "Median overall survival of this group, pretreated NSCLC on checkpoint-inhibitor monotherapy (months)"
description = "Single-centre cohort, n = 76 (low {med['low']:g} vs high {med['high']:g} months, P < 0.01); its abstract gives no interval, so none is shown."
unit = "months"
tensor = "median_os_nsclc_ici"
column = 0
uncertainty = "No interval: the single-centre study (76 patients) publishes the medians without confidence intervals or group sizes. A median from so few patients is imprecise: read it as the order of magnitude of this group's survival, beside the pooled hazard ratio above, which has an interval."

[explanation]
method = "occlusion"
output = "grim_score"
scale = "identity"

[metrics]
generated_by = "models/immuno-grim/build.py"
generated_at = "{info['generated_at']}"
dataset = "the reference sheet's test vectors, and every combination of values at, just below and just above (next double) each threshold"
[metrics.values]
agreement_on_test_vectors = {{value = {chk['vectors_agreeing'] / chk['vectors_cases']}, description = "fraction of {int(chk['vectors_cases'])} test vectors where the ONNX score, group and published outcomes equal the reference's"}}
agreement_on_threshold_grid = {{value = {chk['grid_agreeing'] / chk['grid_cases']}, description = "fraction of {int(chk['grid_cases'])} grid cases where the ONNX score, group and published outcomes equal the reference's"}}
cases_checked = {chk['vectors_cases'] + chk['grid_cases']}

[golden]
inputs = {toml_value(golden_in)}
expected = {toml_value({"grim_score": float(ref["score"]), "os_hazard_ratio": ref["hr"], "median_os_nsclc_ici": ref["median_os"]})}
tolerance = 1e-9
'''
    path.write_text(text, encoding="utf-8")


def write_card(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    hr, med = PUBLISHED["os_hr"], PUBLISHED["median_os_nsclc_ici"]
    text = f"""# Model card: immuno-grim (GRIm-Score, Gustave Roussy Immune Score) {VERSION}

*Written by `models/immuno-grim/build.py` on {info['generated_at']}; do not edit by hand.*

## What it computes
One point each, all strict comparisons: NLR > 6 (neutrophils / **lymphocytes**, engine derivation
`nlr`), LDH > the upper limit of normal **stored with that LDH observation** (derivation
`ldh_uln_ratio_lab`, no default limit), albumin < 35 g/L (g/dL converted). Score 0-3; 0-1 low,
2-3 high. Labs: latest in the 30 days before the reference date.

Output read by the board, per group:

| group | score | OS hazard ratio vs low (95 % CI), meta-analysis | median OS, NSCLC on ICI monotherapy |
|---|---|---|---|
| low | 0-1 | {hr['low'][0]:g} (reference) | {med['low']:g} months (interval not published) |
| high | 2-3 | {hr['high'][0]:g} ({hr['high'][1]:g}-{hr['high'][2]:g}) | {med['high']:g} months (interval not published) |

## Population and published validation
Bigot et al., Eur J Cancer 2017: adults with advanced solid tumours in phase I trials of immune-
checkpoint therapy at Gustave Roussy; discovery cohort n = 155 (retrospective, 2012-2016),
prospective validation n = 113. Built from the Royal Marsden Hospital score by replacing the number
of metastatic sites with NLR; discovery multivariable OS hazard ratios: albumin < 35 g/L 1.73
(1.05-2.86), LDH > ULN 1.88 (1.12-3.15), NLR > 6 1.75 (1.04-2.95). Later: a meta-analysis of 15
studies (4,997 patients, any cancer) gives high vs low OS HR 2.07 (1.73-2.48) and PFS HR 1.42
(1.22-1.66); in pretreated NSCLC on checkpoint-inhibitor monotherapy (n = 76) median OS was 19.9 vs
3.2 months, multivariable HR for high 3.93 (2.04-7.58), PFS not different (2.6 vs 2.1 months).
No C-index or AUC of the GRIm-Score was found.

## Limits
Derived in selected, fit phase I patients with mixed tumour types; every item is dichotomised;
the LDH limit is lab-specific (stored with every result); a group, not an individual survival
probability; PFS separation is weak; modified scores (HCC-GRIm, 3-category GRIm) use other
cut-offs and must not be mixed with this one.

## How each element was confirmed
- Items, cut-offs and strictness (NLR > 6, LDH > ULN, albumin < 35 g/L) and the discovery hazard
  ratios: Bigot's abstract, read in two public abstract pages (researcher-app, a library record
  of Eur J Cancer 84).
- Groups 0-1 low / 2-3 high: stated in the same words by an ESMO 2022 abstract (767P, "two
  prognostic categories (low risk, 0-1; high risk, 2-3)") and by independent validation papers
  (colorectal cancer, PSM analysis: "scores 0, 1" low vs "2, 3" high); **Bigot's own wording of
  the groups was not read** (the abstract copies read stop after the score's definition).
- Meta-analysis hazard ratios: its abstract (PMC10586078, Ann Med 2023), read.
- NSCLC immunotherapy medians and hazard ratio: that study's abstract, read; the journal is not
  named on the page read (cited by title).
- **Not confirmed, not shown**: the median OS per group (and its interval and n) in Bigot's
  discovery and validation cohorts; the 3-item score's C-index.

## Exactness check (this build)
- Test vectors of the reference sheet: {int(chk['vectors_agreeing'])}/{int(chk['vectors_cases'])} agree.
- Threshold grid (each value at, the next double below and above, and clearly either side of each
  cut-off; all combinations): {int(chk['grid_agreeing'])}/{int(chk['grid_cases'])} agree (score, group,
  items, published outcomes). The graph computes in double precision.

ONNX sha256 `{info['sha256']}`.
"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    return exact_build.run(argv, description=__doc__.split("\n")[0], plugin_id=PLUGIN_ID,
                           default_out=ROOT / "plugins" / PLUGIN_ID, build_model=build_model,
                           save=save, check=check, write_manifest=write_manifest,
                           write_card=write_card)


if __name__ == "__main__":
    raise SystemExit(main())
