"""How curves and scenarios are stored: to float32's resolution, each scenario its own numbers.

A Cox-like test model (a survival curve on five times, a what-if scenario) run through the
engine and stored: the curves are the model's float32 values to 7 significant digits, a
scenario's benefit is the difference of the stored curves, a scenario's output stores only its
own numbers (the label, time grid and the rest are the prediction's output's), and documents
stored by earlier versions (whole scenario outputs, 17-digit values) still read and verify.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from inference_helpers import COEFS, REF, cox_onnx, logistic_manifest, write_plugin

from oncoboard.board.trail import verify_trail
from oncoboard.inference import engine, prediction_store
from oncoboard.inference.discovery import get_plugin
from oncoboard.inference.model_io import CURVE_DIGITS, curve, curves, run_rows
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.prediction_parts import SCENARIO_OWN

CUMHAZ = [0.0123, 0.0456, 0.0789, 0.1234, 0.1789]


@pytest.fixture
def cox(settings, plugin_root):
    m = logistic_manifest("test-cox", task="relapse")
    m["model"]["outputs"] = [{"name": "survival", "dtype": "float32", "shape": [-1, 5],
                              "type": "survival"}]
    m["outputs"] = [{"name": "rfs", "kind": "survival", "tensor": "survival",
                     "time_grid": [12.0, 24.0, 36.0, 48.0, 60.0], "time_unit": "months",
                     "uncertainty": "No interval: a test model."}]
    m["explanation"] = {"method": "cox", "coefficients": dict(COEFS), "at_time": 60}
    write_plugin(plugin_root, m, cox_onnx(list(COEFS.values()), CUMHAZ))
    return get_plugin(settings, "test-cox")


def _stored(store, pred):
    row = next(iter(store.db.query("SELECT outputs, scenarios FROM predictions WHERE id = ?",
                                   [pred.id])))
    return json.loads(row["outputs"]), json.loads(row["scenarios"])


def test_curves_are_stored_to_float32_resolution(store, settings, cox):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF)
    outputs, [scenario] = _stored(store, pred)
    values = outputs["rfs"]["values"]
    # what the model gave, as float32, for the same row
    asm = pred.inputs
    row = {k: v.coded for k, v in asm.items()}
    [raw], _ = run_rows(cox.manifest, cox.model_path, settings.providers, [row])
    model = raw["survival"].astype(np.float64)
    assert raw["survival"].dtype == np.float32
    for stored, exact in zip(values, model, strict=True):
        assert float(f"{stored:.{CURVE_DIGITS}g}") == stored  # 7 significant digits, no more
        assert len(repr(stored)) <= len("0.") + CURVE_DIGITS + 3  # not 17 digits of noise
        assert abs(stored - exact) <= 5e-7 * exact  # half a unit of the 7th digit
    # a float32 is no finer than 2^-24 relative: 7 digits keep what the model computed
    assert np.allclose(np.float32(values), raw["survival"], rtol=2 ** -23, atol=0)
    # the scenario's benefit is the difference of the stored curves, at their precision
    ecog0 = scenario["outputs"]["rfs"]["values"]
    assert scenario["benefit"]["rfs"] == curve(np.subtract(ecog0, values))
    assert all(abs(b - (a - v)) <= 5e-7 * abs(a - v) for a, v, b in
               zip(ecog0, values, scenario["benefit"]["rfs"], strict=True))
    assert scenario["benefit"]["rfs"][-1] > 0  # ECOG 0: better survival


def test_rounding_is_exact_to_the_decimal():
    got = curves([0.9917910099029541, 0.007188471499830484, 1.6466011144630876e-08, 0.0,
                  -0.002294607460498810, 1.0])
    assert got.tolist() == [0.991791, 0.007188471, 1.646601e-08, 0.0, -0.002294607, 1.0]
    assert [repr(v) for v in got.tolist()[:2]] == ["0.991791", "0.007188471"]
    assert curves([0.123456789], None).tolist() == [0.123456789]  # None: as they are
    assert math.isclose(curves(np.float32(0.1)).item(), 0.1)


def test_scenario_outputs_store_their_own_numbers_only(store, settings, cox):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF)
    outputs, [scenario] = _stored(store, pred)
    own = scenario["outputs"]["rfs"]
    assert set(own) <= set(SCENARIO_OWN) and "values" in own
    assert "uncertainty" in outputs["rfs"]  # written once, in the prediction's output
    # read back whole: kind, label, time grid and the note come from the prediction's output
    again = prediction_store.get(store, pred.id)
    assert again == pred
    sc = again.scenarios[0].outputs["rfs"]
    main = again.outputs["rfs"]
    assert (sc.kind, sc.label, sc.times, sc.time_unit, sc.uncertainty) == \
        (main.kind, main.label, main.times, main.time_unit, main.uncertainty) == \
        ("survival", "rfs", (12.0, 24.0, 36.0, 48.0, 60.0), "months",
         "No interval: a test model.")
    assert sc.values == tuple(own["values"]) != main.values
    doc = again.to_dict()
    assert Prediction.from_dict(doc).to_dict() == doc
    assert prediction_store.verify_predictions(store) == []


def _as_earlier_versions_stored(doc: dict) -> dict:
    """The document as versions before compact scenarios wrote it: each scenario's output
    whole, every value with the 17 digits of a float32 written as a float64."""
    old = copy.deepcopy(doc)
    noisy = [float(np.float32(v)) for v in old["outputs"]["rfs"]["values"]]
    old["outputs"]["rfs"]["values"] = noisy
    for sc in old["scenarios"]:
        for k, v in sc["outputs"].items():
            whole = {key: val for key, val in doc["outputs"][k].items()
                     if key not in SCENARIO_OWN}
            sc["outputs"][k] = {**whole, **v,
                                "values": [float(np.float32(x)) for x in v["values"]]}
    return old


def test_documents_of_earlier_versions_still_read_and_verify(store, settings, cox):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF, save=False)
    old = _as_earlier_versions_stored(pred.to_dict(audit=False))
    assert "kind" in old["scenarios"][0]["outputs"]["rfs"]
    assert any(len(repr(v)) > 12 for v in old["outputs"]["rfs"]["values"])
    earlier = Prediction.from_dict(old)
    assert earlier.to_dict(audit=False) == old  # written back as it was: nothing folded
    stored = prediction_store.save(store, earlier)
    again = prediction_store.get(store, stored.id)
    assert again.to_dict(audit=False) == {**old, "id": stored.id}
    # its scenario reads as a compact one does, values apart
    a, b = again.scenarios[0].outputs["rfs"], pred.scenarios[0].outputs["rfs"]
    assert (a.kind, a.label, a.times, a.uncertainty) == (b.kind, b.label, b.times,
                                                         b.uncertainty)
    assert np.allclose(a.values, b.values, rtol=1e-6, atol=0)
    # beside a new one, on the same chain
    engine.predict_patient(store, settings, "P1", date=REF)
    assert prediction_store.verify_predictions(store) == []
    assert verify_trail(store).ok
