"""The response model as an ONNX graph: raw inputs -> feature transforms -> logistic regression.

The transforms (logs, the lung-immune-prognostic-index thresholds, PD-L1 groups) live inside the
graph, so the engine feeds the raw values of the manifest's inputs. :func:`design_numpy` is the
same computation in NumPy, used for training and to check the exported graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
EPS = 0.05  # floor before a log: keeps the edges of the valid ranges (e.g. NLR 0) finite
# Raw input columns: nlr, ldh_ratio, albumin, crp, ecog, pdl1_tps, volume_cc, glcm_entropy.
LOG_COLS = [0, 1, 3, 6]
LINEAR_COLS = [2, 4, 7]
DESIGN_NAMES = ["log_nlr", "log_ldh_ratio", "log_crp", "log_volume_cc",
                "albumin", "ecog", "glcm_entropy",
                "nlr_gt3", "ldh_gt_uln", "ecog_ge2", "pdl1_ge50", "pdl1_1_49"]


BAND_LEVEL = 0.95


def clamp(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Return raw inputs held inside the training support [lo, hi] (per column), as float32."""
    return np.minimum(np.maximum(np.asarray(x, dtype=np.float32), np.float32(lo)),
                      np.float32(hi))


def design_numpy(x: np.ndarray) -> np.ndarray:
    """Return the design matrix (n, len(DESIGN_NAMES)) for raw inputs `x` (n, 8)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    logs = np.log(np.maximum(x[:, LOG_COLS], EPS))
    flags = np.column_stack([x[:, 0] > 3, x[:, 1] > 1, x[:, 4] >= 2, x[:, 5] >= 50,
                             (x[:, 5] >= 1).astype(float) - (x[:, 5] >= 50)])
    return np.column_stack([logs, x[:, LINEAR_COLS], flags.astype(float)])


def predict_numpy(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Return the response probability for raw inputs `x` (reference implementation)."""
    z = (design_numpy(clamp(x, params["lo"], params["hi"])) - params["mean"]) / params["sd"]
    return 1 / (1 + np.exp(-(z @ params["coef"] + params["intercept"])))


def band_numpy(params: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the bootstrap band (2.5th, 97.5th percentiles of the refits' probabilities)."""
    z = (design_numpy(clamp(x, params["lo"], params["hi"])) - params["mean"]) / params["sd"]
    p = 1 / (1 + np.exp(-(z @ params["boot_coef"].T + params["boot_intercept"])))
    a = (1 - BAND_LEVEL) / 2
    return np.quantile(p, a, axis=1), np.quantile(p, 1 - a, axis=1)


def _const(name: str, value: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def build_model(params: dict[str, Any], raw_names: list[str]) -> onnx.ModelProto:
    """Return the ONNX model: input ``features`` (N, 8) float32, output ``probability`` (N, 1)."""
    w = params["coef"] / params["sd"]                      # fold standardisation into weights
    b = params["intercept"] - float((params["coef"] * params["mean"] / params["sd"]).sum())
    wb = (params["boot_coef"] / params["sd"]).T            # (p, B)
    bb = params["boot_intercept"] - (params["boot_coef"] * params["mean"] / params["sd"]).sum(1)
    n_boot = len(bb)
    a = (1 - BAND_LEVEL) / 2
    q_idx, q_frac = [], []
    for q in (a, 1 - a):                                   # NumPy's 'linear' quantile rule
        h = (n_boot - 1) * q
        q_idx.append(int(np.floor(h)))
        q_frac.append(h - np.floor(h))
    inits = [_const("lo", params["lo"]), _const("hi", params["hi"]),
             _const("wb", wb), _const("bb", bb), _const("k_boot", [n_boot], np.int64),
             _const("i_lo", [q_idx[0]], np.int64), _const("i_lo1", [q_idx[0] + 1], np.int64),
             _const("f_lo", q_frac[0]),
             _const("i_hi", [q_idx[1]], np.int64), _const("i_hi1", [q_idx[1] + 1], np.int64),
             _const("f_hi", q_frac[1]),
             _const("log_cols", LOG_COLS, np.int64), _const("lin_cols", LINEAR_COLS, np.int64),
             _const("eps", EPS), _const("three", 3.0), _const("one", 1.0), _const("two", 2.0),
             _const("fifty", 50.0), _const("c_nlr", [0], np.int64), _const("c_ldh", [1], np.int64),
             _const("c_ecog", [4], np.int64), _const("c_pdl1", [5], np.int64),
             _const("w", w.reshape(-1, 1)), _const("b", [b])]
    n = helper.make_node
    nodes = [
        n("Max", ["features", "lo"], ["held_lo"]),         # hold inputs inside the support
        n("Min", ["held_lo", "hi"], ["held"]),
        n("Gather", ["held", "log_cols"], ["raw_log"], axis=1),
        n("Max", ["raw_log", "eps"], ["floored"]),
        n("Log", ["floored"], ["logs"]),
        n("Gather", ["held", "lin_cols"], ["linear"], axis=1),
        n("Gather", ["held", "c_nlr"], ["nlr"], axis=1),
        n("Gather", ["held", "c_ldh"], ["ldh"], axis=1),
        n("Gather", ["held", "c_ecog"], ["ecog"], axis=1),
        n("Gather", ["held", "c_pdl1"], ["pdl1"], axis=1),
        n("Greater", ["nlr", "three"], ["nlr_gt3_b"]),
        n("Greater", ["ldh", "one"], ["ldh_gt_b"]),
        n("GreaterOrEqual", ["ecog", "two"], ["ecog_ge2_b"]),
        n("GreaterOrEqual", ["pdl1", "fifty"], ["pdl1_ge50_b"]),
        n("GreaterOrEqual", ["pdl1", "one"], ["pdl1_ge1_b"]),
    ]
    for flag in ("nlr_gt3", "ldh_gt", "ecog_ge2", "pdl1_ge50", "pdl1_ge1"):
        nodes.append(n("Cast", [f"{flag}_b"], [flag], to=TensorProto.FLOAT))
    nodes += [
        n("Sub", ["pdl1_ge1", "pdl1_ge50"], ["pdl1_1_49"]),
        n("Concat", ["logs", "linear", "nlr_gt3", "ldh_gt", "ecog_ge2", "pdl1_ge50",
                     "pdl1_1_49"], ["design"], axis=1),
        n("MatMul", ["design", "w"], ["lin"]),
        n("Add", ["lin", "b"], ["logit"]),
        n("Sigmoid", ["logit"], ["probability"]),
        # bootstrap band: every refit's probability, sorted, then the two percentiles
        n("MatMul", ["design", "wb"], ["boot_lin"]),
        n("Add", ["boot_lin", "bb"], ["boot_logit"]),
        n("Sigmoid", ["boot_logit"], ["boot_p"]),
        n("TopK", ["boot_p", "k_boot"], ["boot_sorted", "boot_order"], axis=1, largest=0,
          sorted=1),
    ]
    for side in ("lo", "hi"):
        nodes += [
            n("Gather", ["boot_sorted", f"i_{side}"], [f"q_{side}_a"], axis=1),
            n("Gather", ["boot_sorted", f"i_{side}1"], [f"q_{side}_b"], axis=1),
            n("Sub", [f"q_{side}_b", f"q_{side}_a"], [f"q_{side}_d"]),
            n("Mul", [f"q_{side}_d", f"f_{side}"], [f"q_{side}_m"]),
            n("Add", [f"q_{side}_a", f"q_{side}_m"],
              ["probability_lower" if side == "lo" else "probability_upper"])]
    graph = helper.make_graph(
        nodes, "response_nsclc_rtio",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(raw_names)])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 1])
         for name in ("probability", "probability_lower", "probability_upper")],
        inits)
    graph.doc_string = "Columns of 'features': " + ", ".join(raw_names)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="oncoboard models/response-nsclc-rtio")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """Return the graph's probabilities for raw inputs `x` with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(["probability"], {"features": np.asarray(x, dtype=np.float32)})[0]
    return np.asarray(out[:, 0], dtype=np.float64)


def run_onnx_band(path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the graph's bootstrap band (lower, upper) with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    lo, hi = sess.run(["probability_lower", "probability_upper"],
                      {"features": np.asarray(x, dtype=np.float32)})
    return np.asarray(lo[:, 0], np.float64), np.asarray(hi[:, 0], np.float64)
