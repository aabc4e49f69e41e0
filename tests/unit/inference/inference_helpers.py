"""Build small ONNX models and plugin folders for the inference tests (no files committed).

Models are written with onnx.helper: a logistic regression (features [N,k] -> probabilities
[N,2]) and a Cox-like survival model (features [N,k] -> survival [N,T] with
S(t) = exp(-H0(t) exp(x.beta))).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from oncoboard.patients import codes

COEFS = {"age": 0.03, "ldh": 0.004, "ecog": 0.5}
INTERCEPT = -4.0


def logistic_onnx(coefs: list[float], intercept: float, *, batch: Any = "N",
                  input_name: str = "features") -> bytes:
    """Return a logistic regression graph: features [N,k] float -> probabilities [N,2]."""
    k = len(coefs)
    w = numpy_helper.from_array(np.array(coefs, dtype=np.float32).reshape(k, 1), "W")
    b = numpy_helper.from_array(np.array([intercept], dtype=np.float32), "B")
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")
    nodes = [helper.make_node("MatMul", [input_name, "W"], ["xw"]),
             helper.make_node("Add", ["xw", "B"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["p"]),
             helper.make_node("Sub", ["one", "p"], ["q"]),
             helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1)]
    graph = helper.make_graph(
        nodes, "logistic",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, k])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, 2])],
        [w, b, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def cox_onnx(coefs: list[float], cumhaz: list[float]) -> bytes:
    """Return a Cox-like graph: features [N,k] -> survival [N,T]."""
    k, t = len(coefs), len(cumhaz)
    inits = [numpy_helper.from_array(np.array(coefs, dtype=np.float32).reshape(k, 1), "beta"),
             numpy_helper.from_array(np.array(cumhaz, dtype=np.float32).reshape(1, t), "H0")]
    nodes = [helper.make_node("MatMul", ["features", "beta"], ["lp"]),
             helper.make_node("Exp", ["lp"], ["hr"]),
             helper.make_node("Mul", ["hr", "H0"], ["h"]),
             helper.make_node("Neg", ["h"], ["nh"]),
             helper.make_node("Exp", ["nh"], ["survival"])]
    graph = helper.make_graph(
        nodes, "cox",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", k])],
        [helper.make_tensor_value_info("survival", TensorProto.FLOAT, ["N", t])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}"
                               for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_toml(data: dict[str, Any]) -> str:
    """Return TOML text for a manifest dict (inline tables; enough for the tests)."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in data.items() if v is not None)


def logistic_manifest(pid: str = "test-logistic", **over: Any) -> dict[str, Any]:
    """Return a valid manifest dict for the logistic model on (age, ldh, ecog)."""
    m: dict[str, Any] = {
        "schema_version": 1, "id": pid, "name": "Test logistic model", "version": "1.0.0",
        "task": "toxicity",
        "intended_use": {"summary": "Tests only."},
        "population": {"description": "Adults with lung cancer", "diagnoses": ["C34"],
                       "age_min": 18, "age_max": 90, "out_of_population": "flag"},
        "training_data": {"source": "synthetic", "synthetic": True},
        "model": {"file": "model.onnx", "sha256": "0" * 64,
                  "inputs": [{"name": "features", "dtype": "float32", "shape": [-1, 3]}],
                  "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2],
                               "type": "probability"}]},
        "inputs": [
            {"kind": "clinical", "name": "age", "source": {"type": "patient", "field": "age"},
             "valid_range": [18, 110], "tensor": "features", "column": 0, "reference": 60},
            {"kind": "clinical", "name": "ldh",
             "source": {"type": "observation", "system": "http://loinc.org", "code": "2532-0",
                        "window_days": 30},
             "unit": "U/L", "valid_range": [50, 5000], "tensor": "features", "column": 1,
             "reference": 200},
            {"kind": "clinical", "name": "ecog",
             "source": {"type": "observation", "system": "http://loinc.org",
                        "code": "89247-1", "window_days": 60},
             "categories": [{"label": str(i), "value": i, "synonyms": [f"ECOG {i}"]}
                            for i in range(5)],
             "required": False, "missing": "default", "default": "1", "reference": "0",
             "tensor": "features", "column": 2},
        ],
        "outputs": [{"name": "risk", "kind": "probability", "tensor": "probabilities",
                     "column": 1, "risk_bands": [{"label": "low", "upper": 0.2},
                                                 {"label": "high", "upper": 1.0}]}],
        "scenarios": [{"name": "ECOG 0", "overrides": {"ecog": "0"}}],
        "explanation": {"method": "linear", "output": "risk", "coefficients": dict(COEFS)},
    }
    m.update(over)
    return m


def write_plugin(root: Path, manifest: dict[str, Any], model: bytes | None, *,
                 fix_hash: bool = True, card: bool = True) -> Path:
    """Write a plugin folder (plugin.toml, model.onnx, MODEL_CARD.md); return it."""
    manifest = copy.deepcopy(manifest)
    folder = root / manifest["id"]
    folder.mkdir(parents=True, exist_ok=True)
    if model is not None:
        (folder / manifest["model"].get("file", "model.onnx")).write_bytes(model)
        if fix_hash:
            manifest["model"]["sha256"] = hashlib.sha256(model).hexdigest()
    if card:
        (folder / "MODEL_CARD.md").write_text("# Test model\n")
    (folder / "plugin.toml").write_text(dump_toml(manifest), encoding="utf-8")
    return folder


def logistic_plugin(root: Path, pid: str = "test-logistic", **over: Any) -> Path:
    """Write the standard logistic test plugin."""
    return write_plugin(root, logistic_manifest(pid, **over),
                        logistic_onnx(list(COEFS.values()), INTERCEPT))


def sigmoid(x: float) -> float:
    """Return the logistic function of x."""
    return 1 / (1 + math.exp(-x))


TEXT_WORDS = {"fever": 1.5, "vomiting": 1.0, "sepsis": 2.0, "well": -1.0, "fièvre": 1.5}


def text_onnx(words: dict[str, float] = TEXT_WORDS, intercept: float = -1.0) -> bytes:
    """Return a bag-of-words logistic graph: text [N,1] string -> probabilities [N,2].

    Lower-cases, splits on non-letters (com.microsoft Tokenizer, as skl2onnx does) and counts the
    words of `words` (ai.onnx TfIdfVectorizer, TF mode).
    """
    vocab = list(words)
    nodes = [
        helper.make_node("Reshape", ["text", "flat_shape"], ["flat"]),
        helper.make_node("StringNormalizer", ["flat"], ["norm"], case_change_action="LOWER"),
        helper.make_node("Tokenizer", ["norm"], ["tokens"], domain="com.microsoft",
                         mark=0, mincharnum=1, pad_value="#", tokenexp=r"[a-zA-Zàâçéèêëîïôûùüÿ]+"),
        helper.make_node("TfIdfVectorizer", ["tokens"], ["counts3"], mode="TF", min_gram_length=1,
                         max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                         ngram_indexes=list(range(len(vocab))), pool_strings=vocab),
        helper.make_node("Reshape", ["counts3", "shape2"], ["counts"]),
        helper.make_node("MatMul", ["counts", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
    ]
    inits = [numpy_helper.from_array(np.array(list(words.values()), np.float32).reshape(-1, 1),
                                     "W"),
             numpy_helper.from_array(np.array([intercept], np.float32), "B"),
             numpy_helper.from_array(np.array([1.0], np.float32), "one"),
             numpy_helper.from_array(np.array([-1, len(vocab)], np.int64), "shape2"),
             numpy_helper.from_array(np.array([-1], np.int64), "flat_shape")]
    graph = helper.make_graph(
        nodes, "text",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N", 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model.SerializeToString()


REF = dt.date(2024, 3, 1)  # reference date (the board's date) of the tests


def add_patient(store: Any, pid: str, *, birth: str = "1960-05-01", sex: str = "male",
                icd: str | None = "C34.1", ldh: float | None = 300.0,
                ldh_date: str = "2024-02-20", ecog: int | None = None, uln: float = 250.0
                ) -> None:
    """Insert a synthetic patient with a primary cancer, LDH and ECOG (tables of migration 1)."""
    now = "2024-01-01T00:00:00"
    store.db["patients"].insert({"id": pid, "birth_date": birth, "sex": sex, "synthetic": 1,
                                 "imported_at": now})
    if icd:
        store.db["conditions"].insert({"id": f"{pid}-c", "patient_id": pid, "source_id": "c",
                                       "code_system": codes.ICD10, "code": icd,
                                       "diagnosis_date": "2023-06-01"})
    obs = []
    if ldh is not None:
        obs.append({"id": f"{pid}-ldh", "source_id": "ldh", "category": "laboratory",
                    "code_system": codes.LOINC, "code": "2532-0", "value_num": ldh,
                    "unit": "U/L", "effective": ldh_date, "reference_high": uln})
    if ecog is not None:
        obs.append({"id": f"{pid}-ecog", "source_id": "ecog", "category": "ecog",
                    "code_system": codes.LOINC, "code": "89247-1", "value_num": float(ecog),
                    "effective": "2024-02-25"})
    for o in obs:
        store.db["observations"].insert({"patient_id": pid, **o})
