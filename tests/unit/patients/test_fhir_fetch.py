"""``import patients --from-fhir ID``: a patient's record fetched from the FHIR server.

Against the tests' FHIR stand-in on 127.0.0.1 (tests/unit/board/fake_fhir.py: no FHIR server
is installable here), answering searches, $everything or not, and pages.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "board"))
from fake_fhir import FakeFhir  # noqa: E402

from oncoboard.config import FhirServer, Settings  # noqa: E402
from oncoboard.errors import NotFoundError, RecordImportError  # noqa: E402
from oncoboard.patients import fhir_fetch, record  # noqa: E402

PATIENT = {"resourceType": "Patient", "id": "p77",
           "identifier": [{"system": "urn:hospital:ipp", "value": "IPP-77",
                           "type": {"coding": [{"code": "MR"}]}}],
           "gender": "female", "birthDate": "1960-05-01"}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p77"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C50.4"}]},
             "onsetDateTime": "2025-02-01"}
OBSERVATION = {"resourceType": "Observation", "id": "o1", "status": "final",
               "subject": {"reference": "Patient/p77"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
               "valueQuantity": {"value": 12.5, "unit": "g/dL", "system":
                                 "http://unitsofmeasure.org", "code": "g/dL"},
               "effectiveDateTime": "2025-03-01"}


def _bundle(resources, next_url=None):
    out = {"resourceType": "Bundle", "type": "searchset",
           "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


@pytest.fixture
def server():
    fake = FakeFhir()
    fake.pages["/Patient?identifier=IPP-77"] = (200, _bundle([PATIENT]))
    yield fake
    fake.stop()


def _settings(tmp_path, fake):
    return dataclasses.replace(Settings(tmp_path / "data"), fhir=FhirServer(fake.url))


def test_everything_with_pages_goes_through_the_file_import(store, tmp_path, server):
    page2 = f"{server.url}/page2"
    server.pages["/Patient/p77/$everything"] = (200, _bundle([PATIENT, CONDITION], page2))
    server.pages["/page2"] = (200, _bundle([OBSERVATION]))
    report = fhir_fetch.import_from_fhir(store, _settings(tmp_path, server), "IPP-77")
    assert report.patients == ["IPP-77"] and report.written["observations"] == 1
    summary = record.get_summary(store, "IPP-77")
    assert summary.patient.birth_date == "1960-05-01"
    assert [r["path"] for r in server.requests] == [
        "/fhir/Patient?identifier=IPP-77", "/fhir/Patient/p77/$everything", "/fhir/page2"]


def test_without_everything_a_search_per_type(store, tmp_path, server):
    server.pages["/Condition?subject=Patient/p77"] = (200, _bundle([CONDITION]))
    server.pages["/Observation?subject=Patient/p77"] = (200, _bundle([OBSERVATION]))
    fhir_fetch.import_from_fhir(store, _settings(tmp_path, server), "IPP-77")
    assert [c.code for c in record.conditions(store, "IPP-77")] == ["C50.4"]
    paths = [r["path"] for r in server.requests]
    assert "/fhir/Patient/p77/$everything" in paths
    assert "/fhir/CarePlan?subject=Patient/p77" in paths


def test_same_validation_as_a_file_and_clear_misses(store, tmp_path, server):
    bad = {**OBSERVATION, "valueQuantity": {"value": "twelve"}}
    server.pages["/Patient/p77/$everything"] = (200, _bundle([PATIENT, bad]))
    with pytest.raises(RecordImportError, match=r"entry 1 \(Observation/o1\).*invalid FHIR"):
        fhir_fetch.import_from_fhir(store, _settings(tmp_path, server), "IPP-77")
    assert not record.list_patients(store)  # nothing half-stored
    server.pages["/Patient?identifier=NOPE"] = (200, _bundle([]))
    with pytest.raises(NotFoundError, match="no patient with identifier NOPE"):
        fhir_fetch.import_from_fhir(store, _settings(tmp_path, server), "NOPE")
    server.pages["/Patient?identifier=TWIN"] = (200, _bundle([PATIENT, {**PATIENT, "id": "p78"}]))
    with pytest.raises(RecordImportError, match="2 patients .* give system|value"):
        fhir_fetch.import_from_fhir(store, _settings(tmp_path, server), "TWIN")


def test_cli_from_fhir(tmp_path, server, monkeypatch, capsys):
    from oncoboard import cli

    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))
    (tmp_path / "site.toml").write_text(f'[fhir]\nbase_url = "{server.url}"\n')
    server.pages["/Patient/p77/$everything"] = (200, _bundle([PATIENT, CONDITION]))
    data = ["--data-dir", str(tmp_path / "data")]
    assert cli.main(["import", "patients", "--from-fhir", "IPP-77", *data]) == 0
    assert "IPP-77" in capsys.readouterr().out
    assert cli.main(["import", "patients", *data]) == 2
    assert "--from-fhir ID" in capsys.readouterr().err
