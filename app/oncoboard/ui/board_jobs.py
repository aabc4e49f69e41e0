"""Background jobs of the tumour-board view (pool threads, each with its own store)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication

from oncoboard.ui import workers

if TYPE_CHECKING:
    from oncoboard.board.meetings import Meeting


def tr(text: str) -> str:
    """Translate `text` in the board view's context."""
    return QCoreApplication.translate("BoardView", text)


def change_kind_text(kind: str) -> str:
    """Return what a kind of change in the feed is, in words."""
    return {"predictions": tr("predictions"), "measurements": tr("measurements"),
            "imaging": tr("images"), "record": tr("record"),
            "decision": tr("decision")}.get(kind, kind)


def case_views_job(task: workers.Task, db_path: Any, settings: Any, meeting_id: int,
                   user: Any = None) -> list[Any]:
    """Gather every case of the meeting with its key image (pool thread, own store).

    `user`: the signed-in user (this thread's own store does not know them otherwise).
    """
    from oncoboard.audit.access import record_accesses
    from oncoboard.board.caseview import case_view
    from oncoboard.board.meetings import list_cases
    from oncoboard.store import open_store

    store: Any = open_store(db_path)
    if user is not None:
        store.user = user
    try:
        cases = list_cases(store, meeting_id)
        record_accesses(store, [c.patient_id for c in cases], "board.case")
        views = []
        for i, case in enumerate(cases):
            task.progress(i / max(len(cases), 1), case.patient_id)
            views.append(case_view(store, meeting_id, case.patient_id, settings=settings))
        return views
    finally:
        store.close()


def export_job(task: workers.Task, db_path: Any, settings: Any, meeting_id: int, path: Path,
               kind: str, user: Any = None) -> Path:
    """Write the meeting's PDF or JSON export (pool thread, own store, as `user`)."""
    from oncoboard.audit.access import record_accesses
    from oncoboard.board.meetings import list_cases
    from oncoboard.store import open_store

    store: Any = open_store(db_path)
    if user is not None:
        store.user = user
    try:
        task.progress(0.1, tr("Exporting"))
        record_accesses(store, [c.patient_id for c in list_cases(store, meeting_id)], "export")
        if kind == "pdf":
            from oncoboard.board.report import export_pdf

            return export_pdf(store, meeting_id, path, settings=settings)
        from oncoboard.board.export import export_json

        return export_json(store, meeting_id, path, settings=settings)
    finally:
        store.close()


def default_meeting_id(meetings: list[Meeting], today: str) -> int | None:
    """Return the meeting to open first: the next one not closed, else the latest open one.

    The list is newest first, so its first row was often a closed or far-future meeting.
    """
    open_ = [m for m in meetings if m.status != "closed"]
    upcoming = [m for m in open_ if m.date >= today]
    if upcoming:
        return min(upcoming, key=lambda m: (m.date, m.id)).id
    return open_[0].id if open_ else (meetings[0].id if meetings else None)


@dataclass
class BoardRead:
    """What the board view shows, read at once: meetings, the agenda, the case selected."""

    asked: tuple[int | None, str | None]  # the (meeting, patient) on show when it was asked
    meetings: list[Any]
    meeting_id: int | None
    cases: list[Any] = field(default_factory=list)
    decided: set[str] = field(default_factory=set)
    patient_id: str | None = None
    view: Any = None


def read_board(store: Any, meeting_id: int | None, patient_id: str | None) -> BoardRead:
    """Read the meetings, the agenda of `meeting_id` (else the default one) and the case of
    `patient_id` (else the first), on whichever thread owns `store`."""
    from oncoboard.board.caseview import case_view
    from oncoboard.board.decisions import meeting_decisions
    from oncoboard.board.meetings import list_cases, list_meetings

    meetings = list_meetings(store)
    chosen = meeting_id if any(m.id == meeting_id for m in meetings) else None
    if chosen is None:
        chosen = default_meeting_id(meetings, dt.date.today().isoformat())
    read = BoardRead((meeting_id, patient_id), meetings, chosen)
    if chosen is None:
        return read
    read.cases = list_cases(store, chosen)
    read.decided = set(meeting_decisions(store, chosen))
    ids = [c.patient_id for c in read.cases]
    read.patient_id = patient_id if patient_id in ids else (ids[0] if ids else None)
    if read.patient_id is not None:
        read.view = case_view(store, chosen, read.patient_id, with_image=False)
    return read


def board_job(task: workers.Task, store: Any, meeting_id: int | None,
              patient_id: str | None) -> BoardRead:
    """Read the board view again after a change made elsewhere (pool thread, own connection)."""
    own = store.another_connection()
    try:
        return read_board(own, meeting_id, patient_id)
    finally:
        own.close()
