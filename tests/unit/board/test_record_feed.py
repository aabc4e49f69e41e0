"""Every path that changes what a patient screen shows notes it in the change feed, in the same
transaction, on SQLite and PostgreSQL: predictions, measurements, lesions, the imaging index,
a record import, a decision. A rolled-back write leaves the feed where it was."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_board_case_view import _ct_with_gtv, _store_prediction  # noqa: E402

from oncoboard.board import changes, decisions  # noqa: E402
from oncoboard.identity import User  # noqa: E402
from oncoboard.store import feed, open_store  # noqa: E402


@pytest.fixture
def other(store):  # noqa: ANN001, ANN201
    second = open_store(store.location)
    second.user = User("bob", workstation="ws-bob")
    yield second
    second.close()


def _kinds(found: feed.Changes, pid: str) -> set[str]:
    return set(found.patients.get(pid, {}))


def test_predictions_and_a_decision_move_the_feed_for_their_patient(store, other, meeting):  # noqa: ANN001
    token = changes.change_token(store)
    _store_prediction(other, "BRC-001", "relapse-model")
    found = changes.changes_since(store, token)
    assert _kinds(found, "BRC-001") == {"predictions"}
    assert found.patients["BRC-001"]["predictions"][0] == "bob"
    assert not found.meetings and "BRC-002" not in found.patients
    decisions.record_decision(other, meeting.id, "BRC-002", plan="Surgery", rationale="R")
    again = changes.changes_since(store, found.token)
    assert _kinds(again, "BRC-002") == {"decision"} and meeting.id in again.meetings
    assert not again.agenda_changed(meeting.id)  # a decision, not the agenda
    from oncoboard.board import meetings

    meetings.add_case(other, meeting.id, "LUN-001", question="SBRT?")
    assert changes.changes_since(store, again.token).agenda_changed(meeting.id)
    assert again.touches(None, ["BRC-002"]) and not again.touches(None, ["LUN-001"])
    # one view saw only the first change: `after` keeps only what it did not see
    assert again.after(found.token).token == again.token
    assert not again.after(again.token)


def test_the_imaging_index_and_measurements_move_the_feed(store, other, tmp_path):  # noqa: ANN001
    from oncoboard.imaging import index_paths, list_series, load_series
    from oncoboard.imaging import lesions as les
    from oncoboard.imaging import measurements as vm

    token = changes.change_token(store)
    index_paths(other, [_ct_with_gtv(tmp_path, "LUN-001")])
    found = changes.changes_since(store, token)
    assert _kinds(found, "LUN-001") == {"imaging"}
    uid = next(s.series_uid for s in list_series(store, "LUN-001") if s.modality == "CT")
    ct = load_series(store, uid)
    vm.keep_measurement(other, "LUN-001", ct, kind="distance",
                        points=[[15, 20, 40], [15, 28, 40]])
    again = changes.changes_since(store, found.token)
    assert _kinds(again, "LUN-001") == {"measurements"}
    les.define_lesion(other, "LUN-001", kind="target", label="lung RUL")
    third = changes.changes_since(store, again.token)
    assert _kinds(third, "LUN-001") == {"measurements"} and third.token > again.token


def test_a_record_import_moves_the_feed_for_each_patient(store, other, tmp_path):  # noqa: ANN001
    from oncoboard.patients.importer import import_file

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "NEW-001", "gender": "female",
                      "birthDate": "1970-01-01", "name": [{"family": "Test", "given": ["A"]}]}},
        {"resource": {"resourceType": "Patient", "id": "NEW-002", "gender": "male",
                      "birthDate": "1960-01-01", "name": [{"family": "Test", "given": ["B"]}]}}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    token = changes.change_token(store)
    report = import_file(other, path)
    found = changes.changes_since(store, token)
    assert set(found.patients) == set(report.patients) and len(report.patients) == 2
    assert all(_kinds(found, p) == {"record"} for p in report.patients)


def test_a_rolled_back_write_leaves_the_feed_and_own_changes_are_told(store):  # noqa: ANN001
    token = changes.change_token(store)
    with pytest.raises(RuntimeError), store.transaction():
        feed.note_record_change(store, ["BRC-001"], "measurements")
        raise RuntimeError("the write fails after the note")
    assert changes.change_token(store) == token
    assert not changes.changes_since(store, token)
    mine: list[int] = []
    with feed.written_to(mine.append), store.transaction():
        seq = feed.note_record_change(store, ["BRC-001"], "predictions")
    assert mine == [seq] and changes.change_token(store) == seq
    with pytest.raises(ValueError, match="unknown change kind"):
        feed.note_record_change(store, ["BRC-001"], "gossip")
