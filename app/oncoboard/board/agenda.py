"""A meeting's agenda: add, edit, reorder, move and remove cases.

Every change states the versions it read (see :mod:`oncoboard.board.versions`), is written with
its audit entry (the case's ``content_sha256`` and the agenda's order, checked by
:func:`oncoboard.board.meetings_verify.verify_board`) and notes the change for other workstations
(:mod:`oncoboard.board.changes`), all in one transaction.
"""

from __future__ import annotations

from typing import Any

from oncoboard.board import versions
from oncoboard.board.changes import note_change
from oncoboard.board.meetings import (
    BoardCase,
    _audit,
    _case_sha256,
    _check_patient,
    _open_meeting,
    _order,
    _text,
    audited,
    get_case,
    list_cases,
    now_utc,
)
from oncoboard.errors import BoardError
from oncoboard.identity import require


def add_case(store: Any, meeting_id: int | str, patient_id: str, *, question: str,
             presenter: str = "", position: int | None = None) -> BoardCase:
    """Put a patient on the meeting's agenda and return the case.

    Parameters
    ----------
    question
        The question asked of the board (required).
    presenter
        The presenting physician.
    position
        1-based place in the order; default last (counted when written, so two workstations
        adding at once both append). Later cases move down one place.
    """
    user = require(store, "agenda.edit")
    meeting = _open_meeting(store, meeting_id)
    pid = _check_patient(store, patient_id)
    text = _text(question, "question", limit=2000)
    who = _text(presenter, "presenter", required=False, limit=200)
    now = now_utc()
    with audited(store) as db:
        if store.conn.execute("SELECT 1 FROM board_cases WHERE meeting_id = ? AND patient_id = ?",
                              [meeting.id, pid]).fetchone():
            raise BoardError(f"patient {pid} is already on meeting {meeting.id}'s agenda",
                             where="patient")
        last = int(store.conn.execute("SELECT COUNT(*) FROM board_cases WHERE meeting_id = ?",
                                      [meeting.id]).fetchone()[0]) + 1
        place = last if position is None else int(position)
        if not 1 <= place <= last:
            raise BoardError(f"position must be between 1 and {last}, not {place}",
                             where="position")
        db.execute("UPDATE board_cases SET position = position + 1, version = version + 1, "
                   "updated_by = ?, updated_at = ? WHERE meeting_id = ? AND position >= ?",
                   [user.login, now, meeting.id, place])
        table = db["board_cases"]
        table.insert({"meeting_id": meeting.id, "patient_id": pid, "position": place,
                      "question": text, "presenter": who, "added_at": now,
                      "added_by": user.login, "version": 1, "updated_by": user.login,
                      "updated_at": now, "decision_version": 0})
        case_id = int(table.last_pk)
        _audit(store, "board.case.added", {"meeting_id": meeting.id, "case_id": case_id,
                                            "patient_id": pid, "position": place,
                                            "question": text,
                                            "content_sha256": _case_sha256(store, case_id),
                                            "order": _order(store, meeting.id)})
        note_change(store, meeting.id, user.login, now)
    return get_case(store, meeting.id, pid)


def edit_case(store: Any, meeting_id: int | str, patient_id: str, *, question: str | None = None,
              presenter: str | None = None, expected_version: int | None = None) -> BoardCase:
    """Change a case's question and/or presenter (None keeps it); return the case.

    `expected_version`: the case version the edit is based on (default: the one read here).
    """
    user = require(store, "agenda.edit")
    meeting = _open_meeting(store, meeting_id)
    case = get_case(store, meeting.id, patient_id)
    read = versions.check_read(f"case of patient {case.patient_id} in meeting {meeting.id}",
                               case.version, expected_version, case.updated_by, case.updated_at)
    sets = {}
    if question is not None:
        sets["question"] = _text(question, "question", limit=2000)
    if presenter is not None:
        sets["presenter"] = _text(presenter, "presenter", required=False, limit=200)
    if not sets or all(getattr(case, k) == v for k, v in sets.items()):
        raise BoardError("the edit changes nothing: give a new --question or --presenter",
                         where="case")
    now = now_utc()
    with audited(store):
        versions.update_case(store, case.id, read, sets, user.login, now)
        _audit(store, "board.case.edited", {"meeting_id": meeting.id, "case_id": case.id,
                                             "patient_id": case.patient_id,
                                             "fields": sorted(sets),
                                             "content_sha256": _case_sha256(store, case.id)})
        note_change(store, meeting.id, user.login, now)
    return get_case(store, meeting.id, case.patient_id)


def reorder_cases(store: Any, meeting_id: int | str, patient_ids: list[str], *,
                  read: list[BoardCase] | None = None) -> list[BoardCase]:
    """Set the presentation order to `patient_ids` (every case of the meeting, once each).

    `read`: the cases as the caller read them (default: read here); the new order is written
    only if none of them changed since (each case's version is checked), else StaleWriteError.
    """
    user = require(store, "agenda.edit")
    meeting = _open_meeting(store, meeting_id)
    cases = {c.patient_id: c for c in (read if read is not None
                                       else list_cases(store, meeting.id))}
    wanted = [str(p).strip() for p in patient_ids]
    if sorted(wanted) != sorted(cases):
        missing = sorted(set(cases) - set(wanted))
        extra = sorted(set(wanted) - set(cases))
        dupes = sorted({p for p in wanted if wanted.count(p) > 1})
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"not on the agenda {', '.join(extra)}" if extra else "",
            f"listed twice {', '.join(dupes)}" if dupes else "") if part)
        raise BoardError(f"the new order must list every case once ({detail})", where="order")
    now = now_utc()
    with audited(store):
        for place, pid in enumerate(wanted, start=1):
            versions.update_case(store, cases[pid].id, cases[pid].version, {"position": place},
                                 user.login, now)
        if len(_order(store, meeting.id)) != len(wanted):  # a case added meanwhile
            raise versions.stale_meeting_agenda(store, meeting.id)
        _audit(store, "board.case.reordered", {"meeting_id": meeting.id, "order": wanted})
        note_change(store, meeting.id, user.login, now)
    return list_cases(store, meeting.id)


def move_case(store: Any, meeting_id: int | str, patient_id: str, position: int, *,
              expected_version: int | None = None) -> list[BoardCase]:
    """Move one case to the 1-based `position`, shifting the others."""
    cases = list_cases(store, meeting_id)
    order = [c.patient_id for c in cases]
    case = get_case(store, meeting_id, patient_id)
    versions.check_read(f"case of patient {case.patient_id} in meeting {case.meeting_id}",
                        case.version, expected_version, case.updated_by, case.updated_at)
    if not 1 <= int(position) <= len(order):
        raise BoardError(f"position must be between 1 and {len(order)}, not {position}",
                         where="position")
    order.remove(case.patient_id)
    order.insert(int(position) - 1, case.patient_id)
    return reorder_cases(store, meeting_id, order, read=cases)


def remove_case(store: Any, meeting_id: int | str, patient_id: str, *,
                expected_version: int | None = None) -> list[BoardCase]:
    """Take a patient off the agenda (refused once the board has recorded a decision)."""
    user = require(store, "agenda.edit")
    meeting = _open_meeting(store, meeting_id)
    case = get_case(store, meeting.id, patient_id)
    read = versions.check_read(f"case of patient {case.patient_id} in meeting {meeting.id}",
                               case.version, expected_version, case.updated_by, case.updated_at)
    decided = list(store.db.query("SELECT 1 FROM board_decisions WHERE case_id = ?", [case.id]))
    if decided:
        raise BoardError(f"patient {case.patient_id} has a recorded decision in meeting "
                         f"{meeting.id}: the case cannot be removed", where="case")
    now = now_utc()
    with audited(store) as db:
        cur = store.conn.execute("DELETE FROM board_cases WHERE id = ? AND version = ? "
                                 "AND decision_version = 0", [case.id, read])
        if cur.rowcount != 1:
            raise versions.stale_case(store, case.id, read)
        db.execute("UPDATE board_cases SET position = position - 1, version = version + 1, "
                   "updated_by = ?, updated_at = ? WHERE meeting_id = ? AND position > ?",
                   [user.login, now, meeting.id, case.position])
        _audit(store, "board.case.removed", {"meeting_id": meeting.id, "case_id": case.id,
                                              "patient_id": case.patient_id,
                                              "order": _order(store, meeting.id)})
        note_change(store, meeting.id, user.login, now)
    return list_cases(store, meeting.id)
