"""Tumour-board mode: meetings, agenda, decisions, presenter screen, PDF/JSON export."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.identity import user_of
from oncoboard.ui import access_log, workers
from oncoboard.ui.board_dialogs import (
    AddCaseDialog,
    DecisionDialog,
    MeetingDialog,
    SendToPacsDialog,
)
from oncoboard.ui.board_follow import BoardFollowMixin
from oncoboard.ui.board_jobs import (
    case_views_job,
    default_meeting_id,
    export_job,
)
from oncoboard.ui.board_presenter import CasePanel, PresenterWindow, case_html, rgb_pixmap
from oncoboard.ui.board_watch import BoardWatcher
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.live_refresh import Refresher

__all__ = ["BoardView", "CasePanel", "PresenterWindow", "case_html", "default_meeting_id",
           "rgb_pixmap"]

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the board view's context."""
    return QCoreApplication.translate("BoardView", text)


class BoardView(BoardFollowMixin, QWidget):
    """Meetings, their agenda, the selected case and the actions of a board.

    Signals
    -------
    meeting_selected(int)
        The meeting with this id is selected.
    exported(str)
        A report was written to this path.
    decision_recorded(str)
        A decision was recorded for this patient.
    """

    meeting_selected = Signal(int)
    exported = Signal(str)
    decision_recorded = Signal(str)

    def __init__(self, app_context: Any, main_window: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.main, self.store = app_context, main_window, app_context.store
        self.meetings = QListWidget(objectName="meetingList")
        self.cases = QListWidget(objectName="caseList")
        for lst in (self.meetings, self.cases):
            lst.setWordWrap(True)
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.detail = QTextBrowser(objectName="caseDetail")
        self.meeting_id: int | None = None
        self.patient_id: str | None = None
        self.presenter: PresenterWindow | None = None
        self.presenter_meeting_id: int | None = None
        self.decision_dialog: DecisionDialog | None = None  # while one is open
        self._stale_images: set[str] = set()
        self._presenter_only: set[str] | None = set()  # whom to read again; None: every case
        self._presenter_notice = ""
        self.presenter_refresher = Refresher(self._presenter_task, self._on_presenter_read,
                                             self._on_read_failed)
        self.board_refresher = Refresher(self._board_task, self._on_board_read,
                                         self._on_read_failed)
        self._board_said = ""
        self.buttons: dict[str, QPushButton] = {}
        self.notice = QLabel(objectName="boardNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self._opened: tuple[int, str] | None = None  # the case whose record was last opened
        self._build()
        self.meetings.currentRowChanged.connect(self._on_meeting_row_changed)
        self.cases.currentRowChanged.connect(self._on_case_row_changed)
        self.refresh()
        self.watcher = BoardWatcher(self.store, self)
        self.watcher.changed.connect(self._on_board_changed)

    def _button(self, key: str, text: str, slot: Any, primary: bool = False) -> QPushButton:
        button: QPushButton = QPushButton(text,
                                          objectName="primary" if primary else f"board_{key}")
        button.setProperty("key", key)
        button.clicked.connect(lambda _c=False: slot())
        self.buttons[key] = button
        return button

    def _build(self) -> None:
        left = QVBoxLayout()
        left.addWidget(QLabel(tr("Meetings"), objectName="subtitle"))
        left.addWidget(self.meetings, 1)
        left.addWidget(self._button("new", tr("New meeting…"), self.new_meeting))
        middle = QVBoxLayout()
        middle.addWidget(QLabel(tr("Agenda"), objectName="subtitle"))
        middle.addWidget(self.cases, 1)
        row = QHBoxLayout()
        row.addWidget(self._button("add", tr("Add case…"), self.add_case))
        row.addWidget(self._button("decide", tr("Record decision…"), self.record_decision))
        middle.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self._button("present", tr("Present"), self.present, primary=True))
        row2.addWidget(self._button("pdf", tr("Export PDF…"), lambda: self.export("pdf")))
        row2.addWidget(self._button("json", tr("Export JSON…"), lambda: self.export("json")))
        middle.addLayout(row2)
        middle.addWidget(self._button("pacs", tr("Send to PACS…"), self.send_to_pacs))
        panes = QSplitter(Qt.Orientation.Horizontal)
        for lay in (left, middle):
            w = QWidget()
            w.setLayout(lay)
            panes.addWidget(w)
        box = QGroupBox(tr("Case"))
        QVBoxLayout(box).addWidget(self.detail)
        panes.addWidget(box)
        panes.setStretchFactor(0, 2)
        panes.setStretchFactor(1, 3)
        panes.setStretchFactor(2, 4)
        outer = QVBoxLayout(self)
        outer.addWidget(QLabel(tr("Tumour board"), objectName="title"))
        outer.addWidget(self.notice)
        outer.addWidget(panes, 1)

    # --- lists ------------------------------------------------------------------------------------
    def refresh(self, select: int | None = None) -> None:
        """Reload the meetings (selecting `select`, else the current one)."""
        from oncoboard.board.meetings import list_meetings

        meetings = list_meetings(self.store)
        select = select if select is not None else self.meeting_id
        if select is None:
            select = default_meeting_id(meetings, dt.date.today().isoformat())
        self.board_refresher.invalidate()  # a read for a change elsewhere may be older
        row = self._fill_meetings(meetings, select)
        if self.meetings.count():
            self.meetings.setCurrentRow(row)
            self._on_meeting_row_changed(row)
        self._update_buttons()

    def _fill_meetings(self, meetings: list[Any], select: int | None) -> int:
        """List `meetings` (no signal); return the row of `select` (0 if absent)."""
        self.meetings.blockSignals(True)
        self.meetings.clear()
        for m in meetings:
            item = QListWidgetItem(f"{m.date}  {m.specialty}\n{m.title}  ({tr(m.status)})")
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            self.meetings.addItem(item)
        self.meetings.blockSignals(False)
        return next((i for i in range(self.meetings.count())
                     if self.meetings.item(i).data(Qt.ItemDataRole.UserRole) == select), 0)

    def _fill_cases(self, cases: list[Any], decided: Any, select: str | None) -> int:
        """List the agenda (no signal); return the row of `select` (0 if absent)."""
        self.cases.blockSignals(True)
        self.cases.clear()
        for c in cases:
            mark = "✔ " if c.patient_id in decided else "○ "
            item = QListWidgetItem(f"{mark}{c.position}. {c.patient_id}\n{c.question[:160]}")
            item.setData(Qt.ItemDataRole.UserRole, c.patient_id)
            self.cases.addItem(item)
        self.cases.blockSignals(False)
        return next((i for i in range(self.cases.count()) if
                     self.cases.item(i).data(Qt.ItemDataRole.UserRole) == select), 0)

    def _on_meeting_row_changed(self, row: int) -> None:
        item = self.meetings.item(row)
        if item is None:
            return
        same = item.data(Qt.ItemDataRole.UserRole) == self.meeting_id
        self.meeting_id = item.data(Qt.ItemDataRole.UserRole)
        self._load_cases(select=self.patient_id if same else None)  # a reload keeps the case
        self.meeting_selected.emit(self.meeting_id)

    def _load_cases(self, select: str | None = None) -> None:
        from oncoboard.board.decisions import meeting_decisions
        from oncoboard.board.meetings import list_cases

        if self.meeting_id is None:
            return
        self.board_refresher.invalidate()
        row = self._fill_cases(list_cases(self.store, self.meeting_id),
                               meeting_decisions(self.store, self.meeting_id), select)
        if self.cases.count():
            self.cases.setCurrentRow(row)
            self._on_case_row_changed(row)
        else:
            self.patient_id = None
            self.detail.setHtml(f"<p>{tr('No cases yet: add one.')}</p>")
        self._update_buttons()

    def _on_case_row_changed(self, row: int) -> None:
        item = self.cases.item(row)
        if item is None or self.meeting_id is None:
            return
        from oncoboard.board.caseview import case_view

        self.patient_id = item.data(Qt.ItemDataRole.UserRole)
        opened = (self.meeting_id, str(self.patient_id))
        if opened != self._opened:  # a reload of the same case is not a new opening
            access_log.record(self.store, [opened[1]], "board.case")
            self._opened = opened
        view = case_view(self.store, self.meeting_id, self.patient_id, with_image=False)
        self.detail.setHtml(case_html(view))
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_meeting, has_case = self.meeting_id is not None, self.patient_id is not None
        for key in ("add", "present", "pdf", "json"):
            self.buttons[key].setEnabled(has_meeting)
        self.buttons["decide"].setEnabled(has_case)
        self.buttons["pacs"].setEnabled(has_case)

    def set_patient(self, patient_id: str) -> None:
        """Remember the patient open elsewhere (preselected when adding a case)."""
        self.current_patient = patient_id

    # --- actions ----------------------------------------------------------------------------------
    def new_meeting(self) -> Any:
        """Ask for a new meeting and select it."""
        dialog = MeetingDialog(self.store, self)
        if self._exec(dialog) and dialog.result_value is not None:
            self.watcher.seen()
            self.refresh(select=dialog.result_value.id)
            return dialog.result_value
        return None

    def add_case(self) -> Any:
        """Ask for a patient and a question and add the case to the selected meeting."""
        if self.meeting_id is None:
            return None
        dialog = AddCaseDialog(self.store, self.meeting_id,
                               getattr(self, "current_patient", None), self)
        if self._exec(dialog) and dialog.result_value is not None:
            self.watcher.seen()
            self._load_cases(select=dialog.result_value.patient_id)
            self._after_own_write()
            return dialog.result_value
        return None

    def record_decision(self, patient_id: str | None = None) -> Any:
        """Open the decision form for the selected case (or `patient_id`)."""
        from oncoboard.board.caseview import case_view
        from oncoboard.board.meetings import get_meeting

        pid = patient_id or self.patient_id
        if pid is None or self.meeting_id is None:
            return None
        meeting = get_meeting(self.store, self.meeting_id)
        view = case_view(self.store, meeting.id, pid, with_image=False)
        shown = "; ".join(r.text() for p in view.predictions for r in p.results)
        parent = self.presenter if self.presenter and self.presenter.isVisible() else self
        dialog = DecisionDialog(self.store, meeting, pid, shown, parent)
        dialog.stale.connect(self._on_stale)
        self.decision_dialog = dialog
        try:
            accepted = self._exec(dialog)
        finally:
            self.decision_dialog = None
        if accepted and dialog.result_value is not None:
            self.watcher.seen()
            if get_meeting(self.store, meeting.id).status != meeting.status:
                # the first decision marks a planned meeting held: show it, and say so
                self.refresh(select=meeting.id)
                self._say(tr("Decision recorded: the meeting is now marked as held."))
            self._load_cases(select=pid)
            self._after_own_write(pid)
            self.decision_recorded.emit(pid)
            return dialog.result_value
        return None

    def _exec(self, dialog: Any) -> int:
        """Run a dialog that writes: its changes are this view's own, never reported back."""
        from oncoboard.store.feed import written_to

        with written_to(self.watcher.own):
            return int(dialog.exec())

    # --- changes made elsewhere -------------------------------------------------------------------
    def reload(self) -> None:
        """Reload the meetings, the agenda and the case shown, keeping the selection."""
        self.refresh(select=self.meeting_id)

    def _on_stale(self, exc: Any) -> None:
        """A save was refused because someone changed the record first: show their change."""
        self.reload()
        self.watcher.seen()
        self._say(tr("Not saved: {reason}. The other change is shown.").format(
            reason=getattr(exc, "message", str(exc))))

    def pacs_dialog(self) -> SendToPacsDialog | None:
        """Return the "Send to PACS" dialog of the selected case (not shown)."""
        if self.patient_id is None or self.meeting_id is None:
            return None
        return SendToPacsDialog(self.store, self.ctx.settings, self.meeting_id, self.patient_id,
                                parent=self)

    def send_to_pacs(self) -> None:
        """Show the selected case's send status; send what is missing to a PACS node."""
        dialog = self.pacs_dialog()
        if dialog is not None:
            dialog.exec()

    def _say(self, text: str) -> None:
        """Show `text` above the board and in the main window's status bar (seconds)."""
        self.notice.setText(text)
        self.notice.show()
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(text, 10000)

    def present(self) -> workers.Task | None:
        """Gather the cases (key images load in the background) and open the presenter."""
        if self.meeting_id is None:
            return None
        task = workers.Task(case_views_job, self.ctx.settings.store_target, self.ctx.settings,
                            self.meeting_id, user_of(self.store), name="presenter")
        self._run(task, tr("Preparing the presentation"), self._on_case_views_ready)
        return task

    def _on_case_views_ready(self, views: list[Any]) -> None:
        if self.presenter is not None:
            self.presenter.close()
        self.presenter = PresenterWindow(views)
        self.presenter_meeting_id = views[0].meeting.id if views else self.meeting_id
        self.presenter.decision_requested.connect(self._on_presenter_decision_requested)
        self.presenter.showFullScreen()
        self.presenter.show_case(0)
        self.presenter.setFocus()

    def _on_presenter_decision_requested(self, patient_id: str) -> None:
        self.record_decision(patient_id)  # the presenter is read again in place when it saves

    def export(self, kind: str, path: Path | None = None) -> workers.Task | None:
        """Export the selected meeting as PDF or JSON (asks for a file unless `path` is given)."""
        if self.meeting_id is None:
            return None
        if path is None:
            pattern = tr("PDF report (*.pdf)") if kind == "pdf" else tr("JSON (*.json)")
            chosen, _f = QFileDialog.getSaveFileName(
                self, tr("Export the meeting"),
                str(Path.home() / f"tumour-board-{self.meeting_id}.{kind}"), pattern)
            if not chosen:
                return None
            path = Path(chosen)
        task = workers.Task(export_job, self.ctx.settings.store_target, self.ctx.settings,
                            self.meeting_id, path, kind, user_of(self.store),
                            name=f"export {kind}")
        self._run(task, tr("Exporting the report"),
                  lambda out: self.exported.emit(str(out)))
        return task

    def _run(self, task: workers.Task, text: str, on_done: Any) -> None:
        if self.main is not None:
            self.main.run_task(task, text, on_done=on_done)
        else:
            workers.start(task, on_done=on_done,
                          on_error=lambda exc: ErrorBoundary.report(exc, self, text))
