"""Derivations of the published scores: dNLR (LIPI), LDH over the lab's own limit, age at
diagnosis (CTS5); a missing or impossible ingredient refuses, with the reason."""

from __future__ import annotations

import math

from inference_helpers import REF, add_patient

from oncoboard.inference.record_access import DERIVATIONS, RecordView
from oncoboard.patients import codes


def _obs(store, pid, key, code, value, day="2024-02-20", **extra):
    store.db["observations"].insert({"id": f"{pid}-{key}", "patient_id": pid, "source_id": key,
                                     "category": "laboratory", "code_system": codes.LOINC,
                                     "code": code, "value_num": value, "unit": "10*9/L",
                                     "effective": day, **extra})


def _derive(store, pid, name, window=30):
    return DERIVATIONS[name][0](RecordView(store, pid, REF), window)


def test_dnlr_uses_white_cells_minus_neutrophils(store):
    add_patient(store, "D1")
    _obs(store, "D1", "anc", "751-8", 6.0)
    _obs(store, "D1", "wbc", "26464-8", 8.0)
    got = _derive(store, "D1", "dnlr")
    assert got.value == 3.0 and [u["code"] for u in got.used] == ["751-8", "26464-8"]
    assert _derive(store, "D1", "dnlr", window=1) is None        # counts outside the window


def test_dnlr_refuses_when_white_cells_do_not_exceed_neutrophils(store):
    add_patient(store, "D2")
    _obs(store, "D2", "anc", "751-8", 8.0)
    _obs(store, "D2", "wbc", "26464-8", 8.0, day="2024-02-21")
    got = _derive(store, "D2", "dnlr")
    assert math.isnan(got.value) and any("undefined" in n for n in got.notes)
    assert any("different days" in n for n in got.notes)


def test_ldh_ratio_uses_the_observation_limit_and_never_a_default(store):
    add_patient(store, "L1", ldh=300.0, uln=250.0)
    got = _derive(store, "L1", "ldh_uln_ratio_lab")
    assert got.value == 1.2 and got.used[0]["reference_high"] == 250.0
    add_patient(store, "L2", ldh=300.0)
    store.db.execute("update observations set reference_high = null where patient_id = 'L2'")
    got = _derive(store, "L2", "ldh_uln_ratio_lab")
    assert math.isnan(got.value) and "no upper limit" in got.notes[0]
    # the older derivation still falls back to the code table (unchanged)
    assert _derive(store, "L2", "ldh_uln_ratio").notes


def test_age_at_diagnosis(store):
    add_patient(store, "A1", birth="1960-07-01")          # diagnosed 2023-06-01 (helper)
    got = _derive(store, "A1", "age_at_diagnosis")
    assert got.value == 62.0 and got.used[0]["diagnosis_date"] == "2023-06-01"
    add_patient(store, "A2", icd=None)
    assert _derive(store, "A2", "age_at_diagnosis") is None


def test_treatment_started_at_least_min_days_before():
    import datetime as dt
    from types import SimpleNamespace

    from oncoboard.inference.manifest import TreatmentPredicate
    from oncoboard.inference.population import treatment_matches

    pred = TreatmentPredicate(kind="systemic", subkind="endocrine", min_days=1644)
    day = dt.date(2026, 1, 1)

    def t(start):
        return SimpleNamespace(kind="systemic", subkind="endocrine", agents=["letrozole"],
                               line=1, start_date=start)
    assert treatment_matches(t("2021-01-01"), pred, day)
    assert not treatment_matches(t("2025-06-01"), pred, day)
    assert not treatment_matches(t(None), pred, day)
