"""FHIR out: the board's decision, report and model results as a FHIR R4 transaction Bundle."""

from __future__ import annotations

import base64
import json

import pytest
from test_board_case_view import _store_prediction

from oncoboard.board import decisions, fhir_out


def _library_class(kind: str):
    """fhir.resources' own class (not the importer's planned subclass) of a resource type."""
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(kind)


@pytest.fixture
def decided(store, meeting):
    store.db["observations"].insert({
        "id": "BRC-001/Observation/ki67-1", "patient_id": "BRC-001",
        "source_id": "Observation/ki67-1", "category": "tumor-marker",
        "code_system": "http://loinc.org", "code": "85319-2",
        "value_num": 30.0, "unit": "%", "effective": "2026-06-10"}, alter=True)
    pred = _store_prediction(store, "BRC-001", inputs={
        "ki67": {"status": "measured", "value": 30.0, "source": {
            "type": "observation", "used": [{"observation_id": "BRC-001/Observation/ki67-1"}]}},
        "age": {"status": "given", "value": 65, "source": {"type": "patient"}},
        "stage": {"status": "measured", "value": "IIA", "source": {
            "type": "condition", "condition_id": "BRC-001-c1"}}})
    decisions.record_decision(store, meeting.id, "BRC-001", plan="EC then paclitaxel",
                              rationale="pN1, grade 3", options=["chemotherapy", "endocrine"],
                              prediction_ids=[pred["id"]],
                              departs_from_model="patient preference")
    return meeting, pred


def _by_type(bundle):
    out: dict[str, list] = {}
    for e in bundle["entry"]:
        out.setdefault(e["resource"]["resourceType"], []).append(e)
    return out


def test_bundle_validates_and_carries_decision_report_and_risk(store, decided, tmp_path):
    meeting, pred = decided
    path = fhir_out.export_fhir(store, meeting.id, tmp_path / "b.json")
    bundle = json.loads(path.read_text())
    _library_class("Bundle").model_validate(bundle)
    for e in bundle["entry"]:  # every resource, by the library's own classes
        _library_class(e["resource"]["resourceType"]).model_validate(e["resource"])
    assert bundle["type"] == "transaction"
    kinds = _by_type(bundle)
    assert len(kinds["Patient"]) == 2 and len(kinds["CarePlan"]) == 1
    assert len(kinds["DiagnosticReport"]) == 2 and len(kinds["RiskAssessment"]) == 1
    assert len(kinds["Provenance"]) == 4  # one per CarePlan, DiagnosticReport, RiskAssessment
    patient = kinds["Patient"][0]
    assert patient["request"] == {"method": "POST", "url": "Patient",
                                  "ifNoneExist": "identifier=test|BRC-001"}
    assert "name" not in patient["resource"] and "birthDate" not in patient["resource"]
    care = kinds["CarePlan"][0]
    assert care["request"]["url"] == (f"CarePlan?identifier={fhir_out.DECISION}|"
                                      f"{meeting.uid}/BRC-001")
    res = care["resource"]
    assert res["description"] == "EC then paclitaxel" and res["intent"] == "plan"
    assert res["subject"]["reference"] == patient["fullUrl"]
    assert {"text": "Departs from the model: patient preference"} in res["note"]
    assert res["identifier"][1]["value"].endswith("/BRC-001/v1")
    risk_entry = kinds["RiskAssessment"][0]
    risk = risk_entry["resource"]
    assert res["supportingInfo"] == [{"reference": risk_entry["fullUrl"]}]
    assert risk["identifier"] == [{"system": fhir_out.PREDICTION, "value": pred["id"]}]
    assert risk["method"]["coding"][0]["code"] == "relapse-demo"
    assert risk["method"]["coding"][0]["version"] == "1.0.0"
    assert "sha256:" + "fe" * 32 in risk["method"]["text"]
    p5y = next(p for p in risk["prediction"] if p["outcome"]["text"] == "Relapse by 5 years")
    assert p5y["probabilityDecimal"] == 0.3 and p5y["qualitativeRisk"]["text"] == "high"
    interval = {x["url"]: x["valueDecimal"] for x in p5y["extension"][0]["extension"]}
    assert interval == {"low": 0.21, "high": 0.39, "level": 0.95}
    rfs = next(p for p in risk["prediction"] if p["outcome"]["text"].startswith("Relapse-free"))
    assert rfs["probabilityDecimal"] == 0.7 and rfs["whenRange"]["high"]["code"] == "mo"
    # basis: the FHIR-imported observation by its own id; the CSV-like condition by display
    assert {"reference": "Observation/ki67-1", "display": "ki67"} in risk["basis"]
    assert any(b.get("type") == "Condition" and "BRC-001-c1" in b["display"]
               for b in risk["basis"])
    report = next(e["resource"] for e in kinds["DiagnosticReport"]
                  if e["resource"]["subject"] == res["subject"])
    pdf = base64.b64decode(report["presentedForm"][0]["data"])
    assert pdf[:5] == b"%PDF-" and report["presentedForm"][0]["size"] == len(pdf)
    provenance = {p["resource"]["target"][0]["reference"]: p["resource"]
                  for p in kinds["Provenance"]}
    assert provenance[care["fullUrl"]]["agent"][0]["who"]["display"]
    assert provenance[risk_entry["fullUrl"]]["recorded"].startswith("2026-11-22T10:00:00")


def test_reexport_after_amendment_updates_the_same_resources(store, decided, tmp_path):
    meeting, _ = decided
    first = fhir_out.meeting_bundle(store, meeting.id, patient_id="BRC-001")
    decisions.amend_decision(store, meeting.id, "BRC-001", reason="dose-dense",
                             plan="dd EC then paclitaxel")
    second = fhir_out.meeting_bundle(store, meeting.id, patient_id="BRC-001")
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert [e["request"] for e in first["entry"]] == [e["request"] for e in second["entry"]]
    care = _by_type(second)["CarePlan"][0]["resource"]
    assert care["description"] == "dd EC then paclitaxel"
    assert care["identifier"][1]["value"].endswith("/v2")
    assert {e["resource"]["subject"]["reference"] for e in second["entry"]
            if "subject" in e["resource"]} == {_by_type(second)["Patient"][0]["fullUrl"]}


def test_exported_bundle_reimports_into_an_empty_store(store, decided, tmp_path):
    from oncoboard.patients import importer, record
    from oncoboard.store import open_store

    meeting, _ = decided
    path = fhir_out.export_fhir(store, meeting.id, tmp_path / "b.json", include_names=True)
    empty = open_store(tmp_path / "other")
    try:
        report = importer.import_file(empty, path)
        assert {p.id for p in record.list_patients(empty)} == {"BRC-001", "BRC-002"}
        notes = record.notes(empty, "BRC-001")
        [decision] = [n for n in notes if n.note_type == "board decision"]
        assert "EC then paclitaxel" in decision.text and "pN1, grade 3" in decision.text
        assert record.search_notes(empty, "paclitaxel")
        skipped = report.to_dict()["skipped"]
        assert skipped.get("RiskAssessment") == 1 and skipped.get("Provenance") == 4
        assert skipped.get("DiagnosticReport") == 2
        # importing the same export again changes nothing; a re-export updates the note
        again = importer.import_file(empty, path)
        assert len([n for n in record.notes(empty, "BRC-001")
                    if n.note_type == "board decision"]) == 1
        del again
    finally:
        empty.close()


def test_one_case_and_an_unknown_case(store, decided):
    from oncoboard.errors import BoardError

    meeting, _ = decided
    one = fhir_out.meeting_bundle(store, meeting.id, patient_id="BRC-002")
    assert {e["resource"]["resourceType"] for e in one["entry"]} == {
        "Patient", "DiagnosticReport", "Provenance"}
    with pytest.raises(BoardError, match="not on meeting"):
        fhir_out.meeting_bundle(store, meeting.id, patient_id="LUN-001")
