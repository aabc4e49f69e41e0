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
    result = run_demo(store, Settings(data_dir=folder), imaging=False,
                      date=demo_cohort.REFERENCE_DATE)
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
    assert len(patients) == 33 and result.groups == {"breast": 13, "lung": 10, "chemo": 10}
    assert all(p.synthetic for p in patients)
    assert store.db.execute("SELECT count(*) FROM patients WHERE synthetic = 1").fetchone()[0] \
        == 33
    assert {p.id[:7] for p in patients} == {"DEMO-BR", "DEMO-LU", "DEMO-CH"}
    assert (result.folder / "DEMO-LU-001.json").is_file()


def test_rerun_changes_nothing(demo, tmp_path):
    store, result = demo
    before = store.conn.total_changes
    again = run_demo(store, Settings(data_dir=result.folder.parent.parent), imaging=False)
    assert all(r.already_imported for r in again.reports)
    assert store.conn.total_changes == before


def _dates_and_values(node, path=""):
    """Yield (path, value) for every leaf of a JSON tree."""
    if isinstance(node, dict):
        for k, v in sorted(node.items()):
            yield from _dates_and_values(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _dates_and_values(v, f"{path}/{i}")
    else:
        yield path, node


def test_every_date_moves_with_the_reference_date_and_nothing_else_changes():
    a = demo_cohort.generate(date="2026-11-30")
    b = demo_cohort.generate(date=dt.date(2031, 3, 14))
    assert (a.reference_date, b.reference_date) == ("2026-11-30", "2031-03-14")
    shift = dt.date(2031, 3, 14) - dt.date(2026, 11, 30)
    dates = 0
    for pa, pb in zip(a.patients, b.patients, strict=True):
        if pa.group != "chemo":  # the lung CTs and breast MRs of the imaging demo
            assert dt.date.fromisoformat(pb.study_date) - dt.date.fromisoformat(pa.study_date) \
                == shift
        leaves_a = list(_dates_and_values(pa.bundle()))
        leaves_b = list(_dates_and_values(pb.bundle()))
        assert [k for k, _ in leaves_a] == [k for k, _ in leaves_b]
        for (key, va), (_, vb) in zip(leaves_a, leaves_b, strict=True):
            if isinstance(va, str) and len(va) >= 10 and va[4] == "-" and va[7] == "-" \
                    and va[:4].isdigit():
                moved = dt.date.fromisoformat(vb[:10]) - dt.date.fromisoformat(va[:10])
                assert moved == shift and va[10:] == vb[10:], (pa.id, key, va, vb)
                dates += 1
            else:
                assert va == vb, (pa.id, key)
    assert dates > 500


def test_ages_on_the_reference_date_do_not_depend_on_it():
    def ages(cohort):
        ref = dt.date.fromisoformat(cohort.reference_date)
        out = []
        for p in cohort.patients:
            born = dt.date.fromisoformat(p.resources[0]["birthDate"])
            out.append(ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day)))
        return out

    base = ages(demo_cohort.generate())
    for day in ("2024-02-29", "2027-01-01", "2031-03-14", "2040-12-31"):
        assert ages(demo_cohort.generate(date=day)) == base, day


def test_demo_date_defaults_to_today_and_stays_with_the_folder(tmp_path):
    from oncoboard.errors import OncoboardError
    from oncoboard.store import open_store

    store = open_store(tmp_path)
    settings = Settings(data_dir=tmp_path)
    first = run_demo(store, settings, imaging=False)
    assert first.cohort.reference_date == dt.date.today().isoformat()
    from oncoboard.board.meetings import list_meetings

    (meeting,) = list_meetings(store)
    assert meeting.date == first.cohort.reference_date
    # Again, without a date (another day, say): the folder's demo is kept as it is.
    again = run_demo(store, settings, imaging=False)
    assert again.cohort.reference_date == first.cohort.reference_date
    assert all(r.already_imported for r in again.reports)
    with pytest.raises(OncoboardError, match="already holds the demo cohort of"):
        run_demo(store, settings, imaging=False, date="2030-01-02")
    with pytest.raises(OncoboardError, match="invalid date"):
        run_demo(store, Settings(data_dir=tmp_path / "other"), imaging=False, date="30/01/2030")
    store.close()


def test_cli_demo_date(tmp_path, capsys):
    from oncoboard.cli import main

    assert main(["demo", "--data-dir", str(tmp_path), "--no-imaging", "--date", "2029-05-06",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference_date"] == "2029-05-06"
    bundle = json.loads((tmp_path / "demo" / "fhir" / "DEMO-LU-001.json").read_text())
    labs = [e["resource"]["effectiveDateTime"][:10] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"]
    assert labs and all("2029-04-01" <= d <= "2029-05-06" for d in labs)
    assert main(["demo", "--data-dir", str(tmp_path), "--no-imaging", "--date",
                 "2029-05-07"]) == 2
    assert "use a fresh --data-dir" in capsys.readouterr().err


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
        chemo = [t for t in systemic if t.subkind == "chemotherapy"]
        if chemo:  # the pre-chemotherapy work-up the toxicity plugins read
            for key in ("haemoglobin", "creatinine", "weight", "height", "ecog", "hearing",
                        "falls_6m", "walk_limited", "needs_medication_help",
                        "social_decreased"):
                o = record.latest_by_key(store, p.id, key)
                assert o is not None and o.effective[:10] < chemo[0].start_date[:10], key
            assert [n.note_type for n in record.notes(store, p.id)] == ["consultation"]


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
