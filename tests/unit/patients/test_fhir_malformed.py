"""Malformed FHIR input: a clear error naming file, resource and reason; nothing written."""

from __future__ import annotations

import json

import pytest
from patient_helpers import basic_patient, full_record

from oncoboard.errors import RecordImportError
from oncoboard.patients import fhir_build as fb
from oncoboard.patients import record
from oncoboard.patients.importer import import_file


def _fails(store, path, *fragments):
    with pytest.raises(RecordImportError) as info:
        import_file(store, path)
    message = info.value.message
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, message
    for table in ("patients", "conditions", "observations", "treatments", "notes",
                  "outcomes", "record_sources"):
        assert store.db[table].count == 0, f"{table} written: {message}"
    return message


def test_invalid_json(store, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"resourceType": "Bundle", "entry": [', encoding="utf-8")
    _fails(store, path, "invalid JSON", "line 1")


def test_not_a_bundle(store, write_bundle):
    _fails(store, write_bundle(basic_patient()), "not a FHIR Bundle", "'Patient'")


def test_json_array(store, tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    _fails(store, path, "not a FHIR resource")


def test_unknown_resource_type_in_entry(store, write_bundle):
    bad = {"resourceType": "Patiant", "id": "x"}
    _fails(store, write_bundle([basic_patient(), bad]), "entry 1 (Patiant/x)",
           "unknown resource type")


def test_invalid_field_is_reported_by_the_fhir_model(store, write_bundle):
    patient = basic_patient()
    patient["birthDate"] = "1950-13-45"
    _fails(store, write_bundle([patient]), "entry 0 (Patient/p1)", "birthDate")


def test_missing_required_field(store, write_bundle):
    obs = fb.observation("o1", "p1", "crp", "2021-01-01", value=3, unit="mg/L")
    del obs["status"]
    _fails(store, write_bundle([basic_patient(), obs]), "entry 1 (Observation/o1)", "status")


def test_missing_subject(store, write_bundle):
    obs = fb.observation("o1", "p1", "crp", "2021-01-01", value=3, unit="mg/L")
    del obs["subject"]
    _fails(store, write_bundle([basic_patient(), obs]), "Observation/o1", "no subject")


def test_dangling_subject(store, write_bundle):
    obs = fb.observation("o1", "nobody", "crp", "2021-01-01", value=3, unit="mg/L")
    _fails(store, write_bundle([basic_patient(), obs]), "Observation/o1",
           "Patient/nobody is not a Patient")


def test_unknown_unit(store, write_bundle):
    obs = fb.observation("o1", "p1", "haemoglobin", "2021-01-01", value=3, unit="blargs/L")
    _fails(store, write_bundle([basic_patient(), obs]), "Observation/o1",
           "unknown unit 'blargs/L'")


def test_incompatible_unit(store, write_bundle):
    obs = fb.observation("o1", "p1", "haemoglobin", "2021-01-01", value=3, unit="kg")
    _fails(store, write_bundle([basic_patient(), obs]), "cannot be converted to 'g/dL'")


def test_value_without_unit(store, write_bundle):
    obs = fb.observation("o1", "p1", "haemoglobin", "2021-01-01", value=3)
    obs["valueQuantity"] = {"value": 3}
    _fails(store, write_bundle([basic_patient(), obs]), "has no unit")


def test_duplicate_ids(store, write_bundle):
    a = fb.observation("o1", "p1", "crp", "2021-01-01", value=3, unit="mg/L")
    b = fb.observation("o1", "p1", "crp", "2021-02-01", value=4, unit="mg/L")
    _fails(store, write_bundle([basic_patient(), a, b]), "entry 2 (Observation/o1)",
           "duplicate id Observation/o1 (also entry 1")


def test_death_before_birth(store, write_bundle):
    p = fb.patient("p1", "MRN-1", "X", "Y", "1950-01-01", "male", deceased="1949-05-01")
    _fails(store, write_bundle([p]), "Patient/p1", "before the birth date")


def test_diagnosis_before_birth(store, write_bundle):
    c = fb.condition("c1", "p1", "C34.1", "Lung", "1940-01-01")
    _fails(store, write_bundle([basic_patient(), c]), "Condition/c1",
           "diagnosis date 1940-01-01 is before the birth date 1950-02-03")


def test_end_before_start(store, write_bundle):
    rt = fb.procedure("r1", "p1", "radiotherapy", "RT", "2021-03-01", end="2021-02-01")
    _fails(store, write_bundle([basic_patient(), rt]), "Procedure/r1",
           "ends (2021-02-01) before it starts (2021-03-01)")


@pytest.mark.parametrize("content", [b"  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty_file(store, tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)  # also a spreadsheet's UTF-8 export of nothing: a BOM alone
    _fails(store, path, "empty")


def test_non_utf8_file(store, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(fb.bundle([basic_patient()])).replace(
        "Anna", "Ana\u00efs").encode("latin-1"))
    _fails(store, path, "not UTF-8", "0xef")


def test_bad_attachment_text(store, write_bundle):
    doc = fb.document("d1", "p1", "nursing", "2021-01-01", "x", "fr", "nurse")
    doc["content"][0]["attachment"]["data"] = "//79"  # base64 of bytes that are not UTF-8
    _fails(store, write_bundle([basic_patient(), doc]), "DocumentReference/d1", "UTF-8")


def test_one_bad_resource_writes_no_patient(store, write_bundle):
    resources = full_record()
    resources.append(fb.observation("bad", "p1", "ldh", "2021-01-01", value=1, unit="parsecs"))
    _fails(store, write_bundle(resources), "Observation/bad")
    assert record.list_patients(store) == []


def test_ten_megabyte_bundle(store, write_bundle):
    resources = []
    long_text = "Consultation de suivi, pas de fièvre, asthénie grade 1. " * 1000
    for i in range(20):
        pid = f"p{i}"
        resources.append(fb.patient(pid, f"BIG-{i:03d}", "Bulk", "Test", "1960-01-01", "male"))
        for j in range(40):
            resources.append(fb.observation(f"{pid}-o{j}", pid, "crp", f"2021-01-{j % 28 + 1:02d}",
                                             value=j, unit="mg/L"))
        for j in range(8):
            resources.append(fb.document(f"{pid}-d{j}", pid, "consultation", "2021-05-05",
                                         f"{j} {long_text}", "fr", "oncologist"))
    path = write_bundle(resources, "big.json")
    assert path.stat().st_size > 10 * 1024 * 1024
    report = import_file(store, path)  # its speed: tests/bench/bench_import.py, not a timer here
    assert report.counts["patients"] == 20 and report.counts["observations"] == 800
    assert store.db["notes"].count == 160
    assert len(record.search_notes(store, "asthenie", limit=500)) == 160


def test_invalid_repeated_element_is_still_reported_with_its_path(store, write_bundle):
    good = fb.observation("o1", "p1", "crp", "2021-01-01", value=3, unit="mg/L")
    bad = fb.observation("o2", "p1", "crp", "2021-01-02", value=4, unit="mg/L")
    bad["code"] = {"coding": [{"system": "http://loinc.org", "code": "1988-5",
                               "userSelected": "maybe"}]}
    _fails(store, write_bundle([basic_patient(), good, bad]), "entry 2 (Observation/o2)",
           "code.coding.0.userSelected")


def test_two_patients_with_the_same_id(store, write_bundle):
    a = fb.patient("p1", "MRN-1", "A", "B", "1950-01-01", "male")
    b = fb.patient("p2", "MRN-1", "C", "D", "1960-01-01", "female")
    _fails(store, write_bundle([a, b]), "entry 1 (Patient/p2)",
           "patient ID MRN-1 is also used by entry 0 (Patient/p1)")


def test_patient_without_any_identifier(store, write_bundle):
    p = basic_patient()
    del p["id"], p["identifier"]
    _fails(store, write_bundle([p]), "entry 0 (Patient)", "neither an identifier nor an id")


def test_treatment_after_death(store, write_bundle):
    p = fb.patient("p1", "MRN-1", "X", "Y", "1950-01-01", "male", deceased="2021-01-01")
    chemo = fb.medication("m1", "p1", "cisplatin", "2021-03-01", status="active")
    _fails(store, write_bundle([p, chemo]), "MedicationStatement/m1",
           "after the death of patient MRN-1 on 2021-01-01")
    planned = fb.medication("m1", "p1", "cisplatin", "2021-03-01", status="cancelled")
    assert import_file(store, write_bundle([p, planned], "ok.json")).counts["treatments"] == 1


def test_birth_in_the_future(store, write_bundle):
    _fails(store, write_bundle([basic_patient(birth="2999-01-01")]), "Patient/p1",
           "birth date 2999-01-01 is in the future")


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("nan.json", '{"resourceType": "Bundle", "type": "collection", "total": NaN}',
     "NaN is not valid JSON"),
    ("bundle.xml", '<Bundle xmlns="http://hl7.org/fhir"></Bundle>', "looks like XML"),
    ("bundle.txt", '{"resourceType": "Patient"}', "not a FHIR Bundle"),
])
def test_other_malformed_files(store, tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    _fails(store, path, fragment)


def test_gender_outside_administrative_gender(store, write_bundle):
    # "F" passes the FHIR model (a code) but not the database: refused with the entry, not exit 3.
    patient = basic_patient()
    patient["gender"] = "F"
    _fails(store, write_bundle([patient]), "entry 0 (Patient/p1)", "gender 'F'")


def test_empty_bundle_report_says_so(store, tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"resourceType": "Bundle", "type": "collection", "entry": null}',
                    encoding="utf-8")
    assert import_file(store, path).describe().startswith(
        f"{path}: 0 patient(s), no records; 0 row(s) written")  # was "0 patient(s), ; 0 row"


def test_entered_in_error_resources_are_not_stored(store, write_bundle):
    # An Observation the lab flagged entered-in-error (Hb 1.2) became the latest haemoglobin.
    wrong = fb.observation("o-bad", "p1", "haemoglobin", "2021-01-02", value=1.2, unit="g/dL")
    wrong["status"] = "entered-in-error"
    good = fb.observation("o-ok", "p1", "haemoglobin", "2021-01-01", value=12.5, unit="g/dL")
    report = import_file(store, write_bundle([basic_patient(), good, wrong]))
    assert report.skipped == {"Observation (entered-in-error)": 1}
    assert record.latest_by_key(store, "MRN-1", "haemoglobin").value_num == 12.5


@pytest.mark.parametrize(("key", "kwargs", "fragment"), [
    ("ecog", {"value": 7}, "ecog 7 is impossible (must be between 0 and 5)"),
    ("haemoglobin", {"value": -12, "unit": "g/dL"}, "haemoglobin -12 is impossible"),
    ("haemoglobin", {"text": "low"}, "haemoglobin 'low' is not a number")])
def test_impossible_or_non_numeric_values(store, write_bundle, key, kwargs, fragment):
    obs = fb.observation("o1", "p1", key, "2021-01-01", **kwargs)
    _fails(store, write_bundle([basic_patient(), obs]), "entry 1 (Observation/o1)", fragment)


def test_fact_in_the_future(store, write_bundle):
    import datetime as dt

    obs = fb.observation("o1", "p1", "haemoglobin", "2099-01-05", value=12, unit="g/dL")
    msg = _fails(store, write_bundle([basic_patient(), obs]), "Observation/o1",
                 "effective 2099-01-05 is in the future")
    assert "\n" not in msg
    done = fb.medication("m1", "p1", "letrozole", "2099-01-01", status="completed",
                         kind="MedicationAdministration")
    _fails(store, write_bundle([basic_patient(), done], "done.json"), "m1",
           "start date 2099-01-01 is in the future")
    # one day of margin (time zones); a planned treatment may start later
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    ok = [basic_patient(), fb.observation("o2", "p1", "haemoglobin", tomorrow, value=12,
                                          unit="g/dL"),
          fb.medication("m2", "p1", "letrozole", "2099-01-01", status="active")]
    assert import_file(store, write_bundle(ok, "ok.json")).counts["observations"] == 1


def test_undated_facts_are_kept_and_reported(store, write_bundle):
    obs = fb.observation("o1", "p1", "haemoglobin", "2020-01-05", value=12, unit="g/dL")
    del obs["effectiveDateTime"]
    report = import_file(store, write_bundle([basic_patient(), obs]))
    assert report.counts["observations"] == 1 and report.undated == 1
    assert "1 fact(s) without a date: models will not use them" in report.describe()
    # not picked as the latest value, with or without a reference date
    assert record.latest_by_key(store, "MRN-1", "haemoglobin") is None
    assert record.latest_by_key(store, "MRN-1", "haemoglobin", before="2030-01-01") is None
