"""Decisions: recorded once, amended as new versions, audited, never overwritten."""

from __future__ import annotations

import pytest
from board_helpers import count
from pg_server import drop_trigger

from oncoboard import audit
from oncoboard.board import decisions, meetings
from oncoboard.board.trail import verify_trail
from oncoboard.errors import BoardError, NotFoundError


def _decide(store, meeting, pid="BRC-001", **kwargs):
    args = {"plan": "EC x4 then weekly paclitaxel x12", "rationale": "node-positive, high grade",
            "options": ["chemotherapy", "endocrine therapy alone"],
            "attendees": ["Dr Alice Roy (medical oncologist)", "Dr Sam Lee (surgeon)"], **kwargs}
    return decisions.record_decision(store, meeting.id, pid, **args)


def test_record_then_amend_keeps_every_version(store, meeting):
    first = _decide(store, meeting)
    assert (first.version, first.supersedes, first.departs_from_model) == (1, None, False)
    assert first.recorded_by and first.decided_at.startswith("20")
    assert [a.role for a in first.attendees] == ["medical oncologist", "surgeon"]
    assert meetings.get_meeting(store, meeting.id).status == "held"
    second = decisions.amend_decision(store, meeting.id, "BRC-001", reason="dose-dense schedule",
                                      plan="dd EC x4 then paclitaxel x12")
    history = decisions.decision_history(store, meeting.id, "BRC-001")
    assert [d.version for d in history] == [1, 2]
    assert [d.plan for d in history] == [first.plan, "dd EC x4 then paclitaxel x12"]
    assert second.supersedes == first.id and second.amendment_reason == "dose-dense schedule"
    assert second.rationale == first.rationale and second.options == first.options
    assert decisions.current_decision(store, meeting.id, "BRC-001") == second
    assert decisions.meeting_decisions(store, meeting.id) == {"BRC-001": second}
    assert decisions.current_decision(store, meeting.id, "BRC-002") is None


def test_decisions_are_in_the_audit_log_and_verify(store, meeting):
    first = _decide(store, meeting)
    second = decisions.amend_decision(store, meeting.id, "BRC-001", reason="typo in plan",
                                      plan="EC x4 then paclitaxel x12")
    recorded = audit.entries(store, event_type="board.decision.recorded")
    amended = audit.entries(store, event_type="board.decision.amended")
    assert [e.hash for e in recorded] == [first.audit_hash]
    assert [e.hash for e in amended] == [second.audit_hash]
    assert amended[0].payload["version"] == 2 and amended[0].payload["patient_id"] == "BRC-001"
    report = verify_trail(store)
    assert report.ok, report.problems
    assert decisions.verify_decisions(store) == []


def test_decision_rows_cannot_be_updated_or_deleted(store, meeting):
    d = _decide(store, meeting)
    with pytest.raises(store.IntegrityError, match="append-only"):
        store.db.execute("UPDATE board_decisions SET plan = 'other' WHERE id = ?", [d.id])
    with pytest.raises(store.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM board_decisions WHERE id = ?", [d.id])


def test_a_decision_edited_behind_the_triggers_is_found(store, meeting):
    d = _decide(store, meeting)
    drop_trigger(store, "board_decisions_no_update")
    store.db.execute("UPDATE board_decisions SET plan = 'surveillance' WHERE id = ?", [d.id])
    entry = audit.entries(store, event_type="board.decision.recorded")[0]
    assert decisions.verify_decisions(store) == [
        audit.Problem(entry.seq, "edited", f"decision {d.id} differs from its audit entry")]
    report = verify_trail(store)
    assert not report.ok and any(p.kind == "edited" for p in report.problems)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"plan": "  "}, BoardError, "plan cannot be empty"),
    ({"rationale": ""}, BoardError, "rationale cannot be empty"),
    ({"options": ["ok", " "]}, BoardError, "option cannot be empty"),
    ({"departs_from_model": "model ignores comorbidities"}, BoardError,
     "no stored model result to depart from"),
    ({"prediction_ids": ["pred-404"]}, NotFoundError, "pred-404 is not one of patient"),
])
def test_bad_decisions_are_refused_and_write_nothing(store, meeting, kwargs, error, words):
    entries = count(store, "audit_log")
    with pytest.raises(error, match=words):
        _decide(store, meeting, **kwargs)
    assert count(store, "board_decisions") == 0
    assert count(store, "audit_log") == entries
    assert meetings.get_meeting(store, meeting.id).status == "planned"


def test_attendees_default_to_the_meeting_and_are_required(store, meeting):
    d = _decide(store, meeting, attendees=[])
    assert [a.name for a in d.attendees] == ["Dr Alice Roy", "Dr Marc Petit"]
    bare = meetings.create_meeting(store, date="2026-11-24", specialty="thorax", title="RCP")
    meetings.add_case(store, bare.id, "LUN-001", question="Surgery?")
    with pytest.raises(BoardError, match="at least one attendee"):
        decisions.record_decision(store, bare.id, "LUN-001", plan="lobectomy",
                                  rationale="resectable")


def test_second_decision_needs_an_amendment(store, meeting):
    _decide(store, meeting)
    with pytest.raises(BoardError, match="record an amendment instead"):
        _decide(store, meeting)
    with pytest.raises(BoardError, match="no decision yet"):
        decisions.amend_decision(store, meeting.id, "BRC-002", reason="x", plan="y")
    with pytest.raises(BoardError, match="amendment reason cannot be empty"):
        decisions.amend_decision(store, meeting.id, "BRC-001", reason=" ", plan="y")
    assert count(store, "board_decisions") == 1


def test_closed_meeting_refuses_decisions_and_decided_case_stays(store, meeting):
    _decide(store, meeting)
    with pytest.raises(BoardError, match="has a recorded decision"):
        meetings.remove_case(store, meeting.id, "BRC-001")
    meetings.set_status(store, meeting.id, "closed")
    with pytest.raises(BoardError, match="is closed"):
        _decide(store, meeting, pid="BRC-002")
    with pytest.raises(BoardError, match="is closed"):
        decisions.amend_decision(store, meeting.id, "BRC-001", reason="late change", plan="x")
    with pytest.raises(NotFoundError, match="not on meeting"):
        decisions.decision_history(store, meeting.id, "LUN-001")


@pytest.mark.parametrize("changes", [{}, {"plan": " EC x4 then weekly paclitaxel x12 "},
                                     {"departs_from_model": None}])
def test_amendment_that_changes_nothing_is_refused(store, meeting, changes):
    # `board decide M P --amend REASON` without --plan used to store an identical version 2.
    _decide(store, meeting)
    with pytest.raises(BoardError, match="changes nothing in version 1"):
        decisions.amend_decision(store, meeting.id, "BRC-001", reason="oops", **changes)
    assert [d.version for d in decisions.decision_history(store, meeting.id, "BRC-001")] == [1]
