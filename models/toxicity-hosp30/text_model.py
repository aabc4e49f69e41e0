"""The toxicity model: negation-aware bag of n-grams + structured items -> logistic regression.

Tokenisation runs inside the ONNX graph (skl2onnx's TfidfVectorizer converter: StringNormalizer,
com.microsoft Tokenizer with a regular expression, TfIdfVectorizer), so the engine feeds the raw
note text. The token pattern makes a negation cue and the word it negates one token ("pas de
fièvre", "no fever", "sans diarrhée", "fièvre : non"), so a negated sign never counts as the sign
itself; an unseen
negated word gets no weight at all rather than the weight of the sign. Letters are listed
explicitly because onnxruntime's RE2 ``\\w`` is ASCII-only (it would split "fièvre").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LETTERS = "a-z0-9àâäçéèêëîïôöùûüÿœæ°"
NEGATION = (r"(?:(?:pas|sans|absence|ni|aucune?|no|not|denies|without|negative)"
            r"(?: de | d'| d’| of | for | ))?")
# A trailing "X : non" / "X: none" negates the word before it (checklist style).
NEGATED_AFTER = r"(?: ?: ?(?:non|none|négatif|negative|absent|absente)\b)?"
TOKEN_PATTERN = NEGATION + f"[{LETTERS}]+" + NEGATED_AFTER
STRUCTURED = ["age", "ecog", "haemoglobin", "n_agents", "dose_intensity"]
OPSETS = {"": 17, "ai.onnx.ml": 3}
BAND_LEVEL = 0.95


def clamp(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Return structured items held inside the training support [lo, hi] (float32 like ONNX)."""
    return np.minimum(np.maximum(np.asarray(x, np.float32), np.float32(lo)), np.float32(hi))


def make_vectorizer(min_df: int = 3) -> Any:
    """Return the (unfitted) vectoriser: binary presence of unigrams and bigrams."""
    from skl2onnx.sklapi import TraceableTfidfVectorizer

    return TraceableTfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2),
                                    min_df=min_df, binary=True, use_idf=False, norm=None,
                                    lowercase=True)


def design(vec: Any, notes: list[str], x: np.ndarray, mean: np.ndarray,
           sd: np.ndarray) -> Any:
    """Return the sparse design matrix [text n-grams | standardised structured items]."""
    from scipy.sparse import csr_matrix, hstack

    return hstack([vec.transform(notes), csr_matrix((x - mean) / sd)]).tocsr()


def build_model(vec: Any, params: dict[str, Any]) -> onnx.ModelProto:
    """Return the ONNX model: inputs ``note`` (N, 1) string and ``features`` (N, 5) float32."""
    import skl2onnx.sklapi.register  # noqa: F401  (registers the traceable vectoriser)
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType

    base = convert_sklearn(vec, initial_types=[("note", StringTensorType([None, 1]))],
                           target_opset=OPSETS)
    graph = base.graph
    text_out = graph.output[0].name
    n_text = len(vec.vocabulary_)
    coef = params["coef"]
    w_struct = coef[n_text:] / params["sd"]
    bias = params["intercept"] - float((coef[n_text:] * params["mean"] / params["sd"]).sum())
    bc = params["boot_coef"]                                   # (B, n_text + 5)
    wb_struct = (bc[:, n_text:] / params["sd"]).T             # (5, B)
    bb = params["boot_intercept"] - (bc[:, n_text:] * params["mean"] / params["sd"]).sum(1)
    n_boot = len(bb)
    a = (1 - BAND_LEVEL) / 2
    f32 = np.float32
    graph.initializer.extend([
        numpy_helper.from_array(coef[:n_text].astype(f32).reshape(-1, 1), "w_text"),
        numpy_helper.from_array(w_struct.astype(f32).reshape(-1, 1), "w_struct"),
        numpy_helper.from_array(np.array([bias], f32), "bias"),
        numpy_helper.from_array(np.asarray(params["lo"], f32), "lo"),
        numpy_helper.from_array(np.asarray(params["hi"], f32), "hi"),
        numpy_helper.from_array(bc[:, :n_text].T.astype(f32), "wb_text"),
        numpy_helper.from_array(wb_struct.astype(f32), "wb_struct"),
        numpy_helper.from_array(bb.astype(f32), "bb"),
        numpy_helper.from_array(np.array([n_boot], np.int64), "k_boot")])
    graph.node.extend([
        helper.make_node("Max", ["features", "lo"], ["held_lo"]),   # inside the support
        helper.make_node("Min", ["held_lo", "hi"], ["held"]),
        helper.make_node("MatMul", [text_out, "w_text"], ["text_logit"]),
        helper.make_node("MatMul", ["held", "w_struct"], ["struct_logit"]),
        helper.make_node("Add", ["text_logit", "struct_logit"], ["sum_logit"]),
        helper.make_node("Add", ["sum_logit", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
        # bootstrap band: every refit's probability, sorted, then two percentiles (NumPy rule)
        helper.make_node("MatMul", [text_out, "wb_text"], ["boot_text"]),
        helper.make_node("MatMul", ["held", "wb_struct"], ["boot_struct"]),
        helper.make_node("Add", ["boot_text", "boot_struct"], ["boot_sum"]),
        helper.make_node("Add", ["boot_sum", "bb"], ["boot_logit"]),
        helper.make_node("Sigmoid", ["boot_logit"], ["boot_p"]),
        helper.make_node("TopK", ["boot_p", "k_boot"], ["boot_sorted", "boot_order"], axis=1,
                         largest=0, sorted=1)])
    for side, q, out in (("lo", a, "probability_lower"), ("hi", 1 - a, "probability_upper")):
        h = (n_boot - 1) * q
        i = int(np.floor(h))
        graph.initializer.extend([
            numpy_helper.from_array(np.array([i], np.int64), f"i_{side}"),
            numpy_helper.from_array(np.array([min(i + 1, n_boot - 1)], np.int64), f"i_{side}1"),
            numpy_helper.from_array(np.array(h - i, f32), f"f_{side}")])
        graph.node.extend([
            helper.make_node("Gather", ["boot_sorted", f"i_{side}"], [f"q_{side}_a"], axis=1),
            helper.make_node("Gather", ["boot_sorted", f"i_{side}1"], [f"q_{side}_b"], axis=1),
            helper.make_node("Sub", [f"q_{side}_b", f"q_{side}_a"], [f"q_{side}_d"]),
            helper.make_node("Mul", [f"q_{side}_d", f"f_{side}"], [f"q_{side}_m"]),
            helper.make_node("Add", [f"q_{side}_a", f"q_{side}_m"], [out])])
    graph.input.append(helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                     ["N", len(STRUCTURED)]))
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 1])
                         for name in ("probability", "probability_lower", "probability_upper")])
    # skl2onnx lists the opset domains in hash-seed order: sort them so the bytes are stable.
    imports = sorted(base.opset_import, key=lambda o: o.domain)
    del base.opset_import[:]
    base.opset_import.extend(imports)
    graph.name = "toxicity_hosp30"
    graph.doc_string = "note: text of the notes; features: " + ", ".join(STRUCTURED)
    base.producer_name = "oncoboard models/toxicity-hosp30"
    onnx.checker.check_model(base)
    return base


def run_onnx(path: Path, notes: list[str], x: np.ndarray) -> np.ndarray:
    """Return the graph's probabilities with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(["probability"], {"note": np.array(notes, dtype=object).reshape(-1, 1),
                                     "features": np.asarray(x, dtype=np.float32)})[0]
    return np.asarray(out[:, 0], dtype=np.float64)


def run_onnx_band(path: Path, notes: list[str], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the graph's bootstrap band (lower, upper) with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    lo, hi = sess.run(["probability_lower", "probability_upper"],
                      {"note": np.array(notes, dtype=object).reshape(-1, 1),
                       "features": np.asarray(x, dtype=np.float32)})
    return np.asarray(lo[:, 0], np.float64), np.asarray(hi[:, 0], np.float64)
