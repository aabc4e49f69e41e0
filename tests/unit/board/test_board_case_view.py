"""The case view on real stored data: record summary, the engine's predictions, DICOM key image."""

from __future__ import annotations

import numpy as np
import pypdf
import pytest

from oncoboard import dates
from oncoboard.board import caseview, decisions, export, meetings, report
from oncoboard.board.prediction_view import NO_PREDICTIONS, prediction_ids_for_patient
from oncoboard.errors import BoardError
from oncoboard.patients import summary_text


def _store_prediction(store, pid, plugin_id="relapse-demo", *, synthetic=True, outside=False,
                      created="2026-11-22T10:00:00.000+00:00", inputs=None):
    """Store a prediction document in the engine's format through the engine's own API."""
    from oncoboard.inference import prediction_store
    from oncoboard.inference.prediction import Prediction

    warnings = [{"code": "imputed", "message": "ki67: missing; default 20 % used (imputed)",
                 "input": "ki67"}]
    if synthetic:
        warnings.insert(0, {"code": "synthetic", "message": "synthetic - demonstration only",
                            "input": None})
    times = [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    doc = {
        "id": None, "patient_id": pid,
        "plugin": {"id": plugin_id, "name": f"{plugin_id} model", "version": "1.0.0",
                   "task": "relapse", "model_sha256": "fe" * 32, "manifest_sha256": "ab" * 32,
                   "origin": "bundled", "signed": False, "synthetic": synthetic,
                   "training_data": "synthetic"},
        "reference_date": "2026-11-23", "status": "ok", "refusal": [],
        "synthetic_label": "synthetic - demonstration only" if synthetic else None,
        "outside_intended_use": outside, "population": {"checked": True,
                                                        "in_population": not outside},
        "inputs": inputs or {"age": {"value": 65}}, "input_sha256": "00" * 32,
        "outputs": {
            "rfs": {"kind": "survival", "label": "Relapse-free survival", "display": True,
                    "times": times, "time_unit": "months", "quantity": "survival",
                    "values": [1, .93, .86, .8, .75, .7], "lower": [1, .9, .81, .73, .67, .61],
                    "upper": [1, .96, .91, .87, .83, .79], "interval_level": 0.95},
            "p5y": {"kind": "probability", "label": "Relapse by 5 years", "display": True,
                    "value": 0.3, "unit": None, "band": "high", "lower": 0.21, "upper": 0.39,
                    "interval_level": 0.95}},
        "scenarios": [{"name": "with endocrine therapy", "baseline": False, "overrides": {},
                       "description": "", "outputs": {"rfs": {
                           "kind": "survival", "label": "Relapse-free survival",
                           "display": True, "times": times, "time_unit": "months",
                           "quantity": "survival", "values": [1, .95, .9, .86, .82, .79]}},
                       "benefit": {}},
                      {"name": "no adjuvant therapy", "baseline": True, "overrides": {},
                       "description": "", "outputs": {"rfs": {
                           "kind": "survival", "label": "Relapse-free survival",
                           "display": True, "times": times, "time_unit": "months",
                           "quantity": "survival", "values": [1, .9, .8, .72, .66, .6]}},
                       "benefit": {}}],
        "explanation": None, "warnings": warnings, "provider": "CPUExecutionProvider",
        "app_version": "0.1.0", "os_user": "tester", "created_at": created,
        "duration_ms": 1.0}
    return prediction_store.save(store, Prediction.from_dict(doc)).to_dict()


def _ct_with_gtv(tmp_path, patient_id):
    """Write a synthetic CT series with a spherical tumour and its RTSTRUCT GTV."""
    from oncoboard.imaging import synth

    n, rows, cols, iop, spacing = 24, 64, 64, [1, 0, 0, 0, 1, 0], (0.9, 0.9)
    origin = (-28.8, -28.8, -30.0)
    positions = synth.grid_positions(origin, (0, 0, 2.5), n)
    zz, yy, xx = np.mgrid[0:n, 0:rows, 0:cols]
    hu = np.full((n, rows, cols), -1000.0)
    hu[((yy - 32) ** 2 + (xx - 32) ** 2) < 28**2] = 30
    hu[((zz - 15) * 2.5) ** 2 + ((yy - 24) * 0.9) ** 2 + ((xx - 40) * 0.9) ** 2 < 6**2] = 70
    uids = {"study": synth.make_uid("st", patient_id), "series": synth.make_uid("se", patient_id)}
    images = synth.slice_datasets((hu + 1024).astype(np.uint16), positions, iop, spacing,
                                  uids=uids, header={"PatientID": patient_id,
                                                     "SeriesDescription": "CT thorax"})
    synth.write_datasets(images, tmp_path / "dicom" / "ct")
    centre = (origin[0] + 40 * 0.9, origin[1] + 24 * 0.9, origin[2] + 15 * 2.5)
    rt = synth.rtstruct_dataset(images, [{
        "name": "GTV", "number": 1, "type": "GTV", "color": (255, 0, 0),
        "contours": synth.circle_contours(centre, 6.0, positions, iop)}],
        series_uid=synth.make_uid("rt", patient_id))
    synth.write_datasets([rt], tmp_path / "dicom" / "rt")
    return tmp_path / "dicom"


@pytest.fixture
def thorax(store, tmp_path):
    from oncoboard.imaging import index_paths

    index_paths(store, [_ct_with_gtv(tmp_path, "LUN-001")])
    m = meetings.create_meeting(store, date="2026-11-23", specialty="thorax", title="RCP thorax",
                                attendees=["Dr Lee (thoracic surgeon)"])
    meetings.add_case(store, m.id, "LUN-001", question="Surgery or SBRT?")
    meetings.add_case(store, m.id, "BRC-001", question="Lung nodule?")
    return m


def test_case_view_gathers_summary_image_and_no_predictions(store, thorax):
    view = caseview.case_view(store, thorax.id, "LUN-001")
    assert view.identity == {"id": "LUN-001", "age": 75, "sex": "male",
                             "birth_date": "1950-12-30", "name": "DURAND, Paul",
                             "synthetic": True}
    assert ("Stage", "IIIB") in view.summary_lines
    assert view.predictions == [] and view.predictions_note == NO_PREDICTIONS
    assert view.key_image is not None and view.image_note == ""
    assert (view.key_image.slice_index, view.key_image.structure) == (15, "GTV")
    assert view.key_image.window[1:] == (40.0, 400.0)
    other = caseview.case_view(store, thorax.id, "BRC-001")
    assert other.key_image is None and other.image_note == "no CT, MR or PET series for this " \
                                                           "patient"


def test_latest_prediction_of_each_plugin_is_shown(store, thorax):
    _store_prediction(store, "LUN-001", created="2026-11-20T10:00:00.000+00:00")
    newest = _store_prediction(store, "LUN-001", created="2026-11-22T10:00:00.000+00:00")
    tox = _store_prediction(store, "LUN-001", "tox-demo", synthetic=False, outside=True)
    view = caseview.case_view(store, thorax.id, "LUN-001", with_image=False)
    assert [p.id for p in view.predictions] == [newest["id"], tox["id"]]
    relapse = view.predictions[0]
    assert relapse.plain_warnings()[0] == "synthetic - demonstration only"
    assert "ki67: missing; default 20 % used (imputed)" in relapse.plain_warnings()
    survival, probability = relapse.results
    assert survival.curve.values[-1] == 0.7 and survival.curve.lower[-1] == 0.61
    assert [c.label for c in survival.scenarios] == ["no adjuvant therapy (baseline)",
                                                     "with endocrine therapy"]
    assert (probability.value, probability.lower, probability.band) == (0.3, 0.21, "high")
    assert "outside intended use" in view.predictions[1].plain_warnings()
    assert not any("not the meeting date" in w for w in relapse.plain_warnings())
    later = meetings.create_meeting(store, date="2026-12-07", specialty="thorax", title="RCP 2")
    meetings.add_case(store, later.id, "LUN-001", question="Follow-up?")
    stale = caseview.case_view(store, later.id, "LUN-001", with_image=False).predictions[0]
    assert "computed for 2026-11-23, not the meeting date 2026-12-07" in stale.plain_warnings()
    ids = prediction_ids_for_patient(store, "LUN-001")
    assert ids.latest == [newest["id"], tox["id"]] and len(ids.all) == 3


def test_departure_from_a_shown_model_is_recorded_and_printed(store, thorax, tmp_path):
    pred = _store_prediction(store, "LUN-001")
    d = decisions.record_decision(store, thorax.id, "LUN-001", plan="SBRT 54 Gy in 3 fractions",
                                  rationale="poor lung function",
                                  departs_from_model="model does not account for FEV1 of 40 %")
    assert d.prediction_ids == (pred["id"],) and d.departs_from_model
    with pytest.raises(BoardError, match="departure reason cannot be empty"):
        decisions.amend_decision(store, thorax.id, "LUN-001", reason="r", departs_from_model="")
    with pytest.raises(BoardError, match="a reason, not True"):
        decisions.amend_decision(store, thorax.id, "LUN-001", reason="r", departs_from_model=True)
    plain = decisions.amend_decision(store, thorax.id, "LUN-001", reason="model reviewed",
                                     departs_from_model=None)
    assert not plain.departs_from_model and plain.departure_reason is None
    out = report.export_pdf(store, thorax.id, tmp_path / "thorax.pdf")
    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == 3
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "relapse-demo model 1.0.0 (sha256 fefefefefefe)" in text
    assert "contour: GTV" in text and len(reader.pages[1].images) == 1
    assert "does not depart from the model results shown" in text
    doc = export.read_export(export.export_json(store, thorax.id, tmp_path / "thorax.json"))
    history = doc["cases"][0]["decision_history"]
    assert [h["departs_from_model"] for h in history] == [True, False]
    assert history[0]["departure_reason"] == "model does not account for FEV1 of 40 %"
    assert history[0]["prediction_ids"] == [pred["id"]]


def test_planned_treatments_are_not_listed_as_current():
    # A radiotherapy in preparation read "Current treatment" on the board screen and report.
    from types import SimpleNamespace

    def treatment(name, status):
        return SimpleNamespace(regimen=None, display=name, subkind=None, kind="other",
                               status=status)

    summary = SimpleNamespace(
        primary_cancer=None, stage=None, tnm=None, markers={}, latest_ecog=None,
        current_treatments=[treatment("Thoracic radiotherapy", "preparation"),
                            treatment("durvalumab", "draft"), treatment("letrozole", "active")])
    lines = dict(summary_text.summary_lines(summary))
    assert lines["Current treatment"] == "letrozole"
    assert lines["Planned treatment"] == "Thoracic radiotherapy, durvalumab"


def test_local_time_for_the_screen(monkeypatch):
    # The board screen showed '2026-11-23T10:52:56+00:00' under each decision.
    import time

    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        assert dates.local_time("2026-11-23T10:52:56+00:00") == "2026-11-23 11:52"
        assert dates.local_time(None) == "" and dates.local_time("garbage") == "garbage"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
