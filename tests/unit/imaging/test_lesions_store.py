"""Lesions and measurements: stored append-only, audited, verified, turned into RECIST."""

from __future__ import annotations

import numpy as np
import pg_server
import pytest

from oncoboard import audit
from oncoboard.board.trail import verify_trail
from oncoboard.errors import NotFoundError
from oncoboard.imaging import lesions
from oncoboard.imaging.volume import Volume

PID = "LUN-9"


@pytest.fixture
def store(data_dir, db_target):
    """A fresh store: the data folder's SQLite file, or a PostgreSQL database (each test runs
    on both)."""
    from oncoboard.store import open_store

    s = open_store(db_target)
    yield s
    s.close()


@pytest.fixture
def patient(store):
    store.db["patients"].insert({"id": PID, "family_name": "Test", "given_name": "P",
                                 "birth_date": "1950-01-01", "sex": "male", "synthetic": 1,
                                 "imported_at": "2026-01-01T00:00:00+00:00"})
    return PID


@pytest.fixture
def volume():
    affine = np.array([[0, 0, 1.5, -100], [0, 2.0, 0, -50], [3.0, 0, 0, 20], [0, 0, 0, 1]],
                      dtype=float)  # slice -> z (3 mm), row -> y (2 mm), column -> x (1.5 mm)
    return Volume(np.zeros((10, 64, 64), np.int16), affine, "CT", "1.2.3", "1.2",
                  meta={"sop_uids": [f"1.2.3.{k}" for k in range(10)]})


def test_axis_on_volume_maps_pixels_to_lps_mm(volume):
    axis = lesions.axis_on_volume(volume, 4, (10, 10), (10, 30))
    assert axis.mm == pytest.approx(30.0)
    assert axis.lps[0] == (-85.0, -30.0, 32.0)
    assert axis.index[1] == (4.0, 10.0, 30.0)
    with pytest.raises(lesions.LesionError):
        lesions.axis_on_volume(volume, 4, (10, 10), (10, 99))
    with pytest.raises(lesions.LesionError):
        lesions.axis_on_volume(volume, 12, (10, 10), (10, 20))


def _measure(store, volume, number, date, p1, p2, **kw):
    axis = lesions.axis_on_volume(volume, 4, p1, p2)
    return lesions.add_measurement(store, PID, number, long_axis=axis, timepoint=date,
                                   slice_index=4, sop_uid=volume.meta["sop_uids"][4], **kw)


def test_define_measure_remeasure_and_recist(store, patient, volume):
    a = lesions.define_lesion(store, PID, kind="target", label="lung RUL")
    b = lesions.define_lesion(store, PID, kind="target", label="liver seg 7")
    assert (a.number, a.organ, b.organ) == (1, "lung", "liver")
    _measure(store, volume, 1, "2026-01-10", (10, 10), (10, 30))   # 30 mm
    _measure(store, volume, 2, "2026-01-10", (20, 10), (20, 30))   # 30 mm
    first = _measure(store, volume, 1, "2026-03-10", (10, 10), (10, 20))  # 15 mm
    second = _measure(store, volume, 1, "2026-03-10", (10, 10), (10, 22))  # re-measured: 18
    assert second.supersedes == first.id
    lesions.add_measurement(store, PID, 2, status="absent", timepoint="2026-03-10")
    current = lesions.measurements_for_patient(store, PID)
    assert [m.long_axis_mm for m in current] == [30.0, 30.0, 18.0, None]
    assert current[0].sop_uid == "1.2.3.4" and current[0].long_axis_lps[0] == [-85.0, -30.0, 32.0]
    result = lesions.recist_for_patient(store, PID)
    tp = result.latest
    assert (tp.sum_mm, tp.target, tp.overall) == (18.0, "PR", "PR")
    assert tp.change_from_baseline_pct == pytest.approx(-70.0)
    prev = lesions.previous_measurement(store, PID, 1, before="2026-03-10")
    assert prev is not None and prev.long_axis_mm == 30.0
    assert verify_trail(store).ok


def test_fragments_and_withdrawal(store, patient, volume):
    lesions.define_lesion(store, PID, kind="target", label="lung")
    _measure(store, volume, 1, "2026-01-10", (10, 10), (10, 40))       # 45 mm
    f1 = _measure(store, volume, 1, "2026-03-10", (10, 10), (10, 20))  # 15
    _measure(store, volume, 1, "2026-03-10", (30, 10), (30, 20), fragment=True)  # 15
    assert lesions.recist_for_patient(store, PID).latest.sum_mm == 30.0
    with pytest.raises(lesions.LesionError, match="several fragments"):
        _measure(store, volume, 1, "2026-03-10", (10, 10), (10, 20))
    lesions.withdraw_measurement(store, PID, f1.id, "wrong slice")
    assert lesions.recist_for_patient(store, PID).latest.sum_mm == 15.0
    assert verify_trail(store).ok


def test_bad_input(store, patient, volume):
    with pytest.raises(lesions.LesionError):
        lesions.define_lesion(store, PID, kind="maybe", label="lung")
    with pytest.raises(NotFoundError):
        lesions.define_lesion(store, "NOBODY", kind="target", label="lung")
    node = lesions.define_lesion(store, PID, kind="target", label="subcarinal", is_node=True,
                                 organ="mediastinum")
    axis = lesions.axis_on_volume(volume, 4, (10, 10), (10, 30))
    with pytest.raises(lesions.LesionError, match="short axis"):
        lesions.add_measurement(store, PID, node.number, long_axis=axis, timepoint="2026-01-01")
    with pytest.raises(lesions.LesionError, match="date"):
        lesions.add_measurement(store, PID, node.number, status="absent")
    with pytest.raises(NotFoundError):
        lesions.add_measurement(store, PID, 7, status="absent", timepoint="2026-01-01")


def test_rows_are_append_only_and_edits_are_found(store, patient, volume):
    lesions.define_lesion(store, PID, kind="target", label="lung")
    m = _measure(store, volume, 1, "2026-01-10", (10, 10), (10, 40))
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("UPDATE lesion_measurements SET long_axis_mm = 10 WHERE id = ?", [m.id])
    pg_server.drop_trigger(store, "lesion_measurements_no_update")  # tampering
    store.db.execute("UPDATE lesion_measurements SET long_axis_mm = 10 WHERE id = ?", [m.id])
    entry = audit.entries(store, event_type="lesion.measured")[0]
    assert lesions.verify_lesions(store) == [
        audit.Problem(entry.seq, "edited", f"measurement {m.id} differs from its audit entry")]
    assert not verify_trail(store).ok


def test_deleted_measurement_is_found(store, patient, volume):
    lesions.define_lesion(store, PID, kind="target", label="lung")
    m = _measure(store, volume, 1, "2026-01-10", (10, 10), (10, 40))
    pg_server.drop_trigger(store, "lesion_measurements_no_delete")
    store.db.execute("DELETE FROM lesion_measurements WHERE id = ?", [m.id])
    problems = lesions.verify_lesions(store)
    assert [p.kind for p in problems] == ["deleted"]
    assert "missing from the database" in problems[0].detail

