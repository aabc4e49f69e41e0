"""The CARG chemotherapy-toxicity score (Hurria et al., JCO 2011) as an ONNX graph.

Reference: ../shared/references/carg-toxicity-score.md (copied into MODEL_CARD.md). Eleven items,
0-23 points; risk groups 0-5 low, 6-9 intermediate, 10-23 high, with the development cohort's
observed grade 3-5 toxicity rates (about 30 %, 52 %, 83 %).

Input tensor ``features`` (N, 12) float32, columns in :data:`COLUMNS`; categorical inputs arrive
as the numbers the manifest's categories map them to (e.g. hearing 0 excellent ... 4 deaf).
Outputs: ``score`` (N, 1), ``risk_group`` (N, 1: 0 low, 1 intermediate, 2 high),
``observed_rate`` (N, 1) and ``item_points`` (N, 11, in :data:`ITEMS` order).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
COLUMNS = ["age", "cancer_site_gi_gu", "dose_intensity", "n_agents", "haemoglobin", "sex_male",
           "crcl", "hearing", "falls_6m", "walk_limited", "needs_medication_help",
           "social_decreased"]
# item -> (points, column, comparison, threshold); the haemoglobin item is sex-specific.
ITEMS: list[tuple[str, int, str, str, float]] = [
    ("age >= 72 years", 2, "age", "ge", 72.0),
    ("gastrointestinal or genitourinary cancer", 2, "cancer_site_gi_gu", "ge", 0.5),
    ("standard dose (dose intensity >= 0.95)", 2, "dose_intensity", "ge", 0.95),
    ("polychemotherapy (more than one agent)", 2, "n_agents", "gt", 1.0),
    ("haemoglobin < 11 g/dL (men) or < 10 g/dL (women)", 3, "haemoglobin", "lt_sex", 0.0),
    ("creatinine clearance < 34 mL/min (Jelliffe)", 3, "crcl", "lt", 34.0),
    ("hearing fair or worse", 2, "hearing", "ge", 2.0),
    ("one or more falls in the last 6 months", 3, "falls_6m", "ge", 1.0),
    ("limited in walking one block", 2, "walk_limited", "ge", 0.5),
    ("needs help taking medications", 1, "needs_medication_help", "ge", 0.5),
    ("social activities decreased because of health", 1, "social_decreased", "ge", 0.5),
]
HB_MEN, HB_WOMEN = 11.0, 10.0
GROUP_CUTS = (6.0, 10.0)                   # score >= 6 intermediate, >= 10 high
GROUP_LABELS = ("low", "intermediate", "high")
OBSERVED_RATES = (0.30, 0.52, 0.83)        # development cohort, grade 3-5 toxicity
# (patients with grade 3-5 toxicity, patients) per group in the development cohort, from which
# the build computes each rate's Wilson 95 % interval. The reference sheet this plugin is built
# from gives only the rounded rates (of 500 patients), not the group sizes: no interval is
# computed until the published counts are added here.
GROUP_COUNTS: tuple[tuple[int, int], ...] | None = None

# External validation (Hurria et al., J Clin Oncol 2016;34:2366-2371; figures as reported by
# The ASCO Post, "External Validation of a Prediction Tool for Chemotherapy Toxicity in Older
# Patients With Cancer"): 250 patients with the same cut-offs; 24 %, 53 % and 23 % of them in the
# low, intermediate and high groups, grade 3-5 toxicity in 36.7 %, 62.4 % and 70.2 % of each
# group, 58 % overall. `validation_counts` recovers the only whole counts that give exactly these
# rounded figures; the build computes each group's Wilson interval from them.
VALIDATION_PATIENTS = 250
VALIDATION_SHARE_PCT = (24, 53, 23)           # of the 250, rounded to whole percent
VALIDATION_RATE_PCT = (36.7, 62.4, 70.2)      # toxicity within each group, to 0.1 %
VALIDATION_OVERALL_PCT = 58                   # toxicity in all 250, whole percent
VALIDATION_SOURCE = ("external validation cohort of Hurria et al., J Clin Oncol 2016 "
                     "(250 patients aged 65 or over, 8 institutions)")


def validation_counts() -> tuple[tuple[int, int], ...]:
    """Return (patients with toxicity, patients) per group of the external validation cohort.

    Searches every split of the 250 patients into three groups and every event count, keeps
    those that reproduce each published rounded percentage, and raises unless exactly one
    remains: the counts are then the published data, not an estimate."""
    def pct(k: int, n: int, digits: int) -> float:
        return round(100 * k / n, digits)

    found = []
    total = VALIDATION_PATIENTS
    for n_low in range(1, total):
        if pct(n_low, total, 0) != VALIDATION_SHARE_PCT[0]:
            continue
        for n_mid in range(1, total - n_low):
            n_high = total - n_low - n_mid
            sizes = (n_low, n_mid, n_high)
            if any(pct(n, total, 0) != s for n, s in zip(sizes, VALIDATION_SHARE_PCT,
                                                          strict=True)):
                continue
            events = [[k for k in range(n + 1) if pct(k, n, 1) == r]
                      for n, r in zip(sizes, VALIDATION_RATE_PCT, strict=True)]
            for ks in itertools.product(*events):
                if pct(sum(ks), total, 0) == VALIDATION_OVERALL_PCT:
                    found.append(tuple(zip(ks, sizes, strict=True)))
    if len(found) != 1:
        raise ValueError(f"the published validation figures fit {len(found)} sets of counts, "
                         "not exactly one")
    return found[0]


VALIDATION_OUTPUTS = ("rate", "lower", "upper")


def _c(name: str, value: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def build_model(validation: dict[str, tuple[float, ...]]) -> onnx.ModelProto:
    """Return the ONNX model computing the CARG score from the 12 input columns.

    `validation` maps "rate", "lower" and "upper" to one value per risk group: the external
    validation cohort's observed toxicity and its interval, looked up by the patient's group."""
    n = helper.make_node
    inits = [_c("hb_men", HB_MEN), _c("hb_women", HB_WOMEN), _c("half", 0.5),
             _c("cut_lo", GROUP_CUTS[0]), _c("cut_hi", GROUP_CUTS[1]),
             _c("sum_axes", [1], np.int64),
             _c("rates", OBSERVED_RATES)]
    inits += [_c(f"validation_{key}s", validation[key]) for key in VALIDATION_OUTPUTS]
    nodes = []
    for k, col in enumerate(COLUMNS):
        inits.append(_c(f"idx_{col}", [k], np.int64))
        nodes.append(n("Gather", ["features", f"idx_{col}"], [col], axis=1))
    items = []
    for k, (_, points, col, op, threshold) in enumerate(ITEMS):
        flag = f"item{k}_flag"
        if op == "lt_sex":
            nodes += [n("GreaterOrEqual", ["sex_male", "half"], ["is_male"]),
                      n("Where", ["is_male", "hb_men", "hb_women"], ["hb_threshold"]),
                      n("Less", [col, "hb_threshold"], [flag])]
        else:
            inits.append(_c(f"thr{k}", threshold))
            op_type = {"ge": "GreaterOrEqual", "gt": "Greater", "lt": "Less"}[op]
            nodes.append(n(op_type, [col, f"thr{k}"], [flag]))
        inits.append(_c(f"pts{k}", float(points)))
        nodes += [n("Cast", [flag], [f"item{k}_f"], to=TensorProto.FLOAT),
                  n("Mul", [f"item{k}_f", f"pts{k}"], [f"item{k}"])]
        items.append(f"item{k}")
    nodes += [
        n("Concat", items, ["item_points"], axis=1),
        n("ReduceSum", ["item_points", "sum_axes"], ["score"], keepdims=1),
        n("GreaterOrEqual", ["score", "cut_lo"], ["ge_lo_b"]),
        n("GreaterOrEqual", ["score", "cut_hi"], ["ge_hi_b"]),
        n("Cast", ["ge_lo_b"], ["ge_lo"], to=TensorProto.FLOAT),
        n("Cast", ["ge_hi_b"], ["ge_hi"], to=TensorProto.FLOAT),
        n("Add", ["ge_lo", "ge_hi"], ["risk_group"]),
        n("Cast", ["risk_group"], ["group_index"], to=TensorProto.INT64),
        n("Gather", ["rates", "group_index"], ["observed_rate"], axis=0),
    ]
    nodes += [n("Gather", [f"validation_{key}s", "group_index"], [f"validation_{key}"], axis=0)
              for key in VALIDATION_OUTPUTS]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])
               for name, width in (("score", 1), ("risk_group", 1), ("observed_rate", 1),
                                   ("item_points", len(ITEMS)),
                                   *((f"validation_{key}", 1) for key in VALIDATION_OUTPUTS))]
    graph = helper.make_graph(
        nodes, "carg_toxicity_score",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(COLUMNS)])],
        outputs, inits)
    graph.doc_string = "CARG chemotherapy toxicity score; columns: " + ", ".join(COLUMNS)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="oncoboard models/carg-toxicity")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def score_python(values: dict[str, float]) -> tuple[int, str]:
    """Return (points, group) for one patient, written straight from the reference table."""
    # The graph sees float32 (as the engine feeds it): compare in float32 too, so a threshold
    # such as 0.95 means the same number on both sides.
    row = {k: np.float32(v) for k, v in values.items()}
    pts = 0
    pts += 2 if row["age"] >= 72 else 0
    pts += 2 if row["cancer_site_gi_gu"] >= 0.5 else 0
    pts += 2 if row["dose_intensity"] >= np.float32(0.95) else 0
    pts += 2 if row["n_agents"] > 1 else 0
    hb_limit = HB_MEN if row["sex_male"] >= 0.5 else HB_WOMEN
    pts += 3 if row["haemoglobin"] < hb_limit else 0
    pts += 3 if row["crcl"] < 34 else 0
    pts += 2 if row["hearing"] >= 2 else 0
    pts += 3 if row["falls_6m"] >= 1 else 0
    pts += 2 if row["walk_limited"] >= 0.5 else 0
    pts += 1 if row["needs_medication_help"] >= 0.5 else 0
    pts += 1 if row["social_decreased"] >= 0.5 else 0
    group = "low" if pts <= 5 else "intermediate" if pts <= 9 else "high"
    return pts, group
