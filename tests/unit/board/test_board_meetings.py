"""Meetings and their ordered case lists."""

from __future__ import annotations

import datetime as dt

import pytest
from board_helpers import count

from oncoboard import audit
from oncoboard.board import meetings
from oncoboard.board.trail import verify_trail
from oncoboard.errors import BoardError, NotFoundError


def test_create_meeting_normalises_and_audits(store):
    m = meetings.create_meeting(store, date="2026-11-23", specialty=" Thorax ",
                                title="RCP thorax", attendees=["Dr X (surgeon)", "Dr Y"])
    assert (m.id, m.date, m.specialty, m.status) == (1, "2026-11-23", "thorax", "planned")
    assert [a.label() for a in m.attendees] == ["Dr X (surgeon)", "Dr Y"]
    assert meetings.get_meeting(store, m.uid) == m
    created = audit.entries(store, event_type="board.meeting.created")
    assert [e.payload["uid"] for e in created] == [m.uid]


@pytest.mark.parametrize("kwargs, words", [
    ({"date": "23/11/2026"}, "YYYY-MM-DD"),
    ({"title": "  "}, "title cannot be empty"),
    ({"specialty": ""}, "specialty cannot be empty"),
])
def test_bad_meeting_is_refused_and_writes_nothing(store, kwargs, words):
    args = {"date": "2026-11-23", "specialty": "sein", "title": "RCP", **kwargs}
    with pytest.raises(BoardError, match=words):
        meetings.create_meeting(store, **args)
    assert count(store, "board_meetings") == 0
    assert count(store, "audit_log") == 0


def test_unknown_meeting_is_not_found(store):
    with pytest.raises(NotFoundError, match="no tumour-board meeting '42'"):
        meetings.get_meeting(store, 42)


def test_cases_keep_their_order(store, meeting):
    order = lambda: [c.patient_id for c in meetings.list_cases(store, meeting.id)]  # noqa: E731
    assert order() == ["BRC-001", "BRC-002"]
    meetings.add_case(store, meeting.id, "LUN-001", question="Second opinion?", position=1)
    assert order() == ["LUN-001", "BRC-001", "BRC-002"]
    assert [c.position for c in meetings.list_cases(store, meeting.id)] == [1, 2, 3]
    meetings.reorder_cases(store, meeting.id, ["BRC-002", "LUN-001", "BRC-001"])
    assert order() == ["BRC-002", "LUN-001", "BRC-001"]
    meetings.move_case(store, meeting.id, "BRC-001", 1)
    assert order() == ["BRC-001", "BRC-002", "LUN-001"]
    meetings.remove_case(store, meeting.id, "BRC-002")
    assert order() == ["BRC-001", "LUN-001"]
    assert [c.position for c in meetings.list_cases(store, meeting.id)] == [1, 2]
    kinds = [e.event_type for e in audit.entries(store)]
    assert kinds.count("board.case.added") == 3
    assert "board.case.reordered" in kinds and "board.case.removed" in kinds
    assert verify_trail(store).ok


def test_unknown_patient_is_not_found_and_writes_nothing(store, meeting):
    before = count(store, "audit_log")
    with pytest.raises(NotFoundError, match="no patient 'NOBODY'"):
        meetings.add_case(store, meeting.id, "NOBODY", question="?")
    assert count(store, "board_cases") == 2
    assert count(store, "audit_log") == before


@pytest.mark.parametrize("pid, kwargs, words", [
    ("LUN-001", {"question": ""}, "question cannot be empty"),
    ("BRC-001", {"question": "again?"}, "already on meeting 1's agenda"),
    ("LUN-001", {"question": "?", "position": 7}, "position must be between 1 and 3"),
])
def test_bad_case_is_refused(store, meeting, pid, kwargs, words):
    with pytest.raises(BoardError, match=words):
        meetings.add_case(store, meeting.id, pid, **kwargs)
    assert count(store, "board_cases") == 2


def test_reorder_must_list_every_case_once(store, meeting):
    with pytest.raises(BoardError, match="missing BRC-002"):
        meetings.reorder_cases(store, meeting.id, ["BRC-001"])
    with pytest.raises(BoardError, match="not on the agenda LUN-001"):
        meetings.reorder_cases(store, meeting.id, ["BRC-001", "BRC-002", "LUN-001"])
    with pytest.raises(BoardError, match="listed twice BRC-001"):
        meetings.reorder_cases(store, meeting.id, ["BRC-001", "BRC-001"])
    assert [c.patient_id for c in meetings.list_cases(store, meeting.id)] == ["BRC-001",
                                                                                "BRC-002"]


def test_status_lifecycle_and_closed_meeting_is_frozen(store, meeting):
    assert meetings.set_status(store, meeting.id, "held").status == "held"
    with pytest.raises(BoardError, match="it cannot become planned"):
        meetings.set_status(store, meeting.id, "planned")
    assert meetings.set_status(store, meeting.id, "closed").is_closed
    with pytest.raises(BoardError, match="is closed"):
        meetings.add_case(store, meeting.id, "LUN-001", question="?")
    with pytest.raises(BoardError, match="is closed"):
        meetings.remove_case(store, meeting.id, "BRC-001")
    with pytest.raises(BoardError, match="is closed"):
        meetings.move_case(store, meeting.id, "BRC-001", 2)
    with pytest.raises(BoardError, match="cannot become held"):
        meetings.set_status(store, meeting.id, "held")
    moves = [(e.payload["from"], e.payload["to"])
             for e in audit.entries(store, event_type="board.meeting.status")]
    assert moves == [("planned", "held"), ("held", "closed")]


def test_attendee_parsing():
    assert meetings.Attendee.parse(" Dr X (medical oncologist) ").as_dict() == {
        "name": "Dr X", "role": "medical oncologist"}
    assert meetings.Attendee.parse("Nurse Y").role == ""
    with pytest.raises(BoardError):
        meetings.Attendee.parse("  ")


def test_list_meetings_newest_first_and_by_status(store, meeting):
    other = meetings.create_meeting(store, date="2026-12-01", specialty="digestif", title="RCP")
    assert [m.id for m in meetings.list_meetings(store)] == [other.id, meeting.id]
    meetings.set_status(store, meeting.id, "held")
    assert [m.id for m in meetings.list_meetings(store, status="held")] == [meeting.id]


def test_demo_meeting_takes_the_largest_specialty_once(store):
    from oncoboard.board.demo import DEMO_TITLE, create_demo_meeting

    m = create_demo_meeting(store, date="2026-11-23")
    assert (m.title, m.specialty, m.status) == (DEMO_TITLE, "sein", "planned")
    cases = meetings.list_cases(store, m.id)
    assert [c.patient_id for c in cases] == ["BRC-001", "BRC-002"]
    assert "endocrine" in cases[0].question and cases[0].presenter == "Dr Alice Roy"
    assert create_demo_meeting(store) == m
    assert len(meetings.list_meetings(store)) == 1


def test_demo_meeting_from_chosen_patients(store):
    from oncoboard.board.demo import create_demo_meeting

    m = create_demo_meeting(store, ["LUN-001"], date="2026-11-23")
    assert m.specialty == "thorax"
    assert [c.patient_id for c in meetings.list_cases(store, m.id)] == ["LUN-001"]


def test_demo_lung_question_matches_the_demo_lung_records(tmp_path):
    """The thorax question asks only for what the demo lung records hold (no chemotherapy)."""
    from oncoboard.board.demo import create_demo_meeting
    from oncoboard.demo import write_bundles
    from oncoboard.patients import record
    from oncoboard.patients.demo_cohort import generate
    from oncoboard.patients.importer import import_file
    from oncoboard.store import open_store

    cohort = generate(date="2026-11-23")
    lung = {p.id for p in cohort.group("lung")}
    s = open_store(tmp_path / "lung")
    for path in write_bundles(cohort, tmp_path / "fhir"):
        if path.stem in lung:
            import_file(s, path, dt.date(2026, 11, 23))
    m = create_demo_meeting(s, sorted(lung), date="2026-11-23")
    assert m.specialty == "thorax"
    for case in meetings.list_cases(s, m.id):
        subkinds = {t.subkind or "" for t in record.treatments(s, case.patient_id)}
        kinds = {t.kind for t in record.treatments(s, case.patient_id)}
        has_chemo = any("chemo" in k for k in subkinds)
        assert has_chemo or ("chemo" not in case.question.lower()
                             and "toxicity" not in case.question), (case.question, subkinds)
        assert "radiotherapy" in kinds and "radiotherapy" in case.question.lower()
    s.close()
