"""Every meeting, case and decision row is covered by the audit trail: edits and deletions found."""

from __future__ import annotations

from pg_server import drop_trigger

from oncoboard.board import decisions, meetings
from oncoboard.board.trail import verify_trail


def _details(report):
    return " | ".join(f"{p.kind}: {p.detail}" for p in report.problems)


def _decide(store, meeting, pid="BRC-001"):
    return decisions.record_decision(store, meeting.id, pid, plan="EC x4",
                                     rationale="node-positive",
                                     attendees=["Dr Alice Roy (medical oncologist)"])


def test_clean_board_verifies(store, meeting):
    _decide(store, meeting)
    meetings.reorder_cases(store, meeting.id, ["BRC-002", "BRC-001"])
    meetings.set_attendees(store, meeting.id, ["Dr Sam Lee (surgeon)"])
    report = verify_trail(store)
    assert report.ok, _details(report)


def test_deleted_amendment_is_found(store, meeting):
    _decide(store, meeting)
    decisions.amend_decision(store, meeting.id, "BRC-001", reason="typo", plan="EC x4 then T")
    drop_trigger(store, "board_decisions_no_delete")
    store.db.execute("DELETE FROM board_decisions WHERE version = 2")
    assert decisions.current_decision(store, meeting.id, "BRC-001").version == 1
    report = verify_trail(store)
    assert not report.ok
    assert "decision version 2 of case" in _details(report)
    assert "missing from the database" in _details(report)


def test_edited_case_question_is_found(store, meeting):
    store.db.execute("UPDATE board_cases SET question = 'Surveillance only?' "
                     "WHERE patient_id = 'BRC-001'")
    report = verify_trail(store)
    assert not report.ok and "differs from its audit entry" in _details(report)
    assert any(p.kind == "edited" and "case" in p.detail for p in report.problems)


def test_edited_meeting_and_agenda_order_are_found(store, meeting):
    store.db.execute("UPDATE board_meetings SET title = 'Other' WHERE id = ?", [meeting.id])
    assert "meeting 1 differs" in _details(verify_trail(store))
    store.db.execute("UPDATE board_meetings SET title = ? WHERE id = ?",
                     [meeting.title, meeting.id])
    assert verify_trail(store).ok
    store.db.execute("UPDATE board_cases SET position = 3 - position WHERE meeting_id = ?",
                     [meeting.id])
    assert "agenda order differs" in _details(verify_trail(store))


def test_deleted_and_unaudited_cases_and_meetings_are_found(store, meeting):
    store.db.execute("DELETE FROM board_cases WHERE patient_id = 'BRC-002'")
    assert "case 2 (entry" in _details(verify_trail(store))
    store.db.execute("INSERT INTO board_meetings (uid, date, specialty, title, created_at, "
                     "created_by, updated_at) VALUES ('x', '2026-01-01', 'sein', 't', 'n', "
                     "'u', 'n')")
    assert "has no audit entry" in _details(verify_trail(store))


def test_removed_case_is_not_a_problem(store, meeting):
    meetings.remove_case(store, meeting.id, "BRC-002")
    report = verify_trail(store)
    assert report.ok, _details(report)
