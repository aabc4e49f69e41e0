"""Rebuild plugins/lung-lipi: the Lung Immune Prognostic Index as an exact ONNX graph.

Run from the repository root (a few seconds)::

    PYTHONPATH=app .venv/bin/python models/lung-lipi/build.py

No training. LIPI (Mezquita et al., JAMA Oncol 2018) counts two factors, dNLR > 3 and LDH above
the reporting lab's upper limit of normal; 0/1/2 factors are the good/intermediate/poor groups.
The graph gives the score, the factors and, for the patient's group, the published median
overall and progression-free survival with their 95 % intervals (table PUBLISHED below, the
only place the numbers are typed). The build checks the graph with onnxruntime against a
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

PLUGIN_ID, VERSION = "lung-lipi", "1.0.0"
DNLR_CUT, LDH_RATIO_CUT = 3.0, 1.0          # strict ">" for both (paper: "greater than")
GROUPS = ("good", "intermediate", "poor")
# Mezquita 2018, abstract (ICI cohort): median OS and PFS (months) per group, 95 % CI.
# OS upper bounds were not reached (NR) in every group: no upper bound is output.
PUBLISHED = {
    "os": {"good": (34.0, 17.0, None), "intermediate": (10.0, 8.0, None),
           "poor": (3.0, 1.0, None)},
    "pfs": {"good": (6.3, 5.0, 8.0), "intermediate": (3.7, 3.0, 4.8),
            "poor": (2.0, 1.7, 4.0)},
}
# Test vectors of the reference sheet: ANC, WBC (same unit), LDH, ULN, expected score.
VECTORS = [(4.0, 7.0, 200.0, 250.0, 0), (6.0, 8.0, 250.0, 250.0, 0), (7.0, 9.0, 180.0, 250.0, 1),
           (5000.0, 8000.0, 400.0, 250.0, 1), (8.0, 10.0, 300.0, 250.0, 2)]


def around(x: float) -> list[float]:
    """The value, the next doubles either side, and values clearly either side."""
    return [x * 0.5, np.nextafter(x, -np.inf), x, np.nextafter(x, np.inf), x * 1.5]


GRID = {"dnlr": [0.0, *around(DNLR_CUT), 40.0], "ldh_uln_ratio": [0.1, *around(LDH_RATIO_CUT),
                                                                   12.0]}


def dnlr(anc: float, wbc: float) -> float:
    """dNLR = ANC / (WBC - ANC), as oncoboard.inference.record_access computes it."""
    if wbc <= anc:
        raise ValueError("WBC must exceed ANC")
    return anc / (wbc - anc)


def reference(d: float, ratio: float) -> dict[str, float | str | None]:
    """Plain-Python LIPI: score, group and the group's published outcomes."""
    score = int(d > DNLR_CUT) + int(ratio > LDH_RATIO_CUT)
    group = GROUPS[score]
    os_, pfs = PUBLISHED["os"][group], PUBLISHED["pfs"][group]
    return {"score": score, "group": group, "os": os_[0], "os_lower": os_[1],
            "pfs": pfs[0], "pfs_lower": pfs[1], "pfs_upper": pfs[2]}


def build_model():  # noqa: ANN201
    """Return the ONNX model: features [N, 2] float64 (dnlr, ldh_uln_ratio)."""
    g = GraphBuilder("lung_lipi")
    x = g.add_input("features", TensorProto.DOUBLE, ["N", 2])
    f_dnlr = g.op("Cast", g.op("Greater", g.column(x, 0), g.const(DNLR_CUT)),
                  to=TensorProto.DOUBLE)
    f_ldh = g.op("Cast", g.op("Greater", g.column(x, 1), g.const(LDH_RATIO_CUT)),
                 to=TensorProto.DOUBLE)
    score = g.op("Add", f_dnlr, f_ldh)
    idx = g.op("Cast", score, to=TensorProto.INT64)
    axes = g.const(np.array([1], np.int64), np.int64)

    def table(values: list[float]) -> str:
        return g.op("Unsqueeze", g.op("Gather", g.const(np.array(values)), idx, axis=0), axes)

    col = g.op("Unsqueeze", score, axes)
    g.add_output(col, "score", TensorProto.DOUBLE, ["N", 1])
    g.add_output(g.op("Concat", g.op("Unsqueeze", f_dnlr, axes), g.op("Unsqueeze", f_ldh, axes),
                      axis=1), "factors", TensorProto.DOUBLE, ["N", 2])
    for name, key, k in (("median_os", "os", 0), ("median_os_lower", "os", 1),
                         ("median_pfs", "pfs", 0), ("median_pfs_lower", "pfs", 1),
                         ("median_pfs_upper", "pfs", 2)):
        g.add_output(table([PUBLISHED[key][grp][k] for grp in GROUPS]), name,
                     TensorProto.DOUBLE, ["N", 1])
    return g.model("Lung Immune Prognostic Index (Mezquita 2018), exact", "oncoboard",
                   {"plugin": PLUGIN_ID, "version": VERSION})


def check(model_path: Path) -> dict[str, float]:
    """Run the graph on the test vectors and the grid; compare with reference()."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    vec_rows = [(dnlr(a, w), ldh / uln) for a, w, ldh, uln, _ in VECTORS]
    grid_rows = list(itertools.product(GRID["dnlr"], GRID["ldh_uln_ratio"]))
    out = {}
    for label, rows in (("vectors", vec_rows), ("grid", grid_rows)):
        res = dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                       strict=True))
        ok = 0
        for i, (d, r) in enumerate(rows):
            ref = reference(d, r)
            got = (res["score"][i, 0], res["median_os"][i, 0], res["median_os_lower"][i, 0],
                   res["median_pfs"][i, 0], res["median_pfs_lower"][i, 0],
                   res["median_pfs_upper"][i, 0])
            want = (ref["score"], ref["os"], ref["os_lower"], ref["pfs"], ref["pfs_lower"],
                    ref["pfs_upper"])
            ok += got == want and res["factors"][i].sum() == ref["score"] and (
                label != "vectors" or ref["score"] == VECTORS[i][4])
        out[f"{label}_cases"], out[f"{label}_agreeing"] = float(len(rows)), float(ok)
    return out


def inputs_toml() -> str:
    return '''
[[inputs]]
kind = "clinical"
name = "dnlr"
label = "Derived neutrophil-to-lymphocyte ratio, dNLR = neutrophils / (white cells - neutrophils)"
description = "From the latest neutrophil (LOINC 751-8) and white-cell (LOINC 26464-8 / 6690-2) counts in the 30 days before the reference date; refused when white cells do not exceed neutrophils. Not the NLR (lymphocytes)."
source = {type = "derived", derivation = "dnlr", window_days = 30}
tensor = "features"
column = 0
reference = 2.0
valid_range = [0.0, 100.0]

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
'''


CAVEAT = ("Prognostic, not a decision rule: the groups and their published medians come from a "
          "retrospective European cohort of advanced NSCLC on PD-1/PD-L1 inhibitors; some poor-LIPI "
          "patients benefited, and LIPI is prognostic under chemotherapy and targeted therapy too "
          "(FDA pooled analysis), so it does not select who should receive immunotherapy.")


def write_manifest(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    pub = PUBLISHED
    os_txt = ", ".join(f"{g} {pub['os'][g][0]:g} months (95% CI {pub['os'][g][1]:g}-NR)"
                       for g in GROUPS)
    pfs_txt = ", ".join(f"{g} {pub['pfs'][g][0]:g} ({pub['pfs'][g][1]:g}-{pub['pfs'][g][2]:g})"
                        for g in GROUPS)
    desc = (f"Lung Immune Prognostic Index: dNLR > 3 and LDH above the lab's upper limit of normal "
            f"(0, 1, 2 factors: good, intermediate, poor), with the published median overall "
            f"survival ({os_txt}) and progression-free survival ({pfs_txt} months) of the "
            f"patient's group. {CAVEAT}")
    golden_in = {"dnlr": 4.0, "ldh_uln_ratio": 1.2}
    ref = reference(4.0, 1.2)
    text = f'''# Written by models/lung-lipi/build.py: do not edit by hand (rebuild instead).
schema_version = 1
id = "{PLUGIN_ID}"
name = "LIPI, Lung Immune Prognostic Index (published score, exact)"
version = "{VERSION}"
task = "response"
description = {toml_value(desc)}
authors = ["Mezquita L et al. (score)", "Oncoboard developers (ONNX implementation)"]
license = "Apache-2.0"
references = [
  "Mezquita L et al. Association of the Lung Immune Prognostic Index with immune checkpoint inhibitor outcomes in patients with advanced non-small cell lung cancer. JAMA Oncol 2018;4(3):351-357. doi:10.1001/jamaoncol.2017.4771",
  "Kazandjian D et al. Prognostic value of the Lung Immune Prognostic Index for patients treated for metastatic non-small cell lung cancer. JAMA Oncol 2019;5(10):1481-1485.",
]
model_card = "MODEL_CARD.md"

[intended_use]
summary = "Shown at the tumour board before a PD-1/PD-L1 inhibitor for advanced NSCLC: the patient's LIPI group and the published survival of that group, as prognostic context beside the clinical assessment."
not_for = ["deciding alone whether to give immunotherapy (LIPI is prognostic under chemotherapy too)", "early-stage disease", "labs older than 30 days or after the first dose"]

[population]
description = "Adults with advanced (stage IIIB-IV) non-small cell lung cancer starting a PD-1/PD-L1 inhibitor, any line; blood counts and LDH within 30 days before the first dose."
diagnoses = ["C34"]
age_min = 18
out_of_population = "flag"
[population.treatment]
kind = "systemic"
subkind = "immunotherapy"
window_days = 30

[training_data]
source = "published score (Mezquita et al., JAMA Oncol 2018; 466 patients on PD-1/PD-L1 inhibitors in 8 European centres, 162 on chemotherapy)"
synthetic = false
description = "No training: the published two-factor rule, implemented exactly; per-group medians are the paper's."

[model]
file = "model.onnx"
sha256 = "{info['sha256']}"
opset_min = 17

[[model.inputs]]
name = "features"
type = "tabular"
format = "features"
dtype = "float64"
shape = [-1, 2]
channel_def = {{0 = "dnlr", 1 = "ldh_uln_ratio"}}

[[model.outputs]]
name = "score"
type = "score"
dtype = "float64"
shape = [-1, 1]
value_range = [0.0, 2.0]

[[model.outputs]]
name = "factors"
type = "score"
dtype = "float64"
shape = [-1, 2]
channel_def = {{0 = "dNLR > 3", 1 = "LDH > upper limit of normal"}}
''' + "".join(f'''
[[model.outputs]]
name = "{n}"
type = "other"
dtype = "float64"
shape = [-1, 1]
''' for n in ("median_os", "median_os_lower", "median_pfs", "median_pfs_lower",
              "median_pfs_upper")) + inputs_toml() + f'''
[[outputs]]
name = "lipi_score"
kind = "score"
label = "LIPI factors (0 good, 1 intermediate, 2 poor)"
description = {toml_value("Number of factors: dNLR > 3, LDH > the lab's upper limit of normal. " + CAVEAT)}
unit = "factors"
tensor = "score"
column = 0
risk_bands = [{{label = "good", upper = 1.0}}, {{label = "intermediate", upper = 2.0}}, {{label = "poor", upper = 2.0}}]

[[outputs]]
name = "median_os"
kind = "score"
label = "Published median overall survival of this LIPI group (months)"
description = "Mezquita 2018 (abstract), patients on PD-1/PD-L1 inhibitors; the 95% interval's upper bound was not reached (NR) in any group, so only the lower bound is given."
unit = "months"
tensor = "median_os"
column = 0
lower = "median_os_lower"

[[outputs]]
name = "median_os_lower"
kind = "score"
label = "Lower 95% bound of the published median overall survival (months)"
unit = "months"
tensor = "median_os_lower"
column = 0
display = false

[[outputs]]
name = "median_pfs"
kind = "score"
label = "Published median progression-free survival of this LIPI group (months)"
description = "Mezquita 2018 (abstract), patients on PD-1/PD-L1 inhibitors, with its 95% interval."
unit = "months"
tensor = "median_pfs"
column = 0
lower = "median_pfs_lower"
upper = "median_pfs_upper"

[[outputs]]
name = "median_pfs_lower"
kind = "score"
label = "Lower 95% bound of the published median PFS (months)"
unit = "months"
tensor = "median_pfs_lower"
column = 0
display = false

[[outputs]]
name = "median_pfs_upper"
kind = "score"
label = "Upper 95% bound of the published median PFS (months)"
unit = "months"
tensor = "median_pfs_upper"
column = 0
display = false

[explanation]
method = "occlusion"
output = "lipi_score"
scale = "identity"

[metrics]
generated_by = "models/lung-lipi/build.py"
generated_at = "{info['generated_at']}"
dataset = "the reference sheet's test vectors, and every pair of values at, just below and just above (next double) each threshold"
[metrics.values]
agreement_on_test_vectors = {{value = {chk['vectors_agreeing'] / chk['vectors_cases']}, description = "fraction of {int(chk['vectors_cases'])} test vectors where the ONNX score, group and published outcomes equal the reference's"}}
agreement_on_threshold_grid = {{value = {chk['grid_agreeing'] / chk['grid_cases']}, description = "fraction of {int(chk['grid_cases'])} grid cases where the ONNX score, group and published outcomes equal the reference's"}}
cases_checked = {chk['vectors_cases'] + chk['grid_cases']}

[golden]
inputs = {toml_value(golden_in)}
expected = {toml_value({"lipi_score": float(ref["score"]), "median_os": ref["os"], "median_pfs": ref["pfs"]})}
tolerance = 1e-9
'''
    path.write_text(text, encoding="utf-8")


def write_card(path: Path, info: dict[str, str], chk: dict[str, float]) -> None:
    rows = "\n".join(
        f"| {g} | {i} | {PUBLISHED['os'][g][0]:g} ({PUBLISHED['os'][g][1]:g}-NR) | "
        f"{PUBLISHED['pfs'][g][0]:g} ({PUBLISHED['pfs'][g][1]:g}-{PUBLISHED['pfs'][g][2]:g}) |"
        for i, g in enumerate(GROUPS))
    text = f"""# Model card: lung-lipi (LIPI, Lung Immune Prognostic Index) {VERSION}

*Written by `models/lung-lipi/build.py` on {info['generated_at']}; do not edit by hand.*

## What it computes
- dNLR = neutrophils / (white cells - neutrophils) (the *derived* NLR: the denominator is the
  non-neutrophil white count, not lymphocytes), from the latest counts in the 30 days before the
  reference date (engine derivation `dnlr`; refused when white cells do not exceed neutrophils).
- LDH / the upper limit of normal **stored with that LDH observation** (derivation
  `ldh_uln_ratio_lab`): the paper defined the limit "according the limit of each center"; no
  default limit is used, a missing limit refuses the result.
- Score = [dNLR > 3] + [LDH > ULN] (strict: dNLR exactly 3 or LDH exactly at the limit scores 0);
  0 good, 1 intermediate, 2 poor.
- Output read by the board: the group and the published median overall and progression-free
  survival of that group with their 95 % intervals:

| group | factors | median OS, months (95 % CI) | median PFS, months (95 % CI) |
|---|---|---|---|
{rows}

NR: not reached (no upper bound is shown).

## Population and published validation
Mezquita et al., JAMA Oncol 2018: advanced NSCLC on PD-1/PD-L1 inhibitors in 8 European centres,
test set n = 161 and validation set n = 305 (466), any line (median 1 prior line, 0-11); labs
within 30 days before the first dose; 37 patients without LDH or dNLR were not scored. A
chemotherapy-only control cohort (n = 162) showed no association in that paper. External: the FDA
pooled analysis (Kazandjian et al., JAMA Oncol 2019, 11 trials) found good vs poor LIPI OS hazard
ratios of 0.34 (0.28-0.42) under immunotherapy but also 0.49 (0.40-0.60) under chemotherapy and
0.28 (0.21-0.37) under targeted therapy: LIPI is prognostic, not specific to immunotherapy.

## Limits
Retrospective derivation; three ordinal groups, not an individual probability; upper limits of
normal differ between labs (the limit used is stored with every result, in the input snapshot);
some poor-LIPI patients benefited from immunotherapy.

## How each element was confirmed
- Definition of dNLR, the two cut-offs (strictly greater), the three groups, the per-centre LDH
  limit, the 30-day lab window, the cohorts: the paper's wording, read as verbatim quotes with
  their sections (Introduction; Methods > Patients; Abstract) in a public source-verification
  document (m31-bio/CancerVerse `docs/MODEL_CONSTRAINTS_SOURCES.md`), and the PubMed abstract
  (PMID 29327044) for the definition, cohorts and groups.
- Per-group medians and intervals: the abstract's sentence quoted verbatim in that document.
- **Not confirmed**: the number of patients per group, and whether the medians are those of the
  pooled 466 patients or of the test set (the quote's source note points to the test-set results
  section); the card and the outputs say "ICI cohort" only. Confidence intervals of the
  independent hazard ratios (LDH 2.51, dNLR 2.22) were not read: not shown.

## Exactness check (this build)
- Test vectors of the reference sheet: {int(chk['vectors_agreeing'])}/{int(chk['vectors_cases'])} agree.
- Threshold grid (each value at, the next double below and above, and clearly either side of each
  cut-off, all pairs): {int(chk['grid_agreeing'])}/{int(chk['grid_cases'])} agree (score, factors,
  published outcomes).
- The graph computes in double precision (float64 input), so a value a hair above a cut-off is
  never rounded onto it.

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
