"""Validation at scale and without future data: the O(n log n) C-indexes against the pairwise
definition, the chunked record reader and the pruned graph against the plain ones, treatment
inputs and tumour fields as they stood on the reference date."""

from __future__ import annotations

import datetime as dt

import cohorts
import numpy as np
import pytest

from oncoboard.inference import engine, validation, validation_batch, validation_cohort
from oncoboard.inference import validation_metrics as vm
from oncoboard.inference.discovery import get_plugin
from oncoboard.inference.record_access import RecordView
from oncoboard.inference.record_chunk import ChunkRecord
from oncoboard.patients import importer, record


def _pairwise(time, event, risk, u, w):
    """The definition, pair by pair (scikit-survival's comparable pairs, ties 1/2 within 1e-8)."""
    num = den = 0.0
    for i in np.flatnonzero(event):
        for j in range(len(time)):
            if not (time[j] > time[i] or (time[j] == time[i] and not event[j])):
                continue
            d = risk[i] - risk[j]
            score = 0.5 if abs(d) <= vm.TIED_TOL else float(d > 0)
            num += u[i] * w[j] * score
            den += u[i] * w[j]
    return num / den


def test_fast_concordance_equals_the_pairwise_definition():
    rng = np.random.default_rng(11)
    for _ in range(12):
        n = int(rng.integers(5, 90))
        t = np.round(rng.exponential(10, n))
        e = rng.random(n) < 0.5
        e[0] = True
        # risks tied exactly, within the tolerance, and just outside it
        r = np.round(rng.normal(size=n), 1) + rng.choice([0.0, 5e-9, 2e-8], n)
        w = rng.integers(0, 4, (3, n)).astype(float)
        w[:, 0] += 1
        u = w * rng.random((3, n))  # non-integer row weights, as Uno's
        got_w, got_u = vm.concordance_many(t, e, r, [w, u], w)
        for b in range(3):
            assert got_w[b] == pytest.approx(_pairwise(t, e, r, w[b], w[b]), abs=1e-12)
            assert got_u[b] == pytest.approx(_pairwise(t, e, r, u[b], w[b]), abs=1e-12)


def test_bootstrap_batches_are_the_bootstrap_weights():
    whole = vm.bootstrap_weights(37, 11, seed=4)
    parts = np.vstack(list(vm.bootstrap_batches(37, 11, seed=4, batch=3)))
    assert np.array_equal(whole, parts)


def test_chunk_record_reads_what_record_reads(gbsg2_store):
    ids = [f"GBSG-{i:04d}" for i in (1, 2, 3, 50)]
    chunk = ChunkRecord(gbsg2_store, ids)
    for pid in ids:
        assert chunk.get_patient(gbsg2_store, pid) == record.get_patient(gbsg2_store, pid)
        assert chunk.conditions(gbsg2_store, pid) == record.conditions(gbsg2_store, pid)
        assert chunk.treatments(gbsg2_store, pid) == record.treatments(gbsg2_store, pid)
        assert chunk.notes(gbsg2_store, pid) == record.notes(gbsg2_store, pid)
        for kw in ({}, {"code": "pr-fmol", "system": "urn:oncoboard:code",
                        "before": "1984-01-01"},
                   {"code": "pr-fmol", "system": "urn:oncoboard:code", "before": "2030-01-01"},
                   {"category": "tumor-marker"}):
            assert chunk.observations(gbsg2_store, pid, **kw) == \
                record.observations(gbsg2_store, pid, **kw)


def test_pruned_graph_computes_the_same_output(settings):
    from oncoboard.inference import runtime

    plugin = get_plugin(settings, "relapse-gbsg2")
    data = plugin.model_path.read_bytes()
    small = validation_batch.pruned_graph(data, "rfs")
    assert small is not None and len(small) < len(data)
    ort = runtime.load_onnxruntime()
    x = np.random.default_rng(2).uniform(0, 3, (50, 8)).astype(np.float32)
    full = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    pruned = ort.InferenceSession(small, providers=["CPUExecutionProvider"])
    assert [o.name for o in pruned.get_outputs()] == ["rfs"]
    assert np.array_equal(full.run(["rfs"], {"features": x})[0],
                          pruned.run(["rfs"], {"features": x})[0])
    assert validation_batch.pruned_graph(data, "no-such-output") is None


def _reference_day(store, settings, pid):
    m = get_plugin(settings, "relapse-gbsg2").require()
    return validation_cohort.build_cohort(store, m, 60.0, cohort=pid)[0].reference_date


def test_treatment_input_sees_no_treatment_started_after_the_reference_date(gbsg2_store,
                                                                             settings):
    pid = next(p for p in (f"GBSG-{i:04d}" for i in range(1, 50))
               if any(t.kind == "systemic" for t in record.treatments(gbsg2_store, p)))
    day = _reference_day(gbsg2_store, settings, pid)
    plugin = get_plugin(settings, "relapse-gbsg2")
    case = validation_cohort.build_cohort(gbsg2_store, plugin.require(), 60.0, cohort=pid)[0]
    on_day = next(validation.predict_cases(gbsg2_store, settings, plugin, [case]))
    assert "later_treatment" not in on_day.extra
    # tamoxifen started six weeks after surgery
    later = (day + dt.timedelta(days=42)).isoformat()
    gbsg2_store.db.execute("UPDATE treatments SET start_date = ? WHERE patient_id = ? AND "
                           "kind = 'systemic'", [later, pid])
    after = next(validation.predict_cases(gbsg2_store, settings, plugin, [case]))
    assert after.extra["later_treatment"] == ["horth"]
    assert after.surv[59] < on_day.surv[59]  # run as untreated: worse predicted survival
    # the live record of the day still counts it: a start after the day is a planned treatment
    live = engine.predict_patient(gbsg2_store, settings, pid, date=day,
                                  plugin_ids=["relapse-gbsg2"], save=False)[0].to_dict()
    assert live["inputs"]["horth"]["value"] == "yes"
    r = validation.validate(gbsg2_store, settings, "relapse-gbsg2", cohort=pid, n_boot=0)
    assert any(c.startswith("input horth: 1 patients had a matching treatment only after")
               for c in r["caveats"])


def test_tumour_field_recorded_after_the_reference_date_is_not_used(gbsg2_store, settings,
                                                                    tmp_path):
    pid = "GBSG-0003"
    day = _reference_day(gbsg2_store, settings, pid)
    before = record.primary_cancer(gbsg2_store, pid).grade
    new = "1" if before != "1" else "3"
    later = (day + dt.timedelta(days=400)).isoformat()
    csv = cohorts.write_csv(tmp_path / "later.csv", [
        [pid, "observation", "regrade", "", "urn:oncoboard:code", "histologic-grade", "", new,
         "", later, "", "", "", "", ""]])
    importer.import_file(gbsg2_store, csv)
    assert record.primary_cancer(gbsg2_store, pid).grade == new  # the record keeps one value
    assert RecordView(gbsg2_store, pid, day).primary_cancer().grade == new
    assert RecordView(gbsg2_store, pid, day, retrospective=True).primary_cancer().grade == before
    assert RecordView(gbsg2_store, pid, dt.date.fromisoformat(later),
                      retrospective=True).primary_cancer().grade == new
    plugin = get_plugin(settings, "relapse-gbsg2")
    case = validation_cohort.build_cohort(gbsg2_store, plugin.require(), 60.0, cohort=pid)[0]
    s = next(validation.predict_cases(gbsg2_store, settings, plugin, [case]))
    assert s.refused is None
