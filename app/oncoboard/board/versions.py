"""No lost update: every write to a meeting, case or decision states the version it read.

A write is a conditional ``UPDATE ... WHERE id = ? AND version = ?`` inside the write's own
transaction (with its audit entry and its change-feed note). When no row is updated, someone else
wrote first: the transaction is rolled back and :class:`~oncoboard.errors.StaleWriteError` says who
changed what and when ("changed by <user> at <time>: reload"). The statement is atomic on SQLite
(one writer at a time) and on PostgreSQL (the row lock makes a concurrent UPDATE wait, then
re-check the WHERE clause on the new row), so there is no window between the check and the
write. Decisions are append-only rows with their own ``version``; the case's
``decision_version`` is their compare-and-set token.
"""

from __future__ import annotations

from typing import Any

from oncoboard.errors import NotFoundError, StaleWriteError


def check_read(what: str, current: int, stated: int | None, by: str, at: str) -> int:
    """Return the version the write is based on: `stated`, or `current` when none is stated.

    A stated version other than the current one is refused at once (nothing to try).
    """
    if stated is None or int(stated) == current:
        return current
    raise StaleWriteError(what, changed_by=by, changed_at=at, version=current,
                          read_version=int(stated))


def update_meeting(store: Any, meeting_id: int, read_version: int, sets: dict[str, Any],
                   user: str, at: str) -> None:
    """Apply `sets` to the meeting if it is still at `read_version`; bump its version."""
    columns = "".join(f"{k} = ?, " for k in sets)
    cur = store.conn.execute(
        f"UPDATE board_meetings SET {columns}version = version + 1, updated_by = ?, "
        "updated_at = ? WHERE id = ? AND version = ?",
        [*sets.values(), user, at, meeting_id, read_version])
    if cur.rowcount != 1:
        raise stale_meeting(store, meeting_id, read_version)


def update_case(store: Any, case_id: int, read_version: int, sets: dict[str, Any], user: str,
                at: str) -> None:
    """Apply `sets` to the case if it is still at `read_version`; bump its version."""
    columns = "".join(f"{k} = ?, " for k in sets)
    cur = store.conn.execute(
        f"UPDATE board_cases SET {columns}version = version + 1, updated_by = ?, "
        "updated_at = ? WHERE id = ? AND version = ?",
        [*sets.values(), user, at, case_id, read_version])
    if cur.rowcount != 1:
        raise stale_case(store, case_id, read_version)


def claim_decision(store: Any, case_id: int, read_version: int) -> int:
    """Take the next decision version of the case if its decision is still `read_version`."""
    cur = store.conn.execute(
        "UPDATE board_cases SET decision_version = decision_version + 1 "
        "WHERE id = ? AND decision_version = ?", [case_id, read_version])
    if cur.rowcount != 1:
        raise stale_decision(store, case_id, read_version)
    return read_version + 1


def stale_meeting(store: Any, meeting_id: int, read_version: int | None) -> StaleWriteError:
    """Return the error saying who changed the meeting since `read_version`."""
    row = store.conn.execute("SELECT version, updated_by, updated_at FROM board_meetings "
                             "WHERE id = ?", [meeting_id]).fetchone()
    if row is None:
        raise NotFoundError(f"meeting {meeting_id} was deleted: reload", where="meeting")
    return StaleWriteError(f"meeting {meeting_id}", changed_by=row[1], changed_at=row[2],
                           version=int(row[0]), read_version=read_version)


def stale_case(store: Any, case_id: int, read_version: int | None) -> StaleWriteError:
    """Return the error saying who changed (or removed) the case since `read_version`."""
    row = store.conn.execute("SELECT version, updated_by, updated_at, meeting_id, patient_id "
                             "FROM board_cases WHERE id = ?", [case_id]).fetchone()
    if row is None:
        raise NotFoundError(f"case {case_id} was removed from its meeting: reload",
                            where="case")
    return StaleWriteError(f"case of patient {row[4]} in meeting {row[3]}", changed_by=row[1],
                           changed_at=row[2], version=int(row[0]), read_version=read_version)


def stale_decision(store: Any, case_id: int, read_version: int | None) -> StaleWriteError:
    """Return the error saying who recorded the decision version after `read_version`."""
    case = store.conn.execute("SELECT meeting_id, patient_id, decision_version FROM board_cases "
                              "WHERE id = ?", [case_id]).fetchone()
    if case is None:
        raise NotFoundError(f"case {case_id} was removed from its meeting: reload",
                            where="case")
    last = store.conn.execute("SELECT recorded_by, decided_at FROM board_decisions "
                              "WHERE case_id = ? ORDER BY version DESC LIMIT 1",
                              [case_id]).fetchone()
    by, at = (last[0], last[1]) if last else ("", "")
    return StaleWriteError(f"the decision on patient {case[1]} in meeting {case[0]}",
                           changed_by=by, changed_at=at, version=int(case[2]),
                           read_version=read_version)


def stale_meeting_agenda(store: Any, meeting_id: int) -> StaleWriteError:
    """Return the error for an agenda that gained a case since it was read."""
    row = store.conn.execute("SELECT updated_by, updated_at FROM board_cases WHERE meeting_id = ?"
                             " ORDER BY updated_at DESC LIMIT 1", [meeting_id]).fetchone()
    count = int(store.conn.execute("SELECT COUNT(*) FROM board_cases WHERE meeting_id = ?",
                                   [meeting_id]).fetchone()[0])
    by, at = (row[0], row[1]) if row else ("", "")
    return StaleWriteError(f"the agenda of meeting {meeting_id}", changed_by=by, changed_at=at,
                           version=count, read_version=None)
