"""Manifest schema: the documented example validates; every kind of mistake is refused clearly."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from inference_helpers import logistic_manifest

from oncoboard.errors import PluginError
from oncoboard.inference.manifest import (
    Manifest,
    load_manifest,
    manifest_json_schema,
    parse_manifest,
)

EXAMPLE = Path(__file__).parents[2] / "data" / "inference" / "example-plugin"


def test_documented_example_is_valid():
    m = load_manifest(EXAMPLE)
    assert m.id == "example-nsclc-response" and m.synthetic
    assert [i.name for i in m.inputs] == ["age", "nlr", "ldh_ratio", "ecog", "pdl1"]
    assert m.output("response").risk_bands[-1].label == "high"


def test_every_field_is_described():
    schema = manifest_json_schema()
    missing = []
    for name, definition in [("Manifest", schema), *schema["$defs"].items()]:
        for field, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}")
    assert not missing


def _set(path, value):
    def mutate(m):
        node = m
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


_DELETE = object()

INVALID = {
    "unknown top-level field": (_set(["colour"], "blue"), "colour", "Extra inputs"),
    "unknown input field": (_set(["inputs", 0, "units"], "a"), "inputs[0] (age).units",
                            "Extra inputs"),
    "wrong task": (_set(["task"], "diagnosis"), "task", "'response'"),
    "bad id": (_set(["id"], "Bad Id!"), "id", "pattern"),
    "bad version": (_set(["version"], "one"), "version", "pattern"),
    "missing model": (_set(["model"], _DELETE), "model", "Field required"),
    "bad sha256": (_set(["model", "sha256"], "abc"), "model.sha256", "pattern"),
    "model outside folder": (_set(["model", "file"], "../x.onnx"), "model", "inside the plugin"),
    "bad range": (_set(["inputs", 1, "valid_range"], [500, 50]), "inputs[1] (ldh)",
                  "min > max"),
    "range of 3": (_set(["inputs", 1, "valid_range"], [1, 2, 3]), "valid_range", "at most 2"),
    "default outside range": (_set(["inputs", 1, "missing"], "default"), "inputs[1] (ldh)",
                              "needs `default`"),
    "unknown unit": (_set(["inputs", 1, "unit"], "bananas"), "inputs[1] (ldh)", "unknown unit"),
    "unknown source type": (_set(["inputs", 0, "source"], {"type": "guess"}), "source",
                            "does not match"),
    "unknown input kind": (_set(["inputs", 0, "kind"], "genomic"), "inputs[0]",
                           "does not match"),
    "reference not a category": (_set(["inputs", 2, "reference"], "7"), "inputs[2] (ecog)",
                                 "not one of the categories"),
    "duplicate input": (lambda m: m["inputs"].append(copy.deepcopy(m["inputs"][0])),
                        "manifest", "repeat"),
    "unfed tensor column": (lambda m: m["inputs"].pop(1), "manifest", "columns"),
    "unknown tensor": (_set(["inputs", 0, "tensor"], "x"), "manifest", "not in model.inputs"),
    "output tensor unknown": (_set(["outputs", 0, "tensor"], "y"), "manifest",
                              "not in model.outputs"),
    "bad population": (_set(["population", "diagnoses"], ["lung"]), "population",
                       "ICD-10"),
    "age range reversed": (_set(["population", "age_min"], 95), "population", "age_min"),
    "bad out_of_population": (_set(["population", "out_of_population"], "ignore"),
                              "population.out_of_population", "'flag'"),
    "survival without grid": (_set(["outputs", 0, "kind"], "survival"), "outputs[0] (risk)",
                              "time_grid"),
    "bands not ascending": (_set(["outputs", 0, "risk_bands"],
                                 [{"label": "a", "upper": 0.9}, {"label": "b", "upper": 0.1}]),
                            "outputs[0] (risk)", "ascending"),
    "scenario on unknown input": (_set(["scenarios", 0, "overrides"], {"smoker": "yes"}),
                                  "manifest", "smoker"),
    "coefficients incomplete": (lambda m: m["explanation"]["coefficients"].pop("ldh"),
                                "manifest", "coefficients"),
    "category coefficients wrong": (_set(["explanation", "coefficients", "ecog"], {"0": 1.0}),
                                    "manifest", "categories"),
    "synthetic flag missing": (_set(["training_data", "synthetic"], _DELETE),
                               "training_data.synthetic", "required"),
    "radiomics without image": (_set(["inputs", 1, "source"],
                                     {"type": "radiomics", "image": "ct", "feature": "x"}),
                                "manifest", "not an image input"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_manifest_refused_naming_plugin_and_field(case):
    mutate, where, words = INVALID[case]
    raw = logistic_manifest()
    mutate(raw)
    with pytest.raises(PluginError) as info:
        parse_manifest(raw, file="plugins/test-logistic/plugin.toml")
    msg = info.value.message
    assert "plugins/test-logistic/plugin.toml" in msg
    assert "test-logistic" in msg or case == "bad id"
    assert where in msg and words in msg, msg


def test_valid_logistic_manifest_parses():
    m = parse_manifest(logistic_manifest())
    assert isinstance(m, Manifest) and m.explanation.method == "linear"


def test_example_toml_keys_match_schema():
    raw = tomllib.loads((EXAMPLE / "plugin.toml").read_text())
    assert set(raw) <= set(Manifest.model_fields)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(PluginError, match="no plugin.toml"):
        load_manifest(tmp_path)
    (tmp_path / "plugin.toml").write_text("id = [unclosed")
    with pytest.raises(PluginError, match="invalid TOML"):
        load_manifest(tmp_path)


def test_unknown_derivation_refused():
    raw = logistic_manifest()
    raw["inputs"][1]["source"] = {"type": "derived", "derivation": "magic"}
    with pytest.raises(PluginError, match="unknown derivation 'magic'"):
        parse_manifest(raw)


def test_documented_example_runs_as_a_plugin(tmp_path, settings):
    """The example manifest, given the model it describes, passes every load-time check."""
    import hashlib

    from inference_helpers import logistic_onnx

    from oncoboard.inference.discovery import check_plugin
    from oncoboard.inference.engine import run_plugin

    m = load_manifest(EXAMPLE)
    coefs = m.explanation.coefficients
    order = [i.name for i in sorted(m.inputs, key=lambda i: i.column)]
    refs = {"age": 65, "nlr": 3, "ldh_ratio": 1.0, "ecog": 0, "pdl1": 1}
    intercept = -sum(coefs[k] * refs[k] for k in order)  # golden case: p = 0.5 at the refs
    model = logistic_onnx([coefs[k] for k in order], intercept)
    folder = tmp_path / "example-nsclc-response"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(model)
    text = (EXAMPLE / "plugin.toml").read_text().replace(
        "0" * 64, hashlib.sha256(model).hexdigest())
    (folder / "plugin.toml").write_text(text)
    (folder / "MODEL_CARD.md").write_text("# Example\n")
    plugin = check_plugin(folder, settings)
    assert plugin.enabled, plugin.problems
    doc = run_plugin(plugin, {"age": 70, "nlr": "5,5", "ldh_ratio": 2, "ecog": "ECOG 1"},
                     settings).to_dict()
    assert doc["status"] == "ok" and doc["inputs"]["pdl1"]["status"] == "imputed"
    assert doc["outputs"]["response"]["band"] in ("low", "intermediate", "high")
