"""Check meetings and cases against the audit trail (for `oncoboard audit verify`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oncoboard.board.meetings import _CASE_CONTENT, _MEETING_CONTENT, _content_sha256, _order

_CASE_EVENTS = ("board.case.added", "board.case.edited", "board.case.removed")


def verify_board(store: Any) -> list[Any]:
    """Return `audit.Problem` for each meeting or case that no longer matches the audit trail.

    Every meeting and case row must be the one its latest audit entry was written for (an
    edited question, title or status is found); every meeting or case the trail created and did
    not remove must still exist; each meeting's agenda order must be the last one audited. Rows
    written before these hashes were recorded are checked for existence only.
    """
    from oncoboard import audit

    if "board_meetings" not in store.db.table_names():
        return []
    meetings: dict[int, audit.AuditEntry] = {}
    cases: dict[int, audit.AuditEntry] = {}
    orders: dict[int, audit.AuditEntry] = {}
    removed: set[int] = set()
    for e in audit.entries(store):
        pay = e.payload
        if e.event_type.startswith("board.meeting.") and "meeting_id" in pay:
            meetings[int(pay["meeting_id"])] = e
        if e.event_type in _CASE_EVENTS and "case_id" in pay:
            cases[int(pay["case_id"])] = e
            if e.event_type == "board.case.removed":
                removed.add(int(pay["case_id"]))
        if e.event_type.startswith("board.case.") and "order" in pay:
            orders[int(pay["meeting_id"])] = e
    problems = []
    rows = {r["id"]: r for r in store.db.query("SELECT * FROM board_meetings")}
    problems += _compare(audit, "meeting", rows, meetings, _MEETING_CONTENT, set())
    case_rows = {r["id"]: r for r in store.db.query("SELECT * FROM board_cases")}
    problems += _compare(audit, "case", case_rows, cases, _CASE_CONTENT, removed)
    for meeting_id, e in orders.items():
        if meeting_id in rows and _order(store, meeting_id) != e.payload["order"]:
            problems.append(audit.Problem(e.seq, "edited", f"meeting {meeting_id}'s agenda "
                                                           "order differs from its audit entry"))
    return problems


def _compare(audit: Any, what: str, rows: dict[int, dict[str, Any]], latest: dict[int, Any],
             columns: Sequence[str], removed: set[int]) -> list[Any]:
    problems = []
    for row_id, row in rows.items():
        e = latest.get(row_id)
        if e is None:
            problems.append(audit.Problem(0, "inserted", f"{what} {row_id} has no audit entry"))
        elif row_id in removed:
            problems.append(audit.Problem(e.seq, "inserted", f"{what} {row_id} was removed "
                                                             f"(entry {e.seq}) but is back"))
        elif "content_sha256" in e.payload and \
                e.payload["content_sha256"] != _content_sha256(row, columns):
            problems.append(audit.Problem(e.seq, "edited", f"{what} {row_id} differs from its "
                                                           f"audit entry {e.seq}"))
    for row_id, e in latest.items():
        if row_id not in rows and row_id not in removed:
            problems.append(audit.Problem(e.seq, "deleted", f"{what} {row_id} (entry {e.seq}) "
                                                            "is missing from the database"))
    return problems
