"""The demo chemotherapy patients get toxicity predictions from the record: notes, labs, CARG items.

Imports four demo patients (FHIR bundles from oncoboard.patients.demo_cohort) into a fresh store
and runs the bundled toxicity-hosp30 and carg-toxicity plugins through the engine on the demo's
board date, as `oncoboard predict` does.
"""

from __future__ import annotations

import pytest
from demo_records import demo_store

from oncoboard.inference import engine


def predict_patient(*args, **kwargs):
    """Return the engine's predictions as documents (README, "Predictions JSON schema")."""
    return [p.to_dict() for p in engine.predict_patient(*args, **kwargs)]


PATIENTS = ["DEMO-CH-001", "DEMO-CH-002", "DEMO-CH-003", "DEMO-CH-008"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with demo_store(tmp_path_factory.mktemp("demo-chemo"),
                    lambda p: p.id in PATIENTS) as (store, settings, cohort, _):
        yield {pid: {r["plugin"]["id"]: r for r in predict_patient(
            store, settings, pid, date=cohort.reference_date,
            plugin_ids=["toxicity-hosp30", "carg-toxicity"], save=False)} for pid in PATIENTS}


@pytest.mark.parametrize("pid", PATIENTS)
def test_both_toxicity_plugins_run_from_the_record(results, pid):
    tox, carg = results[pid]["toxicity-hosp30"], results[pid]["carg-toxicity"]
    assert tox["status"] == "ok", tox.get("refusal")
    assert carg["status"] == "ok", carg.get("refusal")
    p = tox["outputs"]["hospitalisation_30d"]["value"]
    assert 0 < p < 1
    assert any(w["code"] == "synthetic" for w in tox["warnings"])
    score = carg["outputs"]["carg_score"]["value"]
    assert 0 <= score <= 23 and score == int(score)
    # CARG is additive: occluding an item's input removes exactly its points. Sex only sets the
    # haemoglobin threshold, so its own occlusion double-counts a man's Hb 10-11 g/dL item
    # (reported by the engine as a residual): leave it out of the sum.
    contributions = carg["explanation"]["contributions"]
    assert sum(c["contribution"] for c in contributions if c["input"] != "sex") == score


@pytest.mark.parametrize("pid", PATIENTS)
def test_toxicity_evidence_points_into_the_notes(results, pid):
    sentences = results[pid]["toxicity-hosp30"]["explanation"]["sentences"]
    assert sentences
    assert all(s["note_id"].startswith(pid) and s["end"] > s["start"] for s in sentences)
