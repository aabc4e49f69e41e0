"""Rebuild plugins/breast-cts5: the Clinical Treatment Score post-5 years as an exact ONNX graph.

Run from the repository root (a few seconds)::

    PYTHONPATH=app .venv/bin/python models/breast-cts5/build.py

No training. CTS5 (Dowsett et al., J Clin Oncol 2018; final coefficients refitted on ATAC and
BIG 1-98 pooled) = 0.438 x node category + 0.988 x (0.093 x size - 0.001 x size^2 + 0.375 x grade
+ 0.017 x age); low < 3.13 (< 5 % distant recurrence in years 5-10), intermediate 3.13-3.86,
high above. The graph gives the score, its group and the observed late distant recurrence of
that group with its 95 % interval in the external validation of Richman et al. 2020 (table
PUBLISHED below, the only place the numbers are typed). The individual risk curve and the
handling of tumours over 30 mm could not be confirmed: no individual risk is output, and
tumours over 30 mm are refused (valid range), see the model card. The build checks the graph
with onnxruntime against a plain-Python transcription (reference()) on the reference sheet's test
vectors and on a grid of every whole age 25-90, size 1-30 mm, grade and node count 0-12 and 20.
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

PLUGIN_ID, VERSION = "breast-cts5", "1.0.0"
COEF = {"nodes": 0.438, "outer": 0.988, "size": 0.093, "size2": -0.001, "grade": 0.375,
        "age": 0.017}
NODE_EDGES = (1.0, 2.0, 4.0, 10.0)      # 0 -> 0, 1 -> 1, 2-3 -> 2, 4-9 -> 3, >= 10 -> 4
LOW_CUT, HIGH_CUT = 3.13, 3.86          # low < 3.13 <= intermediate < 3.86 <= high
MAX_SIZE_MM = 30.0                      # above: refused (cap at 30 mm not confirmed)
GROUPS = ("low", "intermediate", "high")
PUBLISHED = {
    # Richman J et al., Breast Cancer Res Treat 2020;186:115-123 (Royal Marsden, unselected
    # non-trial patients, postmenopausal n = 1,662): distant recurrence in years 5-10 (%), 95 % CI.
    "observed_dr_pct": {"low": (2.9, 1.9, 4.5), "intermediate": (7.2, 5.3, 9.9),
                        "high": (12.9, 10.0, 16.7)},
    # Dowsett 2018 abstract: the group bands in words.
    "band_text": {"low": "< 5%", "intermediate": "5-10%", "high": "> 10%"},
}
# Test vectors of the reference sheet: age, size mm, grade, nodes, CTS5, group (vector 5, 40 mm,
# is refused by the valid range and checked in the tests).
VECTORS = [(56, 5, 1, 2, 2.621796, "low"), (78, 15, 3, 9, 4.891548, "high"),
           (55, 25, 2, 0, 3.3444, "intermediate"), (60, 20, 1, 2, 3.6967, "intermediate")]
GRID = {"age": [float(a) for a in range(25, 91)], "size": [float(s) for s in range(1, 31)],
        "grade": [1.0, 2.0, 3.0], "nodes": [float(n) for n in [*range(13), 20]]}


def node_category(n: float) -> float:
    return float(sum(n >= e for e in NODE_EDGES))


def reference(age: float, size: float, grade: float, nodes: float) -> tuple[float, str]:
    """Plain-Python CTS5 (same operation order as the graph) and its group."""
    if size > MAX_SIZE_MM:
        raise ValueError("size above 30 mm is refused")
    c = COEF
    inner = c["size"] * size + c["size2"] * (size * size) + c["grade"] * grade + c["age"] * age
    score = c["nodes"] * node_category(nodes) + c["outer"] * inner
    group = GROUPS[int(score >= LOW_CUT) + int(score >= HIGH_CUT)]
    return score, group


def build_model():  # noqa: ANN201
    """Return the ONNX model: features [N, 4] float64 (age, size_mm, grade, nodes)."""
    g = GraphBuilder("breast_cts5")
    x = g.add_input("features", TensorProto.DOUBLE, ["N", 4])
    age, size, grade, nodes = (g.column(x, i) for i in range(4))
    cat = None
    for edge in NODE_EDGES:
        step = g.op("Cast", g.op("GreaterOrEqual", nodes, g.const(edge)), to=TensorProto.DOUBLE)
        cat = step if cat is None else g.op("Add", cat, step)
    c = COEF
    inner = g.op("Add", g.op("Add", g.op("Add", g.op("Mul", g.const(c["size"]), size),
                                         g.op("Mul", g.const(c["size2"]), g.op("Mul", size, size))),
                             g.op("Mul", g.const(c["grade"]), grade)),
                 g.op("Mul", g.const(c["age"]), age))
    score = g.op("Add", g.op("Mul", g.const(c["nodes"]), cat), g.op("Mul", g.const(c["outer"]),
                                                                    inner))
    grp = g.op("Add", g.op("Cast", g.op("GreaterOrEqual", score, g.const(LOW_CUT)),
                           to=TensorProto.DOUBLE),
               g.op("Cast", g.op("GreaterOrEqual", score, g.const(HIGH_CUT)),
                    to=TensorProto.DOUBLE))
    idx = g.op("Cast", grp, to=TensorProto.INT64)
    axes = g.const(np.array([1], np.int64), np.int64)

    def table(values: list[float]) -> str:
        return g.op("Unsqueeze", g.op("Gather", g.const(np.array(values)), idx, axis=0), axes)

    g.add_output(g.op("Unsqueeze", score, axes), "score", TensorProto.DOUBLE, ["N", 1])
    g.add_output(g.op("Unsqueeze", grp, axes), "group", TensorProto.DOUBLE, ["N", 1])
    g.add_output(g.op("Unsqueeze", cat, axes), "node_category", TensorProto.DOUBLE, ["N", 1])
    for name, k in (("observed_dr", 0), ("observed_dr_lower", 1), ("observed_dr_upper", 2)):
        g.add_output(table([round(PUBLISHED["observed_dr_pct"][grp_][k] / 100, 6)
                            for grp_ in GROUPS]),
                     name, TensorProto.DOUBLE, ["N", 1])
    return g.model("CTS5 (Dowsett 2018, pooled ATAC + BIG 1-98 coefficients), exact", "oncoboard",
                   {"plugin": PLUGIN_ID, "version": VERSION})


def check(model_path: Path) -> dict[str, float]:
    """Run the graph on the test vectors and the grid; compare with reference()."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    vec_rows = [tuple(float(v) for v in row[:4]) for row in VECTORS]
    grid_rows = list(itertools.product(GRID["age"], GRID["size"], GRID["grade"], GRID["nodes"]))
    out: dict[str, float] = {}
    for label, rows in (("vectors", vec_rows), ("grid", grid_rows)):
        res = dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                       strict=True))
        ref = [reference(*r) for r in rows]
        exp_score = np.array([r[0] for r in ref])
        exp_grp = np.array([GROUPS.index(r[1]) for r in ref], float)
        dr = np.round(np.array([PUBLISHED["observed_dr_pct"][r[1]] for r in ref]) / 100, 6)
        ok = (res["score"][:, 0] == exp_score) & (res["group"][:, 0] == exp_grp) \
            & (res["observed_dr"][:, 0] == dr[:, 0]) & (res["observed_dr_lower"][:, 0] == dr[:, 1]) \
            & (res["observed_dr_upper"][:, 0] == dr[:, 2]) \
            & (res["node_category"][:, 0] == np.array([node_category(r[3]) for r in rows]))
        if label == "vectors":
            ok &= np.abs(exp_score - np.array([v[4] for v in VECTORS])) < 5e-5
            ok &= np.array([r[1] == v[5] for r, v in zip(ref, VECTORS, strict=True)])
        else:
            out["grid_nearest_to_cut"] = float(np.min(np.minimum(np.abs(exp_score - LOW_CUT),
                                                                 np.abs(exp_score - HIGH_CUT))))
            out["grid_max_abs_diff"] = float(np.max(np.abs(res["score"][:, 0] - exp_score)))
            for i, grp_ in enumerate(GROUPS):
                out[f"grid_share_{grp_}"] = float(np.mean(exp_grp == i))
        out[f"{label}_cases"], out[f"{label}_agreeing"] = float(len(rows)), float(ok.sum())
    return out


CAVEAT = ("Prognostic, not predictive: it does not show who benefits from extending endocrine "
          "therapy. Derived in postmenopausal women in two trials; external validations find it "
          "overestimates risk in the high group. No individual risk percentage is shown (the "
          "published risk function could not be confirmed); tumours over 30 mm are refused (the "
          "published handling of larger tumours could not be confirmed).")


def write_manifest(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    dr, bands = PUBLISHED["observed_dr_pct"], PUBLISHED["band_text"]
    dr_txt = ", ".join(f"{g} {dr[g][0]:g}% ({dr[g][1]:g}-{dr[g][2]:g})" for g in GROUPS)
    desc = (f"Clinical Treatment Score post-5 years (CTS5) for ER-positive early breast cancer free "
            f"of distant recurrence after 5 years of endocrine therapy: the score, its group (low "
            f"< {LOW_CUT:g}, {bands['low']} distant recurrence in years 5-10; intermediate, "
            f"{bands['intermediate']}; high >= {HIGH_CUT:g}, {bands['high']}) and the distant "
            f"recurrence observed in years 5-10 in that group in an external validation of "
            f"postmenopausal women ({dr_txt}). {CAVEAT}")
    golden_in = {"age": 78, "size_mm": 15.0, "grade": "3", "nodes": 9}
    score, group = reference(78.0, 15.0, 3.0, 9.0)
    text = f'''# Written by models/breast-cts5/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{PLUGIN_ID}"
name = "CTS5, Clinical Treatment Score post-5 years (published score, exact)"
version = "{VERSION}"
task = "relapse"
description = {toml_value(desc)}
authors = ["Dowsett M, Sestak I et al. (score)", "Oncoboard developers (ONNX implementation)"]
license = "Apache-2.0"
references = [
  "Dowsett M et al. Integration of clinical variables for the prediction of late distant recurrence in patients with estrogen receptor-positive breast cancer treated with 5 years of endocrine therapy: CTS5. J Clin Oncol 2018;36(19):1941-1948. doi:10.1200/JCO.2017.76.4258",
  "Richman J et al. Breast Cancer Res Treat 2020;186(1):115-123. doi:10.1007/s10549-020-06013-6",
]
model_card = "MODEL_CARD.md"

[intended_use]
summary = "Shown when a board discusses stopping or extending endocrine therapy at 5 years for ER-positive early breast cancer without distant recurrence: the late distant recurrence group and what was observed in that group, beside PREDICT and relapse-gbsg2, which do not answer beyond year 5."
not_for = ["deciding extension alone (CTS5 is prognostic, not predictive of benefit)", "ER-negative disease", "patients with a distant recurrence", "tumours over 30 mm (refused)", "patients less than 4.5 years into endocrine therapy (flagged: the score is for the 5-year decision)"]

[population]
description = "Women, postmenopausal in the derivation trials, with ER-positive early breast cancer, free of distant recurrence after 5 years of endocrine therapy (ATAC, BIG 1-98)."
diagnoses = ["C50"]
sex = ["female"]
out_of_population = "flag"
[population.treatment]
kind = "systemic"
subkind = "endocrine"
min_days = 1644                      # started at least 4.5 years before the board

[training_data]
source = "published score (Dowsett et al., J Clin Oncol 2018; developed in ATAC n = 4,735, validated in BIG 1-98 n = 6,711, refitted on both)"
synthetic = false
description = "No training: the published equation and group cut-offs, implemented exactly."

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = 17

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float64"
shape = [-1, 4]
channel_def = {{0 = "age", 1 = "size_mm", 2 = "grade", 3 = "nodes"}}
''' + "".join(f'''
[[model.outputs]]
name = "{n}"
type = "{t}"
dtype = "float64"
shape = [-1, 1]
''' for n, t in (("score", "score"), ("group", "label"), ("node_category", "score"),
                 ("observed_dr", "probability"), ("observed_dr_lower", "probability"),
                 ("observed_dr_upper", "probability"))) + f'''
[[inputs]]
kind = "clinical"
name = "age"
label = "Age at diagnosis (years)"
description = "Age on the diagnosis date of the primary cancer (derivation age_at_diagnosis), not at the 5-year board."
source = {{type = "derived", derivation = "age_at_diagnosis", window_days = 0}}
tensor = "features"
column = 0
unit = "a"
reference = 60
valid_range = [18.0, 100.0]

[[inputs]]
kind = "clinical"
name = "size_mm"
label = "Invasive tumour size (mm)"
description = "Tumours over {MAX_SIZE_MM:g} mm are refused: whether the published score caps size at {MAX_SIZE_MM:g} mm could not be confirmed from the paper, and the two readings give different scores"
source = {{type = "condition", field = "tsize"}}
tensor = "features"
column = 1
unit = "mm"
reference = 15.0
valid_range = [0.1, {MAX_SIZE_MM}]

[[inputs]]
kind = "clinical"
name = "grade"
label = "Histological grade"
source = {{type = "condition", field = "grade"}}
tensor = "features"
column = 2
reference = "2"
categories = [
  {{label = "1", value = 1, synonyms = ["G1", "I", "grade 1"]}},
  {{label = "2", value = 2, synonyms = ["G2", "II", "grade 2"]}},
  {{label = "3", value = 3, synonyms = ["G3", "III", "grade 3"]}},
]

[[inputs]]
kind = "clinical"
name = "nodes"
label = "Positive lymph nodes (number)"
description = "Number of positive axillary nodes (coded 0, 1, 2-3, 4-9, 10 or more in the score)"
source = {{type = "condition", field = "positive_nodes"}}
tensor = "features"
column = 3
integer = true
reference = 0
valid_range = [0.0, 80.0]

[[outputs]]
name = "cts5"
kind = "score"
label = "CTS5 (low < {LOW_CUT:g}, intermediate {LOW_CUT:g}-{HIGH_CUT:g}, high >= {HIGH_CUT:g})"
description = {toml_value(CAVEAT)}
tensor = "score"
column = 0
risk_bands = [{{label = "low (< 5% distant recurrence, years 5-10)", upper = {LOW_CUT}}}, {{label = "intermediate (5-10%)", upper = {HIGH_CUT}}}, {{label = "high (> 10%)", upper = 10.0}}]

[[outputs]]
name = "observed_late_distant_recurrence"
kind = "probability"
label = "Distant recurrence in years 5-10 observed in this CTS5 group (external validation)"
description = "Richman et al. 2020, Royal Marsden, unselected postmenopausal women (n = 1,662): {dr_txt}; more recurrences than expected were seen in the high group. Not an individual risk."
tensor = "observed_dr"
column = 0
lower = "observed_late_distant_recurrence_lower"
upper = "observed_late_distant_recurrence_upper"

[[outputs]]
name = "observed_late_distant_recurrence_lower"
kind = "probability"
label = "Lower 95% bound"
tensor = "observed_dr_lower"
column = 0
display = false

[[outputs]]
name = "observed_late_distant_recurrence_upper"
kind = "probability"
label = "Upper 95% bound"
tensor = "observed_dr_upper"
column = 0
display = false

[explanation]
method = "occlusion"
output = "cts5"
scale = "identity"

[metrics]
generated_by = "models/breast-cts5/build.py"
generated_at = "{info['generated_at']}"
dataset = "the reference sheet's test vectors, and every whole age 25-90, size 1-30 mm, grade 1-3 and node count 0-12 and 20"
[metrics.values]
agreement_on_test_vectors = {{value = {chk['vectors_agreeing'] / chk['vectors_cases']}, description = "fraction of {int(chk['vectors_cases'])} test vectors where the ONNX score (to 5e-5 of the published value, exactly equal to the reference transcription) and group agree"}}
agreement_on_grid = {{value = {chk['grid_agreeing'] / chk['grid_cases']}, description = "fraction of {int(chk['grid_cases'])} grid cases where the ONNX score, node category, group and observed recurrence equal the reference's"}}
nearest_score_to_a_cut_off = {{value = {chk['grid_nearest_to_cut']:.3e}, description = "smallest distance of a grid score to 3.13 or 3.86 (no whole-number patient lands on a cut-off)"}}
cases_checked = {chk['vectors_cases'] + chk['grid_cases']}

[golden]
inputs = {toml_value(golden_in)}
expected = {toml_value({"cts5": score, "observed_late_distant_recurrence": round(PUBLISHED["observed_dr_pct"][group][0] / 100, 6)})}
tolerance = 1e-9
'''
    path.write_text(text, encoding="utf-8")


def write_card(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    dr, bands = PUBLISHED["observed_dr_pct"], PUBLISHED["band_text"]
    rows = "\n".join(f"| {g} | {bands[g]} | {dr[g][0]:g} % ({dr[g][1]:g}-{dr[g][2]:g}) | "
                     f"{100 * chk['grid_share_' + g]:.0f} % |" for g in GROUPS)
    text = f"""# Model card: breast-cts5 (CTS5, Clinical Treatment Score post-5 years) {VERSION}

*Written by `models/breast-cts5/build.py` on {info['generated_at']}; do not edit by hand.*

## What it computes
CTS5 = 0.438 x nodes + 0.988 x (0.093 x size - 0.001 x size^2 + 0.375 x grade + 0.017 x age),
nodes coded 0, 1, 2-3, 4-9, >= 10 as 0-4; size in mm (invasive), grade 1-3, age in years at
diagnosis (from the record: the age on the primary cancer's diagnosis date). These are the final
coefficients refitted on ATAC and BIG 1-98 pooled, not the ATAC-only version (0.471, 0.980, ...).
Groups: low < {LOW_CUT:g}, intermediate {LOW_CUT:g} to < {HIGH_CUT:g}, high >= {HIGH_CUT:g}.

Output read by the board, per group:

| group | published band (Dowsett 2018) | observed distant recurrence, years 5-10 (95 % CI), Richman 2020 postmenopausal | share of the check grid |
|---|---|---|---|
{rows}

## Population and published validation
Dowsett et al., J Clin Oncol 2018: postmenopausal women with ER-positive early breast cancer free
of distant recurrence after 5 years of endocrine therapy; developed in ATAC (n = 4,735),
validated in BIG 1-98 (n = 6,711). In BIG 1-98, 43 % were low risk with 3.6 % (2.7-4.9) distant
recurrence in years 5-10. External: Richman et al. 2020 (Royal Marsden, 2,428 unselected
patients; postmenopausal HR per unit 2.18 (1.78-2.67), premenopausal 1.84 (1.32-2.56); group
rates above, premenopausal 3.8 %, 6.9 %, 11.1 %); Noordhoek 2020 (TEAM, IDEAL) and GEICAM 2025
found overestimation in the high group; CTS5 did not predict benefit from longer endocrine
therapy.

## Limits
Prognostic, not predictive; derived in postmenopausal trial patients; no PR, HER2 or Ki67;
overestimates risk in the high group in several cohorts; the observed rates shown are those of
one external cohort, not an individual risk.

## How each element was confirmed
- Coefficients and node coding: the pooled-model test vectors reproduce a public implementation's
  published examples exactly (MaastrichtU-CDS/breast_cancer_models README: 2.621796 and 4.891548)
  and a second implementation's tests (TCRD_decoding: 3.344, 3.697); two public calculators
  (oncotoolkit, TCRD_decoding) state the same equation.
- Group cut-offs 3.13 and 3.86: stated by oncotoolkit and TCRD_decoding ("published cutoffs");
  the 5 % / 10 % bands they stand for are in the JCO abstract. The paper's own text was not read.
- Observed rates per group with intervals: the Richman 2020 abstract (ICR repository record), read.
- **Not confirmed, so not shown or refused**:
  - the individual 5-10-year risk function (found only in one implementation whose CTS5 line is
    itself wrong): no individual percentage is output;
  - a size cap at 30 mm (used by two calculators, absent from a third; the paper's methods were
    not read): sizes up to 30 mm give the same score either way, larger tumours are refused with
    that reason (the input's valid range);
  - which group a score of exactly {HIGH_CUT:g} belongs to (implementations differ): the graph
    and the display bands put it in high; no whole-number patient of the grid falls within
    {chk['grid_nearest_to_cut']:.1e} of a cut-off;
  - age at diagnosis vs at the start of endocrine therapy (implementations differ; usually the
    same year, 0.017 points per year);
  - the intermediate and high rates and the C-index of the derivation paper.

## Exactness check (this build)
- Test vectors of the reference sheet (1-4; vector 5, 40 mm, is refused and checked in the
  tests): {int(chk['vectors_agreeing'])}/{int(chk['vectors_cases'])} agree (score within 5e-5 of the published value).
- Grid of {int(chk['grid_cases'])} patients (every whole age 25-90, size 1-30 mm, grade, node
  count 0-12 and 20, i.e. every node-category edge): {int(chk['grid_agreeing'])}/{int(chk['grid_cases'])}
  agree with the reference transcription (score bit for bit in double precision, node category,
  group, observed rate); largest score difference {chk['grid_max_abs_diff']:.1e}.

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
