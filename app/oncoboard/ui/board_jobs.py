"""Background jobs of the tumour-board view (pool threads, each with its own store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

from oncoboard.ui import workers


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
