"""Derivations for PREDICT Breast: Ki67 status and chemotherapy generation from the record."""

from __future__ import annotations

import json

import pytest
from inference_helpers import REF, add_patient

from oncoboard.inference.record_access import DERIVATIONS, RecordView
from oncoboard.store import open_store


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path)
    yield s
    s.close()


def derive(store, name, pid="P1"):
    fn, _ = DERIVATIONS[name]
    return fn(RecordView(store, pid, REF), 365)


def _chemo(store, pid, tid, agents, start="2023-07-01", subkind="chemotherapy"):
    store.db["treatments"].insert({"id": tid, "patient_id": pid, "source_id": tid,
                                   "kind": "systemic", "subkind": subkind,
                                   "agents": json.dumps(agents), "start_date": start})


@pytest.mark.parametrize("pct, status", [(25.0, "positive"), (10.0, "negative"),
                                         (10.5, "positive"), (3.0, "negative")])
def test_ki67_status_from_the_cancer(store, pct, status):
    add_patient(store, "P1", icd="C50.4", sex="female")
    store.db.execute("UPDATE conditions SET ki67_percent = ? WHERE patient_id = 'P1'", [pct])
    got = derive(store, "ki67_status")
    assert got.value == status and got.used[0]["ki67_percent"] == pct


def test_ki67_status_missing_when_never_measured(store):
    add_patient(store, "P1", icd="C50.4", sex="female")
    assert derive(store, "ki67_status") is None


def test_chemo_generation(store):
    add_patient(store, "P1", icd="C50.4", sex="female")
    assert derive(store, "chemo_generation").value == "none"
    _chemo(store, "P1", "t-endo", ["letrozole"], subkind="endocrine")
    assert derive(store, "chemo_generation").value == "none"
    _chemo(store, "P1", "t-ec", ["epirubicin", "cyclophosphamide"])
    assert derive(store, "chemo_generation").value == "second"
    _chemo(store, "P1", "t-pac", ["paclitaxel"], start="2023-10-01")
    assert derive(store, "chemo_generation").value == "third"


def test_chemo_generation_unknown_regimen_is_missing_not_guessed(store):
    add_patient(store, "P1", icd="C50.4", sex="female")
    _chemo(store, "P1", "t-cmf", ["cyclophosphamide", "methotrexate", "fluorouracil"])
    assert derive(store, "chemo_generation") is None


def test_planned_chemo_counts_like_the_other_treatment_inputs(store):
    add_patient(store, "P1", icd="C50.4", sex="female")
    _chemo(store, "P1", "t-planned", ["docetaxel", "cyclophosphamide"], start="2024-06-01")
    assert derive(store, "chemo_generation").value == "third"


def test_regimen_items_come_from_the_chemotherapy_not_the_endocrine_therapy(store):
    # Adjuvant EC then letrozole started after it: n_agents and dose intensity (CARG,
    # toxicity) describe the chemotherapy, whichever started last.
    add_patient(store, "P1", icd="C50.4", sex="female")
    _chemo(store, "P1", "t-ec", ["epirubicin", "cyclophosphamide"], start="2024-01-10")
    store.db.execute("UPDATE treatments SET dose_intensity = 0.8 WHERE id = 't-ec'")
    _chemo(store, "P1", "t-endo", ["letrozole"], start="2024-02-01", subkind="endocrine")
    assert derive(store, "n_agents").value == 2
    assert derive(store, "dose_intensity").value == 0.8
    store.db.execute("DELETE FROM treatments WHERE id = 't-ec'")
    assert derive(store, "n_agents").value == 1  # no chemotherapy: the systemic one in course
