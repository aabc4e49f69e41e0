"""Tumour-board meetings and their ordered case lists.

A meeting (date, specialty, title, location) goes ``planned -> held -> closed``. Its cases are
patients presented in order, each with the question asked of the board and the presenting
physician. A closed meeting is frozen: no case is added, moved or removed and no decision is
recorded. Status changes are written to the audit log; so are case-list changes, so that the
report's trail says who put which patient on the agenda. Each entry carries the sha256 of the
meeting or case row as it was written (``content_sha256``) and the agenda's order, so
:func:`verify_board` finds a row edited, deleted or added behind the application's back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncoboard.board import versions
from oncoboard.board.changes import note_change
from oncoboard.errors import BoardError, NotFoundError
from oncoboard.identity import require, user_of

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

STATUSES = ("planned", "held", "closed")
#: Specialties used by French multidisciplinary meetings (RCP); others are accepted as typed.
KNOWN_SPECIALTIES = {
    "sein": "breast", "thorax": "thoracic", "digestif": "digestive", "gyneco": "gynaecological",
    "uro": "urological", "orl": "head and neck", "neuro": "neuro-oncology",
    "hemato": "haematology", "dermato": "skin", "sarcome": "sarcoma",
}
_NEXT_STATUS = {"planned": ("held", "closed"), "held": ("closed",), "closed": ()}


@dataclass(frozen=True)
class Attendee:
    """A person present at the board, with the role they held (oncologist, radiologist...)."""

    name: str
    role: str = ""

    @classmethod
    def parse(cls, text: str) -> Attendee:
        """Return the attendee written as ``"Dr X (oncologist)"`` or ``"Dr X"``."""
        text = text.strip()
        if not text:
            raise BoardError("an attendee cannot be empty", where="attendee")
        if text.endswith(")") and "(" in text:
            name, role = text[:-1].rsplit("(", 1)
            if name.strip():
                return cls(name.strip(), role.strip())
        return cls(text, "")

    def label(self) -> str:
        """Return ``"name (role)"``, or the name alone."""
        return f"{self.name} ({self.role})" if self.role else self.name

    def as_dict(self) -> dict[str, str]:
        """Return the attendee as a JSON-ready mapping."""
        return {"name": self.name, "role": self.role}


@dataclass(frozen=True)
class Meeting:
    """One tumour-board meeting."""

    id: int
    uid: str
    date: str
    specialty: str
    title: str
    location: str
    status: str
    attendees: tuple[Attendee, ...]
    created_at: str
    created_by: str
    updated_at: str
    version: int = 1
    updated_by: str = ""

    @property
    def is_closed(self) -> bool:
        """Return whether the meeting is frozen."""
        return self.status == "closed"

    def as_dict(self) -> dict[str, Any]:
        """Return the meeting as a JSON-ready mapping."""
        return {"id": self.id, "uid": self.uid, "date": self.date, "specialty": self.specialty,
                "title": self.title, "location": self.location, "status": self.status,
                "attendees": [a.as_dict() for a in self.attendees],
                "created_at": self.created_at, "created_by": self.created_by,
                "updated_at": self.updated_at, "version": self.version,
                "updated_by": self.updated_by}


@dataclass(frozen=True)
class BoardCase:
    """One patient on a meeting's agenda."""

    id: int
    meeting_id: int
    patient_id: str
    position: int
    question: str
    presenter: str
    added_at: str
    added_by: str
    version: int = 1
    updated_by: str = ""
    updated_at: str = ""
    decision_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the case as a JSON-ready mapping."""
        return {"id": self.id, "meeting_id": self.meeting_id, "patient_id": self.patient_id,
                "position": self.position, "question": self.question,
                "presenter": self.presenter, "added_at": self.added_at,
                "added_by": self.added_by, "version": self.version,
                "updated_by": self.updated_by, "updated_at": self.updated_at}


def now_utc() -> str:
    """Return the current UTC time as an ISO string (seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _audit(store: Store, event_type: str, payload: dict[str, Any]) -> Any:
    from oncoboard import audit

    return audit.append(store, event_type, payload, actor=user_of(store).login)


@contextlib.contextmanager
def audited(store: Store) -> Iterator[Any]:
    """Run the block in one transaction with its audit entries; then record the log's head.

    The head file (which lets `audit.verify` notice deleted last entries) is written only once
    the outermost transaction has committed, so it never names an entry that was rolled back.
    """
    with store.transaction() as db:
        yield db
    if not store.conn.in_transaction:
        from oncoboard import audit

        audit.checkpoint(store)


_MEETING_CONTENT = ("id", "uid", "date", "specialty", "title", "location", "status",
                    "attendees", "created_at", "created_by", "updated_at")
_CASE_CONTENT = ("id", "meeting_id", "patient_id", "question", "presenter", "added_at",
                 "added_by")  # not the position: the order is checked per meeting


def _content_sha256(row: dict[str, Any], columns: Sequence[str]) -> str:
    from oncoboard.audit import canonical_json, sha256_text

    return sha256_text(canonical_json({k: row[k] for k in columns}))


def _meeting_sha256(store: Store, meeting_id: int) -> str:
    row = next(iter(store.db.query("SELECT * FROM board_meetings WHERE id = ?", [meeting_id])))
    return _content_sha256(row, _MEETING_CONTENT)


def _case_sha256(store: Store, case_id: int) -> str:
    row = next(iter(store.db.query("SELECT * FROM board_cases WHERE id = ?", [case_id])))
    return _content_sha256(row, _CASE_CONTENT)


def _order(store: Store, meeting_id: int) -> list[str]:
    return [r["patient_id"] for r in store.db.query(
        "SELECT patient_id FROM board_cases WHERE meeting_id = ? ORDER BY position, id",
        [meeting_id])]


def _meeting(row: dict[str, Any]) -> Meeting:
    attendees = tuple(Attendee(a.get("name", ""), a.get("role", ""))
                      for a in json.loads(row["attendees"] or "[]"))
    return Meeting(row["id"], row["uid"], row["date"], row["specialty"], row["title"],
                   row["location"], row["status"], attendees, row["created_at"],
                   row["created_by"], row["updated_at"], int(row.get("version") or 1),
                   row.get("updated_by") or "")


def _case(row: dict[str, Any]) -> BoardCase:
    return BoardCase(row["id"], row["meeting_id"], row["patient_id"], row["position"],
                     row["question"], row["presenter"], row["added_at"], row["added_by"],
                     int(row.get("version") or 1), row.get("updated_by") or "",
                     row.get("updated_at") or "", int(row.get("decision_version") or 0))


def _check_date(date: str) -> str:
    try:
        return dt.date.fromisoformat(str(date).strip()).isoformat()
    except ValueError:
        raise BoardError(f"meeting date must be YYYY-MM-DD, not {date!r}", where="date") from None


def _text(value: str | None, what: str, *, required: bool = True, limit: int = 4000) -> str:
    text = (value or "").strip()
    if required and not text:
        raise BoardError(f"{what} cannot be empty", where=what)
    if len(text) > limit:
        raise BoardError(f"{what} is too long ({len(text)} characters, at most {limit})",
                         where=what)
    return text


def create_meeting(store: Store, *, date: str, specialty: str, title: str, location: str = "",
                   attendees: Sequence[str | Attendee] | None = None) -> Meeting:
    """Create a planned meeting and return it.

    Parameters
    ----------
    store
        The open store.
    date
        Meeting day, ``YYYY-MM-DD``.
    specialty
        Board specialty, e.g. ``sein`` (breast), ``thorax``, ``digestif``; lower-cased.
    title, location
        Free text shown on the report.
    attendees
        Expected attendees, as `Attendee` or ``"Dr X (oncologist)"`` strings.
    """
    user = require(store, "meeting.edit")
    people = _attendees(attendees or [])
    now = now_utc()
    row = {"uid": str(uuid.uuid4()), "date": _check_date(date),
           "specialty": _text(specialty, "specialty", limit=60).lower(),
           "title": _text(title, "title", limit=200), "location": _text(location, "location",
                                                                         required=False, limit=200),
           "status": "planned", "attendees": json.dumps([a.as_dict() for a in people]),
           "created_at": now, "created_by": user.login, "updated_at": now,
           "updated_by": user.login}
    with audited(store) as db:
        table = db["board_meetings"]
        table.insert(row)
        meeting_id = int(table.last_pk)
        _audit(store, "board.meeting.created", {"meeting_id": meeting_id, "uid": row["uid"],
                                                 "date": row["date"],
                                                 "specialty": row["specialty"],
                                                 "title": row["title"],
                                                 "content_sha256": _meeting_sha256(store,
                                                                                   meeting_id)})
        note_change(store, meeting_id, user.login, now)
    log.info("created board meeting %s (%s, %s)", meeting_id, row["date"], row["specialty"])
    return get_meeting(store, meeting_id)


def _attendees(items: Sequence[str | Attendee]) -> list[Attendee]:
    return [a if isinstance(a, Attendee) else Attendee.parse(a) for a in items]


def get_meeting(store: Store, meeting_id: int | str) -> Meeting:
    """Return the meeting with this number (or uid); NotFoundError if there is none."""
    key = str(meeting_id).strip()
    if key.isdigit():
        rows = list(store.db.query("SELECT * FROM board_meetings WHERE id = ?", [int(key)]))
    else:
        rows = list(store.db.query("SELECT * FROM board_meetings WHERE uid = ?", [key]))
    if not rows:
        raise NotFoundError(f"no tumour-board meeting {key!r} (see `oncoboard board list`)",
                            where="meeting")
    return _meeting(rows[0])


def list_meetings(store: Store, *, status: str | None = None) -> list[Meeting]:
    """Return the meetings, most recent date first, optionally only those with `status`."""
    sql = "SELECT * FROM board_meetings"
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    return [_meeting(r) for r in store.db.query(sql + " ORDER BY date DESC, id DESC", params)]


def set_status(store: Store, meeting_id: int | str, status: str, *,
               expected_version: int | None = None) -> Meeting:
    """Move the meeting to `status` (``planned -> held -> closed``; closed is final).

    `expected_version`: the meeting version the change is based on (default: the one read
    here); StaleWriteError when someone changed the meeting since.
    """
    user = require(store, "meeting.edit")
    meeting = get_meeting(store, meeting_id)
    read = _stated(meeting, expected_version)
    if status not in STATUSES:
        raise BoardError(f"status must be one of {', '.join(STATUSES)}, not {status!r}",
                         where="status")
    if status == meeting.status:
        return meeting
    if status not in _NEXT_STATUS[meeting.status]:
        raise BoardError(f"meeting {meeting.id} is {meeting.status}: it cannot become {status}",
                         where="status")
    now = now_utc()
    with audited(store):
        versions.update_meeting(store, meeting.id, read, {"status": status}, user.login, now)
        _audit(store, "board.meeting.status", {"meeting_id": meeting.id, "uid": meeting.uid,
                                                "from": meeting.status, "to": status,
                                                "content_sha256": _meeting_sha256(store,
                                                                                  meeting.id)})
        note_change(store, meeting.id, user.login, now)
    return get_meeting(store, meeting.id)


def _stated(meeting: Meeting, expected_version: int | None) -> int:
    return versions.check_read(f"meeting {meeting.id}", meeting.version, expected_version,
                               meeting.updated_by, meeting.updated_at)


def mark_held(store: Store, meeting: Meeting, user: str, now: str) -> bool:
    """Mark a planned meeting held, in the caller's transaction (its first decision does).

    Conditional on the status, not the version: whatever else changed, a planned meeting whose
    board decided is held. Return whether this call changed it.
    """
    cur = store.conn.execute("UPDATE board_meetings SET status = 'held', version = version + 1, "
                             "updated_by = ?, updated_at = ? WHERE id = ? AND status = 'planned'",
                             [user, now, meeting.id])
    if cur.rowcount != 1:
        return False
    _audit(store, "board.meeting.status", {"meeting_id": meeting.id, "uid": meeting.uid,
                                            "from": "planned", "to": "held",
                                            "content_sha256": _meeting_sha256(store, meeting.id)})
    return True


def set_attendees(store: Store, meeting_id: int | str, attendees: Sequence[str | Attendee], *,
                  expected_version: int | None = None) -> Meeting:
    """Replace the meeting's list of attendees (shown on the report's cover page)."""
    user = require(store, "meeting.edit")
    meeting = _open_meeting(store, meeting_id)
    read = _stated(meeting, expected_version)
    people = _attendees(attendees)
    now = now_utc()
    with audited(store):
        versions.update_meeting(store, meeting.id, read,
                                {"attendees": json.dumps([a.as_dict() for a in people])},
                                user.login, now)
        _audit(store, "board.meeting.attendees", {"meeting_id": meeting.id,
                                                   "attendees": [a.label() for a in people],
                                                   "content_sha256": _meeting_sha256(
                                                       store, meeting.id)})
        note_change(store, meeting.id, user.login, now)
    return get_meeting(store, meeting.id)


def _open_meeting(store: Store, meeting_id: int | str) -> Meeting:
    meeting = get_meeting(store, meeting_id)
    if meeting.is_closed:
        raise BoardError(f"meeting {meeting.id} ({meeting.date}) is closed: it cannot be changed",
                         where="meeting")
    return meeting


def _check_patient(store: Store, patient_id: str) -> str:
    pid = str(patient_id).strip()
    if not pid:
        raise BoardError("patient ID cannot be empty", where="patient")
    if not list(store.db.query("SELECT 1 FROM patients WHERE id = ?", [pid])):
        raise NotFoundError(f"no patient {pid!r} in the database", where="patient")
    return pid


def list_cases(store: Store, meeting_id: int | str) -> list[BoardCase]:
    """Return the meeting's cases in presentation order."""
    meeting = get_meeting(store, meeting_id)
    rows = store.db.query("SELECT * FROM board_cases WHERE meeting_id = ? ORDER BY position",
                          [meeting.id])
    return [_case(r) for r in rows]


def get_case(store: Store, meeting_id: int | str, patient_id: str) -> BoardCase:
    """Return the case of `patient_id` in the meeting; NotFoundError if not on its agenda."""
    meeting = get_meeting(store, meeting_id)
    rows = list(store.db.query("SELECT * FROM board_cases WHERE meeting_id = ? AND patient_id = ?",
                               [meeting.id, str(patient_id).strip()]))
    if not rows:
        raise NotFoundError(f"patient {patient_id!r} is not on meeting {meeting.id}'s agenda",
                            where="case")
    return _case(rows[0])


#: Agenda changes live in :mod:`oncoboard.board.agenda`; they stay reachable from here.
_AGENDA = ("add_case", "edit_case", "reorder_cases", "move_case", "remove_case")


def __getattr__(name: str) -> Any:
    if name in _AGENDA:
        from oncoboard.board import agenda

        return getattr(agenda, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
