"""PREDICT and relapse-gbsg2 estimate survival from surgery: they serve the decision after it.

A board five years after surgery (the CTS5 question: extend endocrine therapy?) is outside their
intended use: not run automatically there, and flagged with the reason in plain words when asked
for by name. Demo breast patients imported into a fresh store; the engine as `oncoboard predict`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from demo_records import demo_store

from oncoboard.inference import engine
from oncoboard.patients import record

FROM_SURGERY = ("predict-breast-v2.1", "relapse-gbsg2")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_store(tmp_path_factory.mktemp("demo-breast"),
                    lambda p: p.id.startswith("DEMO-BR-")) as (store, settings, cohort, breast):
        yield (store, settings, dt.date.fromisoformat(cohort.reference_date),
               [p.id for p in breast])


def _applicable(store, settings, pid, day) -> set[str]:
    return {p.id for p, _ in engine.applicable_plugins(store, settings, pid, day)}


def test_run_at_the_board_after_surgery_not_five_years_later(demo):
    store, settings, day, patients = demo
    later = day + dt.timedelta(days=5 * 365)
    both = [pid for pid in patients
            if set(FROM_SURGERY) <= _applicable(store, settings, pid, day)]
    assert both, "no demo breast patient gets both plugins at the board after surgery"
    for pid in both:
        assert not set(FROM_SURGERY) & _applicable(store, settings, pid, later), pid
    docs = [p.to_dict() for p in engine.predict_patient(
        store, settings, both[0], date=later.isoformat(), plugin_ids=list(FROM_SURGERY),
        save=False)]
    assert {d["plugin"]["id"] for d in docs} == set(FROM_SURGERY)
    for doc in docs:
        assert doc["outside_intended_use"], doc["plugin"]["id"]
        assert doc["population"]["failed"] == ["treatment"]
        assert doc["population"]["reasons"] == [
            "no treatment matching the intended use: surgery started at most 1.0 years before "
            f"{later.isoformat()} (or planned)"]
    # the day a year after surgery is still inside, the next day outside
    [surgery] = [dt.date.fromisoformat(t.start_date[:10])
                 for t in record.treatments(store, both[0]) if t.kind == "surgery"]
    year = surgery + dt.timedelta(days=365)
    assert set(FROM_SURGERY) <= _applicable(store, settings, both[0], year)
    assert not set(FROM_SURGERY) & _applicable(store, settings, both[0],
                                               year + dt.timedelta(days=1))


def test_the_five_year_demo_patient_gets_cts5_alone(demo):
    """DEMO-BR-013, five years on letrozole: the board's question is CTS5's, not PREDICT's."""
    store, settings, day, patients = demo
    assert "DEMO-BR-013" in patients
    assert _applicable(store, settings, "DEMO-BR-013", day) == {"breast-cts5"}
    [doc] = [p.to_dict() for p in engine.predict_patient(store, settings, "DEMO-BR-013",
                                                         date=day, save=False)]
    assert doc["plugin"]["id"] == "breast-cts5" and doc["status"] == "ok"
    assert not doc["outside_intended_use"]
    # 2 nodes, 22 mm, grade 2, 62 at diagnosis: the published equation, group "high"
    age = doc["inputs"]["age"]["value"]
    expected = 0.438 * 2 + 0.988 * (0.093 * 22 - 0.001 * 22 ** 2 + 0.375 * 2 + 0.017 * age)
    assert doc["outputs"]["cts5"]["value"] == pytest.approx(expected, abs=1e-9)
    assert doc["outputs"]["cts5"]["band"].startswith("high")
