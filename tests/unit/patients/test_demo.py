"""The demo cohort: deterministic, synthetic, complete enough for the clinical plugins."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from oncoboard.config import Settings
from oncoboard.demo import run_demo
from oncoboard.patients import codes, demo_cohort, record


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from oncoboard.store import open_store

    folder = tmp_path_factory.mktemp("demo")
    store = open_store(folder)
    result = run_demo(store, Settings(data_dir=folder), imaging=False)
    yield store, result
    store.close()


def test_generation_is_deterministic_and_fast():
    started = time.perf_counter()
    a = demo_cohort.generate()
    elapsed = time.perf_counter() - started
    b = demo_cohort.generate()
    assert json.dumps([p.bundle() for p in a.patients]) == \
        json.dumps([p.bundle() for p in b.patients])
    assert elapsed < 3
    other = demo_cohort.generate(seed=1)
    assert json.dumps(other.patients[0].bundle()) != json.dumps(a.patients[0].bundle())


def test_cohort_groups_and_synthetic_flag(demo):
    store, result = demo
    patients = record.list_patients(store)
    assert len(patients) == 32 and result.groups == {"breast": 12, "lung": 10, "chemo": 10}
    assert all(p.synthetic for p in patients)
    assert store.db.execute("SELECT count(*) FROM patients WHERE synthetic = 1").fetchone()[0] \
        == 32
    assert {p.id[:7] for p in patients} == {"DEMO-BR", "DEMO-LU", "DEMO-CH"}
    assert (result.folder / "DEMO-LU-001.json").is_file()


def test_rerun_changes_nothing(demo, tmp_path):
    store, result = demo
    before = store.conn.total_changes
    again = run_demo(store, Settings(data_dir=result.folder.parent.parent), imaging=False)
    assert all(r.already_imported for r in again.reports)
    assert store.conn.total_changes == before


def test_breast_patients_have_relapse_model_inputs(demo):
    store, _ = demo
    for p in record.list_patients(store, "DEMO-BR"):
        s = record.get_summary(store, p.id)
        c = s.primary_cancer
        assert c.code.startswith("C50") and s.patient.sex == "female"
        assert c.er in ("positive", "negative") and c.pr in ("positive", "negative")
        assert c.her2 in ("positive", "negative") and c.grade in ("1", "2", "3")
        assert c.pathological_t and c.pathological_n and c.pathological_stage
        for key in ("tumour_size", "positive_nodes", "estrec", "progrec"):
            assert key in c.markers, key
        assert record.latest_by_key(store, p.id, "menopausal_status").value_text in ("pre",
                                                                                    "post")
        assert record.latest_by_key(store, p.id, "screen_detected").value_text in ("yes", "no")
        assert record.treatments(store, p.id, kind="surgery")
        systemic = record.treatments(store, p.id, kind="systemic")
        if c.her2 == "positive":
            assert any("trastuzumab" in t.agents for t in systemic)
        if c.er == "positive":
            assert any(t.subkind == "endocrine" for t in systemic)


def test_lung_patients_have_labs_within_30_days_of_planned_start(demo):
    store, result = demo
    with_pdl1 = 0
    for p in result.cohort.group("lung"):
        start = p.planned_start
        for key in ("neutrophils", "lymphocytes", "ldh", "albumin", "crp", "haemoglobin"):
            o = record.latest_by_key(store, p.id, key, before=start, within_days=30)
            assert o is not None and o.unit == codes.BY_KEY[key].unit, (p.id, key)
        ldh = record.latest_by_key(store, p.id, "ldh", before=start)
        assert ldh.reference_high in (225, 250)
        with_pdl1 += record.latest_by_key(store, p.id, "pdl1_tps") is not None
        rt = record.treatments(store, p.id, kind="radiotherapy")[0]
        assert rt.dose_gy >= 50 and rt.fractions >= 20 and rt.start_date == start
        io = record.treatments(store, p.id, kind="systemic")[0]
        assert io.subkind == "immunotherapy"
        s = record.get_summary(store, p.id, at=result.cohort.reference_date)
        assert s.stage[:3] in ("III", "IVA") and s.latest_ecog is not None
        assert {"diameter_mm", "lobe", "side"} <= p.tumour.keys()
    assert 5 <= with_pdl1 < 10


def test_chemo_patients_have_toxicity_model_inputs(demo):
    store, result = demo
    languages, hospitalised, converted = set(), 0, 0
    for p in result.cohort.group("chemo"):
        s = record.get_summary(store, p.id, at=result.cohort.reference_date)
        assert s.age >= 65
        (regimen,) = record.treatments(store, p.id, kind="systemic")
        assert regimen.agents and regimen.cycles and regimen.dose_intensity <= 1.0
        for key in ("haemoglobin", "creatinine", "weight", "height", "hearing", "falls_6m",
                    "walk_limited", "needs_medication_help", "social_decreased"):
            assert record.latest_by_key(store, p.id, key) is not None, (p.id, key)
        creat = record.latest_by_key(store, p.id, "creatinine")
        converted += creat.original_unit == "umol/L"
        notes = record.notes(store, p.id)
        assert 2 <= len(notes) <= 5
        languages |= {n.language for n in notes}
        hospitalised += any(o.unplanned for o in record.outcomes(store, p.id,
                                                                 "hospitalisation"))
    assert languages == {"fr", "en"} and hospitalised >= 2 and converted >= 3
    assert any(t.dose_intensity < 1 for p in result.cohort.group("chemo")
               for t in record.treatments(store, p.id, kind="systemic"))


def test_notes_search_on_demo(demo):
    store, _ = demo
    assert record.search_notes(store, "fievre")
    assert record.search_notes(store, "neutropenie")
    assert record.search_notes(store, "fever")


def test_imaging_hook_receives_the_cohort(monkeypatch, tmp_path):
    import sys
    import types

    from oncoboard.store import open_store

    seen = {}
    module = types.ModuleType("oncoboard.imaging.demo")

    def generate_demo_imaging(store, settings, cohort):
        seen["lung"] = [p.tumour["diameter_mm"] for p in cohort.group("lung")]
        return "fake imaging"

    module.generate_demo_imaging = generate_demo_imaging
    monkeypatch.setitem(sys.modules, "oncoboard.imaging.demo", module)
    store = open_store(tmp_path)
    result = run_demo(store, Settings(data_dir=tmp_path))
    assert len(seen["lung"]) == 10 and result.imaging == "fake imaging"
    assert "imaging: fake imaging" in result.describe()
    assert dt.date.fromisoformat(result.cohort.reference_date)
