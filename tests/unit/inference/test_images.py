"""Image inputs: radiomics features and resampled tensors, with the imaging API stubbed.

The imaging engineer's loaders are replaced by in-memory objects (a synthetic CT and a spherical
GTV) so these tests check the engine's side only: series choice by modality and date, ROI choice
by name, features through oncoboard.inference.radiomics, tensor preprocessing and feeding.
"""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest
from inference_helpers import REF, write_plugin
from onnx import TensorProto, helper

from oncoboard import imaging
from oncoboard.imaging.volume import Structure, Volume
from oncoboard.inference import engine
from oncoboard.inference.radiomics import compute_features


def predict_patient(*args, **kwargs):
    """Return the engine's predictions as documents (README, "Predictions JSON schema")."""
    return [p.to_dict() for p in engine.predict_patient(*args, **kwargs)]


def _volume():
    z, y, x = np.mgrid[:24, :32, :32]
    inside = (z - 12) ** 2 + (y - 16) ** 2 + (x - 16) ** 2 <= 36
    vox = np.where(inside, 40, -800).astype(np.int16)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    return Volume(vox, affine, modality="CT", series_uid="1.2.3.4", patient_id="P1"), inside


@pytest.fixture
def fake_imaging(monkeypatch):
    vol, mask = _volume()
    series = [types.SimpleNamespace(series_uid="1.2.3.4", modality="CT", study_date="2024-02-10",
                                    series_number=1, referenced_series_uids=[]),
              types.SimpleNamespace(series_uid="9.9", modality="RTSTRUCT",
                                    study_date="2024-02-10", series_number=99,
                                    referenced_series_uids=["1.2.3.4"]),
              types.SimpleNamespace(series_uid="old", modality="CT", study_date="2022-01-01",
                                    series_number=1, referenced_series_uids=[])]
    gtv = Structure(name="GTV", number=1, kind="rtstruct", source_series_uid="9.9")
    calls = {"load": 0}

    def load_series(store, uid, **kw):
        calls["load"] += 1
        assert uid == "1.2.3.4"
        return vol

    monkeypatch.setattr(imaging, "list_series", lambda store, pid=None: series, raising=False)
    monkeypatch.setattr(imaging, "load_series", load_series, raising=False)
    monkeypatch.setattr(imaging, "load_structures", lambda store, uid: [gtv], raising=False)
    monkeypatch.setattr(imaging, "rasterise", lambda s, v: mask, raising=False)
    from oncoboard.inference import record_inputs
    record_inputs._FEATURES.clear()
    return vol, mask, calls


def _identity_graph(width):
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["features"], ["s"], keepdims=1, axes=[1]),
         helper.make_node("Sigmoid", ["s"], ["p"])], "sum",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 1])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    m.ir_version = 8
    return m.SerializeToString()


def _base(pid, inputs, model_inputs):
    return {"schema_version": 1, "id": pid, "name": "Image test", "version": "1.0.0",
            "task": "response", "intended_use": {"summary": "Tests only."},
            "population": {"description": "anyone"},
            "training_data": {"source": "synthetic", "synthetic": True},
            "model": {"sha256": "0" * 64, "inputs": model_inputs,
                      "outputs": [{"name": "p", "dtype": "float32", "shape": [-1, 1]}]},
            "inputs": inputs,
            "outputs": [{"name": "p", "kind": "probability"}],
            "explanation": {"method": "none"}}


def test_radiomics_features_from_latest_series_and_named_roi(store, settings, plugin_root,
                                                             fake_imaging):
    vol, mask, calls = fake_imaging
    feats = ["volume_cc", "hu_mean", "glcm_entropy"]
    inputs = [{"kind": "clinical", "name": f, "tensor": "features", "column": i,
               "source": {"type": "radiomics", "image": "ct", "feature": f}}
              for i, f in enumerate(feats)]
    inputs.append({"kind": "image", "name": "ct", "modality": "CT", "window_days": 90,
                   "mask": {"source": "RTSTRUCT", "roi_names": ["GTVp", "gtv"]}})
    write_plugin(plugin_root, _base("img-features", inputs,
                                    [{"name": "features", "dtype": "float32",
                                      "shape": [-1, len(feats)]}]), _identity_graph(len(feats)))
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["img-features"],
                                   save=False)
    assert doc["status"] == "ok", doc["refusal"]
    want = compute_features(vol, mask, feats)
    for f in feats:
        assert doc["inputs"][f]["value"] == pytest.approx(want[f])
        assert doc["inputs"][f]["source"] == {"type": "radiomics", "series_uid": "1.2.3.4",
                                              "roi": "GTV", "feature": f}
    assert doc["inputs"]["volume_cc"]["value"] == pytest.approx(mask.sum() * 2.0 / 1000)
    predict_patient(store, settings, "P1", date=REF, plugin_ids=["img-features"],
                           save=False)
    assert calls["load"] == 1  # the second run reused the features of the same series + mask


def test_image_tensor_preprocessed_and_fed(store, settings, plugin_root, fake_imaging):
    inputs = [{"kind": "image", "name": "ct", "modality": "CT", "tensor": "volume",
               "mode": "tensor", "shape": [8, 8, 8],
               "mask": {"roi_names": ["GTV"]},
               "preprocessing": {"clip": [-1000, 400], "normalise": "minmax", "margin_mm": 0}}]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["volume"], ["m"], keepdims=0, axes=[1, 2, 3, 4]),
         helper.make_node("Unsqueeze", ["m", "ax"], ["p"])], "mean",
        [helper.make_tensor_value_info("volume", TensorProto.FLOAT, ["N", 1, 8, 8, 8])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 1])],
        [onnx.numpy_helper.from_array(np.array([1], np.int64), "ax")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    write_plugin(plugin_root, _base("img-tensor", inputs,
                                    [{"name": "volume", "type": "image", "dtype": "float32",
                                      "shape": [-1, 1, 8, 8, 8]}]), model.SerializeToString())
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["img-tensor"],
                                   save=False)
    assert doc["status"] == "ok", doc["refusal"]
    assert doc["inputs"]["ct"]["source"]["shape"] == [8, 8, 8]
    # cropped to the sphere's box: mostly tumour (1 after min-max), corners background (0)
    assert 0.4 < doc["outputs"]["p"]["value"] < 0.9


def test_no_series_in_window_refuses(store, settings, plugin_root, fake_imaging, monkeypatch):
    monkeypatch.setattr(imaging, "list_series", lambda store, pid=None: [], raising=False)
    inputs = [{"kind": "clinical", "name": "volume_cc", "tensor": "features", "column": 0,
               "source": {"type": "radiomics", "image": "ct", "feature": "volume_cc"}},
              {"kind": "image", "name": "ct", "modality": "CT",
               "mask": {"roi_names": ["GTV"]}}]
    write_plugin(plugin_root, _base("img-missing", inputs,
                                    [{"name": "features", "dtype": "float32", "shape": [-1, 1]}]),
                 _identity_graph(1))
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["img-missing"],
                                   save=False)
    assert doc["status"] == "refused"
    assert any("no CT series in the 90 days" in r for r in doc["refusal"])
