"""FHIR R4 Bundle import: mapping of every resource type, idempotency, unknown codes."""

from __future__ import annotations

import json

import pytest
from patient_helpers import basic_patient, full_record
from pg_server import sqlite_only

from oncoboard.errors import RecordImportError
from oncoboard.patients import codes, record
from oncoboard.patients import fhir_build as fb
from oncoboard.patients.importer import import_file


def test_full_record_is_mapped(store, write_bundle):
    report = import_file(store, write_bundle(full_record()))
    assert report.patients == ["MRN-1"]
    assert report.counts["observations"] == 11
    assert report.counts["treatments"] == 4  # surgery, RT, one merged regimen, letrozole
    p = record.get_patient(store, "MRN-1")
    assert (p.family_name, p.given_name, p.sex, p.birth_date, p.synthetic) == (
        "Testcase", "Anna", "female", "1950-02-03", True)
    c = record.primary_cancer(store, "MRN-1")
    assert (c.code, c.icdo3_morphology, c.icdo3_site, c.laterality, c.diagnosis_date) == (
        "C50.4", "8500/3", "C50.4", "left", "2020-01-10")
    assert (c.pathological_t, c.pathological_n, c.pathological_stage) == ("T2", "N1", "IIA")
    assert (c.er, c.her2, c.ki67_percent) == ("positive", "negative", 20.0)
    assert c.markers["tumour_size"] == pytest.approx(22.0)


def test_values_are_stored_in_canonical_units_with_originals(store, write_bundle):
    import_file(store, write_bundle(full_record()))
    creat = record.latest_by_key(store, "MRN-1", "creatinine")
    assert creat.unit == "mg/dL"
    assert creat.value_num == pytest.approx(1.0, abs=1e-3)
    assert (creat.original_value, creat.original_unit) == ("88.4", "umol/L")
    assert creat.reference_high == pytest.approx(90 / 88.42, rel=1e-3)
    hb = record.latest_by_key(store, "MRN-1", "haemoglobin")
    assert (hb.value_num, hb.unit) == (pytest.approx(11.8), "g/dL")
    ldh = record.latest_by_key(store, "MRN-1", "ldh")
    assert (ldh.value_num, ldh.reference_high) == (300, 250)


def test_treatments_regimen_radiotherapy_and_notes(store, write_bundle):
    import_file(store, write_bundle(full_record()))
    by_kind = {t.kind + (t.subkind or ""): t for t in record.treatments(store, "MRN-1")}
    rt = by_kind["radiotherapy"]
    assert (rt.dose_gy, rt.fractions, rt.start_date, rt.end_date) == (
        50.0, 25, "2020-03-01", "2020-04-01")
    regimen = next(t for t in record.treatments(store, "MRN-1") if t.regimen)
    assert regimen.agents == ["paclitaxel", "trastuzumab"]
    assert regimen.dose_intensity == 0.8 and regimen.cycles == 12
    assert regimen.subkind == "chemotherapy+targeted"
    assert by_kind["systemicendocrine"].agents == ["letrozole"]
    note = record.notes(store, "MRN-1")[0]
    assert (note.note_type, note.language, note.author_role) == ("nursing", "fr", "nurse")
    assert "fièvre" in note.text
    hosp = record.outcomes(store, "MRN-1", "hospitalisation")[0]
    assert (hosp.date, hosp.end_date, hosp.unplanned) == ("2020-05-12", "2020-05-15", True)


def test_summary(store, write_bundle):
    import_file(store, write_bundle(full_record()))
    s = record.get_summary(store, "MRN-1", at="2020-07-01")
    assert s.age == 70 and s.age_at_diagnosis == 69
    assert s.stage == "IIA" and s.tnm == "pT2 pN1"
    assert s.latest_ecog.value_num == 2
    assert {t.regimen for t in s.current_treatments} == {"weekly paclitaxel"}
    assert s.patient.synthetic
    assert json.dumps(s.to_dict())


def test_reimport_same_file_changes_nothing(store, write_bundle):
    sqlite_only(store, "counts changes with sqlite3 total_changes")
    path = write_bundle(full_record())
    first = import_file(store, path)
    total = store.conn.total_changes
    again = import_file(store, path)
    assert again.already_imported and sum(again.written.values()) == 0
    assert store.conn.total_changes == total
    assert sum(first.written.values()) > 0


def test_same_content_in_another_file_writes_no_row(store, write_bundle):
    import_file(store, write_bundle(full_record(), "a.json"))
    data = fb.bundle(full_record())
    data["id"] = "re-exported"  # different bytes, same resources
    report = import_file(store, write_bundle(data, "b.json"))
    assert not report.already_imported
    assert sum(report.written.values()) == 0
    assert store.db["observations"].count == 11


def test_changed_value_updates_only_that_row(store, write_bundle):
    import_file(store, write_bundle(full_record(), "a.json"))
    resources = full_record()
    resources[2]["valueQuantity"]["value"] = 176.8
    report = import_file(store, write_bundle(resources, "b.json"))
    assert report.written["observations"] == 1
    assert sum(report.written.values()) == 1
    assert record.latest_by_key(store, "MRN-1", "creatinine").value_num == pytest.approx(2.0,
                                                                                          1e-3)


def test_unknown_codes_are_kept_and_reported(store, write_bundle):
    odd = fb.observation("o-x", "p1", "ldh", "2021-01-01", value=4.2, unit="mmol/L")
    odd["code"] = fb.cc("http://example.org/lab", "XYZ-1", "Mystery analyte")
    report = import_file(store, write_bundle([basic_patient(), odd]))
    assert report.unknown_codes == [{"system": "http://example.org/lab", "code": "XYZ-1",
                                     "display": "Mystery analyte",
                                     "where": "entry 1 (Observation/o-x)"}]
    obs = record.observations(store, "MRN-1", code="XYZ-1")[0]
    assert (obs.value_num, obs.unit, obs.category) == (4.2, "mmol/L", "laboratory")
    stored = json.loads(store.db["record_sources"].get(report.sha256)["unknown_codes"])
    assert stored[0]["code"] == "XYZ-1"
    assert "kept 1 unknown code" in report.describe()


def test_composition_death_and_disease_status(store, write_bundle):
    patient = fb.patient("p1", "MRN-1", "Testcase", "Bob", "1940-01-01", "male",
                         deceased="2022-03-04")
    comp = {"resourceType": "Composition", "id": "comp1", "status": "final",
            "type": fb.cc(codes.LOINC, "11488-4", "Consult note"), "subject": fb.ref("Patient",
                                                                                   "p1"),
            "date": "2021-05-06", "title": "RCP", "language": "en",
            "author": [{"display": "oncologist"}],
            "section": [{"title": "History", "text": {"status": "generated", "div":
                         '<div xmlns="http://www.w3.org/1999/xhtml"><p>Febrile '
                         "neutropenia after C2.</p></div>"}}]}
    status = fb.observation("ds", "p1", "disease_status", "2021-09-01",
                            coded=(codes.SNOMED, "271299001"))
    import_file(store, write_bundle([patient, comp, status]))
    note = record.notes(store, "MRN-1")[0]
    assert note.note_type == "consultation" and "Febrile neutropenia" in note.text
    kinds = {o.kind: o.date for o in record.outcomes(store, "MRN-1")}
    assert kinds == {"death": "2022-03-04", "progression": "2021-09-01"}
    assert record.get_patient(store, "MRN-1").deceased_date == "2022-03-04"


def test_later_bundle_may_reference_a_stored_patient(store, write_bundle):
    import_file(store, write_bundle([basic_patient()], "a.json"))
    lab = fb.observation("o-late", "p1", "crp", "2021-01-01", value=12, unit="mg/L")
    report = import_file(store, write_bundle({"resourceType": "Bundle", "type": "collection",
                                              "entry": [{"resource": lab}]}, "b.json"))
    assert report.patients == ["MRN-1"]
    assert record.latest_by_key(store, "MRN-1", "crp").value_num == 12


@pytest.fixture
def pool_from_the_start(monkeypatch):
    """Parallel imports wait for their pool instead of importing while it starts."""
    from oncoboard.patients import import_pool

    monkeypatch.setattr(import_pool, "_READ_WHILE_STARTING", False)


def test_import_files_with_workers_matches_sequential(store, write_bundle, pool_from_the_start):
    from oncoboard.patients.import_pool import import_files

    paths = [write_bundle([fb.patient(f"p{i}", f"W-{i}", "W", "X", "1960-01-01", "male"),
                           fb.observation(f"o{i}", f"p{i}", "ldh", "2021-01-01", value=200 + i,
                                          unit="U/L")], f"w{i}.json") for i in range(4)]
    # a later file that needs a patient written by an earlier file of the same run
    late = fb.observation("o-late", "p0", "crp", "2021-02-01", value=7, unit="mg/L")
    paths.append(write_bundle({"resourceType": "Bundle", "type": "collection",
                               "entry": [{"resource": late}]}, "late.json"))
    reports = list(import_files(store, paths, workers=2))
    assert [r.patients for r in reports] == [["W-0"], ["W-1"], ["W-2"], ["W-3"], ["W-0"]]
    assert [o.value_num for o in record.observations(store, "W-3")] == [203]
    assert record.latest_by_key(store, "W-0", "crp").value_num == 7


def test_import_files_with_workers_stops_at_a_bad_file(store, write_bundle, tmp_path,
                                                      pool_from_the_start):
    from oncoboard.patients.import_pool import import_files

    good = [write_bundle([fb.patient(f"p{i}", f"G-{i}", "G", "X", "1960-01-01", "female")],
                         f"g{i}.json") for i in range(3)]
    bad = tmp_path / "h-bad.json"
    bad.write_text('{"resourceType": "Bundle", "type": "collection", "entry": [', "utf-8")
    after = write_bundle([fb.patient("p9", "G-9", "G", "X", "1960-01-01", "female")], "z.json")
    reports = []
    with pytest.raises(RecordImportError, match="invalid JSON") as info:
        for report in import_files(store, [*good, bad, after], workers=2):
            reports.append(report)
    assert str(bad) in info.value.message
    assert [r.patients for r in reports] == [["G-0"], ["G-1"], ["G-2"]]
    assert store.db["patients"].count == 3  # the files before it stay; none after it


def test_auto_workers_only_for_many_files(monkeypatch):
    from oncoboard.patients import import_pool

    monkeypatch.setattr(import_pool.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    assert import_pool.auto_workers(import_pool.AUTO_WORKERS_MIN_FILES - 1) == 0
    # this process reads between its writes: one more process per other CPU
    assert import_pool.auto_workers(import_pool.AUTO_WORKERS_MIN_FILES) == 3
    monkeypatch.setattr(import_pool.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert import_pool.auto_workers(10_000) == 0  # one CPU: a pool only adds work


def test_the_reading_processes_start_module_loads_the_readers():
    import importlib

    worker = importlib.import_module("oncoboard.patients.import_worker")
    assert worker.fhir_import.model_class("Observation") is not None


def test_foreign_transaction_bundle_with_urn_references(store, write_bundle):
    """A bundle shaped like other systems' exports (Synthea-style urn:uuid references)."""
    pu, eu, mu = ("urn:uuid:4f1d2c3e-0000-4000-8000-00000000000" + c for c in "123")
    entries = [
        {"fullUrl": pu, "resource": {
            "resourceType": "Patient", "id": "4f1d2c3e-0000-4000-8000-000000000001",
            "identifier": [{"system": "https://github.com/synthetichealth/synthea",
                            "value": "ab-12"}],
            "name": [{"family": "Doe", "given": ["Jo"]}], "gender": "male",
            "birthDate": "1955-04-01", "_birthDate": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1955-04-01T08:30:00+01:00"}]}},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:0b0b0b0b-0000-4000-8000-000000000009", "resource": {
            "resourceType": "Organization", "id": "0b0b0b0b-0000-4000-8000-000000000009",
            "name": "Hospital"}, "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": eu, "resource": {
            "resourceType": "Encounter", "id": "4f1d2c3e-0000-4000-8000-000000000002",
            "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": pu},
            "period": {"start": "2021-01-01T09:00:00+01:00", "end": "2021-01-01T09:30:00+01:00"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:c0000000-0000-4000-8000-000000000001", "resource": {
            "resourceType": "Condition", "id": "c0000000-0000-4000-8000-000000000001",
            "code": {"coding": [{"system": codes.SNOMED, "code": "254637007",
                                 "display": "Non-small cell lung cancer"}]},
            "subject": {"reference": pu}, "encounter": {"reference": eu},
            "onsetDateTime": "2021-01-01T09:00:00+01:00"}},
        {"fullUrl": "urn:uuid:d0000000-0000-4000-8000-000000000001", "resource": {
            "resourceType": "Observation", "id": "d0000000-0000-4000-8000-000000000001",
            "status": "final", "code": {"coding": [{"system": codes.LOINC, "code": "85354-9"}]},
            "subject": {"reference": pu}, "effectiveDateTime": "2021-01-01T09:10:00+01:00",
            "component": [
                {"code": {"coding": [{"system": codes.LOINC, "code": "8480-6"}]},
                 "valueQuantity": {"value": 128, "unit": "mm[Hg]", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": codes.LOINC, "code": "8462-4"}]},
                 "valueQuantity": {"value": 81, "unit": "mm[Hg]", "code": "mm[Hg]"}}]}},
        {"fullUrl": "urn:uuid:d0000000-0000-4000-8000-000000000002", "resource": {
            "resourceType": "Observation", "id": "d0000000-0000-4000-8000-000000000002",
            "status": "final", "code": {"coding": [{"system": codes.LOINC, "code": "777-3"}]},
            "subject": {"reference": pu}, "effectiveDateTime": "2021-01-01T09:10:00+01:00",
            "valueQuantity": {"value": 250, "unit": "10*3/uL",
                              "system": "http://unitsofmeasure.org", "code": "10*3/uL"}}},
        {"fullUrl": "urn:uuid:d0000000-0000-4000-8000-000000000003", "resource": {
            "resourceType": "Observation", "id": "d0000000-0000-4000-8000-000000000003",
            "status": "final", "code": {"coding": [{"system": codes.LOINC, "code": "2532-0"}]},
            "subject": {"reference": pu}, "effectiveDateTime": "2021-01-01",
            "dataAbsentReason": {"text": "haemolysed"}}},
        {"fullUrl": mu, "resource": {
            "resourceType": "Medication", "id": "4f1d2c3e-0000-4000-8000-000000000003",
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                 "code": "1657775", "display": "durvalumab"}]}}},
        {"fullUrl": "urn:uuid:e0000000-0000-4000-8000-000000000001", "resource": {
            "resourceType": "MedicationRequest", "id": "e0000000-0000-4000-8000-000000000001",
            "status": "active", "intent": "order", "medicationReference": {"reference": mu},
            "subject": {"reference": pu}, "authoredOn": "2021-02-01"}},
    ]
    report = import_file(store, write_bundle({"resourceType": "Bundle", "type": "transaction",
                                              "entry": entries}))
    assert report.patients == ["ab-12"]
    assert report.skipped == {"Organization": 1, "Encounter (class AMB)": 1, "Medication": 1}
    assert {u["code"] for u in report.unknown_codes} == {"254637007", "85354-9"}
    (condition,) = record.conditions(store, "ab-12")
    assert not condition.is_primary_cancer and condition.code == "254637007"
    platelets = record.latest_by_key(store, "ab-12", "platelets")
    assert (platelets.value_num, platelets.unit) == (250, "10*9/L")
    bp = record.observations(store, "ab-12", code="85354-9")[0]
    assert [c["value"] for c in bp.extra["components"]] == [128, 81]
    ldh = record.latest_by_key(store, "ab-12", "ldh")
    assert ldh.value_num is None
    (io,) = record.treatments(store, "ab-12")
    assert io.agents == ["durvalumab"] and io.subkind == "immunotherapy"


def test_resource_order_and_comparators(store, write_bundle):
    crp = fb.observation("o1", "p1", "crp", "2021-01-01", value=5, unit="mg/L")
    crp["valueQuantity"]["comparator"] = "<"
    import_file(store, write_bundle([crp, basic_patient()]))  # Patient after its data
    o = record.latest_by_key(store, "MRN-1", "crp")
    assert (o.value_num, o.original_value, o.extra["comparator"]) == (5, "<5", "<")


def test_stage_assessment_links_tnm_to_its_condition(store, write_bundle):
    old = fb.condition("c-old", "p1", "C50.4", "Breast", "2015-01-01")
    old["stage"] = [{"summary": {"text": "IIB"}, "type": {"text": "pathological"},
                     "assessment": [fb.ref("Observation", "t-old")]}]
    new = fb.condition("c-new", "p1", "C34.1", "Lung", "2021-01-01")
    t_old = fb.observation("t-old", "p1", "pathological_t", "2015-02-01", coded=(None, "T3"))
    t_new = fb.observation("t-new", "p1", "clinical_t", "2021-02-01", coded=(None, "T1c"))
    import_file(store, write_bundle([basic_patient(), t_old, old, new, t_new]))
    by_code = {c.code: c for c in record.conditions(store, "MRN-1")}
    assert (by_code["C50.4"].pathological_t, by_code["C50.4"].pathological_stage) == ("T3",
                                                                                     "IIB")
    assert by_code["C34.1"].pathological_t is None and by_code["C34.1"].clinical_t == "T1c"
    assert record.primary_cancer(store, "MRN-1").code == "C34.1"


def test_failure_while_writing_rolls_the_whole_file_back(store, write_bundle, monkeypatch):
    sqlite_only(store, "injects a sqlite3 error")
    import sqlite3

    from oncoboard.errors import StorageError
    from oncoboard.patients import importer

    real = importer._upsert

    def failing(store_, table, rows):
        if table == "notes":  # patients, conditions, observations, treatments already written
            raise sqlite3.OperationalError("disk I/O error")
        return real(store_, table, rows)

    monkeypatch.setattr(importer, "_upsert", failing)
    path = write_bundle(full_record())
    with pytest.raises(StorageError, match="disk I/O error"):
        import_file(store, path)
    for table in ("patients", "conditions", "observations", "treatments", "record_sources"):
        assert store.db[table].count == 0, table
    monkeypatch.setattr(importer, "_upsert", real)
    assert not import_file(store, path).already_imported  # nothing was recorded as imported


def test_a_reference_matching_two_stored_patients_is_refused(store, write_bundle):
    # two hospitals' exports both call their patient "Patient/1"
    import_file(store, write_bundle([fb.patient("1", "MRN-A", "A", "X", "1950-01-01", "male")],
                                    "a.json"))
    import_file(store, write_bundle([fb.patient("1", "MRN-B", "B", "Y", "1951-01-01", "male")],
                                    "b.json"))
    lab = fb.observation("o1", "1", "crp", "2021-01-01", value=5, unit="mg/L")
    path = write_bundle({"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": lab}]}, "c.json")
    with pytest.raises(RecordImportError, match="matches several stored patients") as info:
        import_file(store, path)
    assert "MRN-A" in info.value.message and "MRN-B" in info.value.message
    assert store.db["observations"].count == 0


def test_a_logical_reference_finds_a_stored_patient_by_any_identifier(store, write_bundle):
    person = fb.patient("p7", "MRN-7", "S", "T", "1950-01-01", "female")
    person["identifier"].append({"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "INS-77"})
    import_file(store, write_bundle([person], "a.json"))
    lab = fb.observation("o1", "p7", "crp", "2021-01-01", value=5, unit="mg/L")
    lab["subject"] = {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8",
                                     "value": "INS-77"}}
    import_file(store, write_bundle({"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": lab}]}, "b.json"))
    assert record.latest_by_key(store, "MRN-7", "crp").value_num == 5
    lab["id"], lab["subject"]["identifier"]["value"] = "o2", "INS-99"
    path = write_bundle({"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": lab}]}, "c.json")
    with pytest.raises(RecordImportError, match="identifier .*INS-99 is not a Patient"):
        import_file(store, path)


def test_parallel_reading_sees_the_patients_of_earlier_files_of_the_run(store, write_bundle,
                                                                        pool_from_the_start):
    """A file read ahead in a worker is read again when what it read of the store changed."""
    from oncoboard.patients.import_pool import import_files

    first = fb.patient("a1", "123", "A", "X", "1950-01-01", "male")
    first["identifier"][0]["system"] = "urn:hospital:a"
    second = fb.patient("b1", "123", "B", "Y", "1960-01-01", "female")
    second["identifier"][0]["system"] = "urn:hospital:b"
    paths = [write_bundle([first], "1.json"), write_bundle([second], "2.json")]
    reports = []
    with pytest.raises(RecordImportError, match="two identifier systems") as info:
        for report in import_files(store, paths, workers=2):
            reports.append(report)
    assert "2.json" in info.value.message and len(reports) == 1
    assert [(p.family_name, p.birth_date) for p in record.list_patients(store)] == \
        [("A", "1950-01-01")]


def test_a_batch_read_is_repeated_when_the_store_changed(store, write_bundle):
    from oncoboard.patients.importer import read_file

    lab = fb.observation("o1", "p1", "crp", "2021-01-01", value=5, unit="mg/L")
    path = write_bundle({"resourceType": "Bundle", "type": "collection",
                         "entry": [{"resource": lab}]}, "lab.json")
    import_file(store, write_bundle([fb.patient("p1", "MRN-1", "A", "X", "1950-01-01",
                                                "male")], "a.json"))
    batch = read_file(store, path)
    assert batch.reads and batch.reads_still_hold(store)
    import_file(store, write_bundle([fb.patient("p1", "MRN-2", "B", "Y", "1951-01-01",
                                                "male")], "b.json"))
    assert not batch.reads_still_hold(store)  # "Patient/p1" now names two patients
    with pytest.raises(RecordImportError, match="several stored patients"):
        read_file(store, path)


def test_reading_processes_cannot_write_the_record(tmp_path):
    import sqlite3

    from oncoboard.patients.import_worker import ReadOnlyRecord
    from oncoboard.store import open_store

    store = open_store(tmp_path / "a folder #1 (copy)")  # characters a URI must encode
    reader = ReadOnlyRecord(store.path)
    try:
        assert reader.db.execute("SELECT count(*) FROM patients").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.db.execute("INSERT INTO patients (id) VALUES ('x')")
    finally:
        reader.close()


def test_parallel_import_of_many_files_reads_in_both_processes(store, write_bundle,
                                                               pool_from_the_start,
                                                               monkeypatch):
    sqlite_only(store, "the reading pool opens the SQLite file read-only (one process on "
                       "a site database)")
    """Files are read by the pool and, between writes, by the writing process; same result."""
    from oncoboard.patients import import_pool

    read_here = []
    real = import_pool._read_here
    monkeypatch.setattr(import_pool, "_read_here",
                        lambda s, p: read_here.append(p.name) or real(s, p))
    paths = [write_bundle([fb.patient(f"p{i}", f"M-{i:02d}", "M", "X", "1960-01-01", "male"),
                           *[fb.observation(f"o{i}-{k}", f"p{i}", "ldh", f"2021-01-{k + 1:02d}",
                                            value=200 + k, unit="U/L") for k in range(20)]],
                          f"m{i:02d}.json") for i in range(40)]
    reports = list(import_pool.import_files(store, paths, workers=1))
    assert [r.patients for r in reports] == [[f"M-{i:02d}"] for i in range(40)]
    assert store.db["observations"].count == 40 * 20
    assert 0 < len(read_here) < 40  # both processes read


@pytest.mark.parametrize("workers", [0, 1])
def test_import_files_can_go_on_after_a_bad_file(store, write_bundle, tmp_path, workers,
                                                 pool_from_the_start):
    from oncoboard.patients.import_pool import import_files

    bad = tmp_path / "b-bad.json"
    bad.write_text("{", "utf-8")
    paths = [write_bundle([fb.patient("p1", "K-1", "K", "X", "1960-01-01", "male")], "a.json"),
             bad,
             write_bundle([fb.patient("p2", "K-2", "K", "Y", "1961-01-01", "male")], "c.json")]
    refused = []
    reports = list(import_files(store, paths, workers=workers,
                                on_error=lambda path, exc: refused.append((path, exc.message))))
    assert [r.patients for r in reports] == [["K-1"], ["K-2"]]
    assert [(p, "invalid JSON" in m) for p, m in refused] == [(bad, True)]


def _ranged_lab(pid: str, rid: str, ranges: list[tuple[str | None, float]]) -> dict:
    """A creatinine with one reference range per (sex or None, upper limit in umol/L)."""
    lab = fb.observation(rid, pid, "creatinine", "2021-01-01", value=90, unit="umol/L")
    lab["referenceRange"] = [
        {"high": {"value": high, "unit": "umol/L", "system": "http://unitsofmeasure.org",
                  "code": "umol/L"},
         **({"appliesTo": [{"coding": [{"system": "http://snomed.info/sct",
                                        "code": {"male": "248153007",
                                                 "female": "248152002"}[sex]}],
                            "text": sex}]} if sex else {})}
        for sex, high in ranges]
    return lab


@pytest.mark.parametrize(("sex", "ranges", "uln_umol"), [
    ("female", [("male", 104), ("female", 84)], 84),    # not the first: the patient's
    ("male", [("male", 104), ("female", 84)], 104),
    ("female", [("male", 104), (None, 100)], 100),       # else the range for everybody
    ("female", [("male", 104)], None),                    # only the other sex's: none
    ("male", [(None, 100), ("male", 104)], 104),
])
def test_the_reference_range_of_the_patients_sex(store, write_bundle, sex, ranges, uln_umol):
    person = fb.patient("p1", "R-1", "R", "X", "1960-01-01", sex)
    import_file(store, write_bundle([person, _ranged_lab("p1", "o1", ranges)]))
    uln = record.latest_by_key(store, "R-1", "creatinine").reference_high
    assert (uln is None and uln_umol is None) or uln == pytest.approx(uln_umol / 88.42, 1e-3)


def test_the_reference_range_of_a_stored_patients_sex(store, write_bundle):
    import_file(store, write_bundle([fb.patient("p1", "R-1", "R", "X", "1960-01-01",
                                                "female")], "a.json"))
    lab = _ranged_lab("p1", "o1", [("male", 104), ("female", 84)])
    import_file(store, write_bundle({"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": lab}]}, "b.json"))
    uln = record.latest_by_key(store, "R-1", "creatinine").reference_high
    assert uln == pytest.approx(84 / 88.42, 1e-3)


def test_observations_are_ordered_in_time_across_time_zones(store, write_bundle):
    labs = [fb.observation(f"o{i}", "p1", "crp", when, value=value, unit="mg/L")
            for i, (when, value) in enumerate([
                ("2021-01-01T23:00:00-05:00", 30),   # 04:00 UTC on 2 January: the latest
                ("2021-01-02T01:00:00+00:00", 20),
                ("2021-01-01", 10)])]
    import_file(store, write_bundle([basic_patient(), *labs]))
    assert [o.value_num for o in record.observations(store, "MRN-1", code="1988-5")] == \
        [10, 20, 30]
    assert record.latest_by_key(store, "MRN-1", "crp").value_num == 30


def _age(low: float | None, high: float | None) -> dict:
    years = {"unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}
    return {k: {"value": v, **years} for k, v in (("low", low), ("high", high)) if v is not None}


@pytest.mark.parametrize(("birth", "ages", "uln_umol"), [
    ("1950-06-01", [((0, 17), 60), ((18, 64), 90), ((65, None), 110)], 110),  # 70 on the day
    ("2010-06-01", [((0, 17), 60), ((18, 64), 90), ((65, None), 110)], 60),   # 10
    ("1950-06-01", [((0, 17), 60)], None),                # no range for the patient's age
])
def test_the_reference_range_of_the_patients_age(store, write_bundle, birth, ages, uln_umol):
    lab = _ranged_lab("p1", "o1", [(None, high) for _, high in ages])
    for rr, ((low, high), _) in zip(lab["referenceRange"], ages, strict=True):
        rr["age"] = _age(low, high)
    person = fb.patient("p1", "R-1", "R", "X", birth, "male")
    import_file(store, write_bundle([person, lab]))
    uln = record.latest_by_key(store, "R-1", "creatinine").reference_high
    assert (uln is None and uln_umol is None) or uln == pytest.approx(uln_umol / 88.42, 1e-3)


def test_the_most_specific_reference_range_wins(store, write_bundle):
    lab = _ranged_lab("p1", "o1", [(None, 100), ("female", 84), ("female", 70)])
    lab["referenceRange"][2]["age"] = _age(65, None)  # women over 65
    person = fb.patient("p1", "R-1", "R", "X", "1940-01-01", "female")
    import_file(store, write_bundle([person, lab]))
    uln = record.latest_by_key(store, "R-1", "creatinine").reference_high
    assert uln == pytest.approx(70 / 88.42, 1e-3)
