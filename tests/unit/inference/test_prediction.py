"""The typed prediction: made by the engine, stored and read back, shown without re-discovery."""

from __future__ import annotations

import copy
import json

import pytest
from inference_helpers import REF, logistic_plugin

from oncoboard import audit
from oncoboard.board.prediction_view import latest_predictions, view_of
from oncoboard.inference import engine, prediction_store
from oncoboard.inference.discovery import get_plugin
from oncoboard.inference.prediction import Prediction


@pytest.fixture
def plugin(settings, plugin_root):
    logistic_plugin(plugin_root)
    return get_plugin(settings, "test-logistic")


def test_the_engine_returns_typed_predictions_as_stored(store, settings, plugin):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF)
    assert isinstance(pred, Prediction) and pred.ok and pred.id.startswith("pred-")
    assert pred.plugin.id == "test-logistic" and pred.plugin.model_sha256
    risk = pred.output("risk")
    assert risk.kind == "probability" and risk.band == "high"
    # the manifest's bands travel in the record: nothing needs the plugin to draw them
    assert [(b.label, b.upper) for b in risk.bands] == [("low", 0.2), ("high", 1.0)]
    assert pred.inputs["ldh"].source["used"][0]["observation_id"] == "P1-ldh"
    assert pred.explanation is not None and pred.explanation.contributions
    assert pred.warnings[0].code == "synthetic"
    assert pred.audit is not None and pred.audit.seq >= 1
    assert prediction_store.get(store, pred.id) == pred


def test_the_board_view_needs_no_plugin(store, settings, plugin, monkeypatch):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF)

    def no_discovery(*_a, **_k):
        raise AssertionError("plugins discovered again to show a stored prediction")

    monkeypatch.setattr("oncoboard.inference.discovery.discover_plugins", no_discovery)
    monkeypatch.setattr("oncoboard.inference.discovery.get_plugin", no_discovery)
    [view] = latest_predictions(store, "P1")
    assert view == view_of(pred)
    [result] = view.results
    assert result.bands == [("low", 0.2), ("high", 1.0)] and result.band == "high"


def test_latest_of_each_plugin_in_one_query(store, settings, plugin):
    first = engine.predict_patient(store, settings, "P1", date=REF)[0]
    second = engine.predict_patient(store, settings, "P1", date=REF)[0]
    assert [p.id for p in prediction_store.list_for_patient(store, "P1")] == [second.id,
                                                                               first.id]
    assert [p.id for p in prediction_store.latest_for_patient(store, "P1")] == [second.id]
    assert prediction_store.latest_for_patient(store, "P2") == []


def test_documents_round_trip_exactly(store, settings, plugin):
    [pred] = engine.predict_patient(store, settings, "P1", date=REF, save=False)
    doc = pred.to_dict()
    assert Prediction.from_dict(doc).to_dict() == doc
    assert json.loads(json.dumps(doc)) == doc  # JSON-ready as it is


def _older_document() -> dict:
    """A document as an earlier version stored it: no bands, a text warning, an unknown key."""
    return {
        "id": None, "patient_id": "P1",
        "plugin": {"id": "old-model", "name": "Old model", "version": "0.9", "task": "toxicity",
                   "model_sha256": "ab" * 32, "synthetic": False},
        "reference_date": "2024-03-01", "status": "ok", "refusal": [], "synthetic_label": None,
        "outside_intended_use": False, "population": {"checked": True, "in_population": True},
        "inputs": {"age": {"status": "measured", "value": 63, "coded": 63, "unit": "a",
                           "source": {"field": "birth_date"}, "legacy": 1}},
        "input_sha256": "00" * 32,
        "outputs": {"p": {"kind": "probability", "label": "Risk", "value": 0.25, "band": "low"},
                    "s": {"kind": "score", "value": 3}},
        "scenarios": [], "explanation": {"method": "linear", "output": "p", "scale": "logit",
                                         "value": -1.1, "contributions": []},
        "warnings": ["an early plain-text warning"], "provider": "CPUExecutionProvider",
        "providers_requested": ["CPUExecutionProvider"], "provider_notes": [],
        "app_version": "0.0.9", "os_user": "tester", "created_at": "2024-03-01T10:00:00.000+00:00",
        "duration_ms": 2.0}


def test_older_documents_load_and_keep_their_hash(store):
    doc = _older_document()
    pred = Prediction.from_dict(doc)
    assert pred.to_dict() == doc  # nothing added, nothing lost
    assert pred.output("s").label == "s" and pred.output("p").bands == ()
    assert pred.warning_texts() == ["an early plain-text warning"]
    stored = prediction_store.save(store, pred)
    # the stored hash is the sha256 of the canonical JSON document, as it always was
    expected = audit.sha256_text(audit.canonical_json({**copy.deepcopy(doc), "id": stored.id}))
    assert stored.audit is not None and stored.audit.record_sha256 == expected
    assert prediction_store.verify_predictions(store) == []
    again = prediction_store.get(store, stored.id)
    assert again.to_dict(audit=False) == {**doc, "id": stored.id}
    view = view_of(again)
    # shown in whole percent (issue 11); an older document has no interval and no note
    assert [r.text() for r in view.results] == ["Risk: 25 %, risk group: low", "s: 3"]

