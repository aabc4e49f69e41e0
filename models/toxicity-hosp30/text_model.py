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
    graph.initializer.extend([
        numpy_helper.from_array(coef[:n_text].astype(np.float32).reshape(-1, 1), "w_text"),
        numpy_helper.from_array(w_struct.astype(np.float32).reshape(-1, 1), "w_struct"),
        numpy_helper.from_array(np.array([bias], np.float32), "bias")])
    graph.node.extend([
        helper.make_node("MatMul", [text_out, "w_text"], ["text_logit"]),
        helper.make_node("MatMul", ["features", "w_struct"], ["struct_logit"]),
        helper.make_node("Add", ["text_logit", "struct_logit"], ["sum_logit"]),
        helper.make_node("Add", ["sum_logit", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"])])
    graph.input.append(helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                     ["N", len(STRUCTURED)]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("probability", TensorProto.FLOAT,
                                                      ["N", 1]))
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
