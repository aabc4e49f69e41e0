"""Tumour-board mode: meetings, agenda, decisions, presenter screen, PDF/JSON export."""

from __future__ import annotations

import datetime as dt
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.dates import local_time
from oncoboard.ui import theme, workers
from oncoboard.ui.board_dialogs import (
    AddCaseDialog,
    DecisionDialog,
    MeetingDialog,
    SendToPacsDialog,
)
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.prediction_widgets import PredictionCardWidget

if TYPE_CHECKING:
    from oncoboard.board.meetings import Meeting

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the board view's context."""
    return QCoreApplication.translate("BoardView", text)


def case_views_job(task: workers.Task, db_path: Any, settings: Any, meeting_id: int) -> list[Any]:
    """Gather every case of the meeting with its key image (pool thread, own store)."""
    from oncoboard.board.caseview import case_view
    from oncoboard.board.meetings import list_cases
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        cases = list_cases(store, meeting_id)
        views = []
        for i, case in enumerate(cases):
            task.progress(i / max(len(cases), 1), case.patient_id)
            views.append(case_view(store, meeting_id, case.patient_id, settings=settings))
        return views
    finally:
        store.close()


def export_job(task: workers.Task, db_path: Any, settings: Any, meeting_id: int, path: Path,
               kind: str) -> Path:
    """Write the meeting's PDF or JSON export (pool thread, own store)."""
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        task.progress(0.1, tr("Exporting"))
        if kind == "pdf":
            from oncoboard.board.report import export_pdf

            return export_pdf(store, meeting_id, path, settings=settings)
        from oncoboard.board.export import export_json

        return export_json(store, meeting_id, path, settings=settings)
    finally:
        store.close()


def rgb_pixmap(rgb: Any, aspect: float = 1.0) -> QPixmap:
    """Return a QPixmap of an (rows, columns, 3) uint8 image, pixels drawn at true shape."""
    h, w, _ = rgb.shape
    image = QImage(bytes(rgb.tobytes()), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    if abs(aspect - 1.0) > 1e-3:
        pixmap = pixmap.scaled(w, round(h * aspect), Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


class CasePanel(QWidget):
    """One case as presented: identity, question, summary, key image, predictions, decision."""

    def __init__(self, view: Any, large: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        size = theme.PRESENTER_POINT_SIZE if large else theme.BASE_POINT_SIZE + 2
        ident = view.identity
        head = QLabel(f"{tr('Case')} {view.case.position}/{view.total_cases} · "
                      f"<b>{ident['id']}</b> · {ident.get('age') or '?'} {tr('y')} · "
                      f"{ident.get('sex') or ''}", objectName="presenterHeader")
        head.setStyleSheet(f"font-size: {size}pt;")
        question = QLabel(view.case.question, objectName="presenterQuestion")
        question.setWordWrap(True)
        question.setStyleSheet(f"font-size: {size - 2}pt; color: {theme.ACCENT};")
        response = _response_widgets(view, size)
        summary = QLabel("<br>".join(f"<span style='color:{theme.MUTED}'>{k}</span>  {v}"
                                     for k, v in view.summary_lines), objectName="presenterSummary")
        summary.setWordWrap(True)
        summary.setStyleSheet(f"font-size: {size - 8}pt;")
        image = QLabel(objectName="presenterImage")
        image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if view.key_image is not None:
            pix = rgb_pixmap(view.key_image.rgb, view.key_image.pixel_aspect)
            image.setPixmap(pix.scaled(520, 520, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation))
            image.setToolTip(view.key_image.caption())
        else:
            image.setText(view.image_note)
        caption = QLabel(view.key_image.caption() if view.key_image else "", objectName="muted")
        caption.setWordWrap(True)
        preds = QVBoxLayout()
        # results first, refusals after them: the board reads what the models did say
        for p in sorted(view.predictions, key=lambda p: getattr(p, "status", "ok") != "ok"):
            preds.addWidget(PredictionCardWidget(p, compact=True))
        if not view.predictions:
            preds.addWidget(QLabel(view.predictions_note, objectName="muted"))
        preds.addStretch(1)
        pred_box = QWidget()
        pred_box.setLayout(preds)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(pred_box)
        decision = QLabel(objectName="presenterDecision")
        decision.setWordWrap(True)
        decision.setStyleSheet(f"font-size: {size - 8}pt;")
        if view.decision is not None:
            d = view.decision
            text = f"<b>{tr('Decision')}:</b> {d.plan}<br>{tr('Rationale')}: {d.rationale}"
            if d.departs_from_model:
                text += f"<br><b>{tr('Departs from model')}:</b> {d.departure_reason}"
            decision.setText(text)
        else:
            decision.setText(tr("No decision recorded yet (press D)."))
        left = QVBoxLayout()
        left.addWidget(summary)
        left.addWidget(image, 1)
        left.addWidget(caption)
        for widget in response:
            left.addWidget(widget)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(scroll, 1)
        lay = QVBoxLayout(self)
        if view.synthetic:
            flag = QLabel(tr("SYNTHETIC - DEMONSTRATION ONLY"), objectName="danger")
            lay.addWidget(flag)
        lay.addWidget(head)
        lay.addWidget(question)
        lay.addLayout(body, 1)
        lay.addWidget(decision)


def _response_widgets(view: Any, size: int) -> list[QWidget]:
    """Return the RECIST category line and plot of a case (none without measurements)."""
    from oncoboard.ui.response_plot import ResponsePlotWidget, category_colour

    response = getattr(view, "response", None)
    if response is None or not response.has_data:
        return []
    category = QLabel(response.headline(), objectName="presenterResponse")
    category.setWordWrap(True)
    category.setStyleSheet(f"font-size: {size - 8}pt; font-weight: bold; "
                           f"color: {category_colour(response.latest_category)};")
    plot = ResponsePlotWidget()
    plot.set_response(response)
    plot.headline.hide()  # the category line above says it in the presenter's size
    plot.setMinimumHeight(170)
    return [category, plot]


class PresenterWindow(QWidget):
    """Full screen, one case per screen; ←/→ (or PageUp/PageDown, Space) move, D decides, Esc.

    Signals
    -------
    case_shown(int)
        The case at this index (0-based) is on screen.
    decision_requested(str)
        The user pressed D on this patient's case.
    """

    case_shown = Signal(int)
    decision_requested = Signal(str)

    def __init__(self, views: list[Any], parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(tr("Oncoboard — presenter"))
        self.stack = QStackedWidget()
        self.views = views
        for v in views:
            self.stack.addWidget(CasePanel(v))
        if not views:
            self.stack.addWidget(QLabel(tr("This meeting has no cases."), objectName="title"))
        hint = QLabel(tr("← previous   → next   D decision   Esc leave"), objectName="muted")
        lay = QVBoxLayout(self)
        lay.addWidget(self.stack, 1)
        lay.addWidget(hint)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.index = 0

    def show_case(self, index: int) -> None:
        """Show case `index` (clipped)."""
        self.index = max(0, min(index, self.stack.count() - 1))
        self.stack.setCurrentIndex(self.index)
        self.case_shown.emit(self.index)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown, Qt.Key.Key_Space, Qt.Key.Key_Down):
            self.show_case(self.index + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp, Qt.Key.Key_Up, Qt.Key.Key_Backspace):
            self.show_case(self.index - 1)
        elif key == Qt.Key.Key_Home:
            self.show_case(0)
        elif key == Qt.Key.Key_End:
            self.show_case(self.stack.count() - 1)
        elif key == Qt.Key.Key_D and self.views:
            self.decision_requested.emit(self.views[self.index].case.patient_id)
        elif key == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)


def default_meeting_id(meetings: list[Meeting], today: str) -> int | None:
    """Return the meeting to open first: the next one not closed, else the latest open one.

    The list is newest first, so its first row was often a closed or far-future meeting.
    """
    open_ = [m for m in meetings if m.status != "closed"]
    upcoming = [m for m in open_ if m.date >= today]
    if upcoming:
        return min(upcoming, key=lambda m: (m.date, m.id)).id
    return open_[0].id if open_ else (meetings[0].id if meetings else None)


class BoardView(QWidget):
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
        self.buttons: dict[str, QPushButton] = {}
        self._build()
        self.meetings.currentRowChanged.connect(self._on_meeting_row_changed)
        self.cases.currentRowChanged.connect(self._on_case_row_changed)
        self.refresh()

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
        outer.addWidget(panes, 1)

    # --- lists ------------------------------------------------------------------------------------
    def refresh(self, select: int | None = None) -> None:
        """Reload the meetings (selecting `select`, else the current one)."""
        from oncoboard.board.meetings import list_meetings

        meetings = list_meetings(self.store)
        select = select if select is not None else self.meeting_id
        if select is None:
            select = default_meeting_id(meetings, dt.date.today().isoformat())
        self.meetings.blockSignals(True)
        self.meetings.clear()
        for m in meetings:
            item = QListWidgetItem(f"{m.date}  {m.specialty}\n{m.title}  ({tr(m.status)})")
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            self.meetings.addItem(item)
        self.meetings.blockSignals(False)
        row = next((i for i in range(self.meetings.count())
                    if self.meetings.item(i).data(Qt.ItemDataRole.UserRole) == select), 0)
        if self.meetings.count():
            self.meetings.setCurrentRow(row)
            self._on_meeting_row_changed(row)
        self._update_buttons()

    def _on_meeting_row_changed(self, row: int) -> None:
        item = self.meetings.item(row)
        if item is None:
            return
        self.meeting_id = item.data(Qt.ItemDataRole.UserRole)
        self._load_cases()
        self.meeting_selected.emit(self.meeting_id)

    def _load_cases(self, select: str | None = None) -> None:
        from oncoboard.board.decisions import meeting_decisions
        from oncoboard.board.meetings import list_cases

        if self.meeting_id is None:
            return
        decided = meeting_decisions(self.store, self.meeting_id)
        self.cases.blockSignals(True)
        self.cases.clear()
        for c in list_cases(self.store, self.meeting_id):
            mark = "✔ " if c.patient_id in decided else "○ "
            item = QListWidgetItem(f"{mark}{c.position}. {c.patient_id}\n{c.question[:160]}")
            item.setData(Qt.ItemDataRole.UserRole, c.patient_id)
            self.cases.addItem(item)
        self.cases.blockSignals(False)
        if self.cases.count():
            row = next((i for i in range(self.cases.count()) if
                        self.cases.item(i).data(Qt.ItemDataRole.UserRole) == select), 0)
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
        if dialog.exec() and dialog.result_value is not None:
            self.refresh(select=dialog.result_value.id)
            return dialog.result_value
        return None

    def add_case(self) -> Any:
        """Ask for a patient and a question and add the case to the selected meeting."""
        if self.meeting_id is None:
            return None
        dialog = AddCaseDialog(self.store, self.meeting_id,
                               getattr(self, "current_patient", None), self)
        if dialog.exec() and dialog.result_value is not None:
            self._load_cases(select=dialog.result_value.patient_id)
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
        if dialog.exec() and dialog.result_value is not None:
            if get_meeting(self.store, meeting.id).status != meeting.status:
                # the first decision marks a planned meeting held: show it, and say so
                self.refresh(select=meeting.id)
                self._say(tr("Decision recorded: the meeting is now marked as held."))
            self._load_cases(select=pid)
            self.decision_recorded.emit(pid)
            return dialog.result_value
        return None

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
        """Show `text` in the main window's status bar (seconds), if there is one."""
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(text, 10000)

    def present(self) -> workers.Task | None:
        """Gather the cases (key images load in the background) and open the presenter."""
        if self.meeting_id is None:
            return None
        task = workers.Task(case_views_job, self.ctx.settings.store_target, self.ctx.settings,
                            self.meeting_id, name="presenter")
        self._run(task, tr("Preparing the presentation"), self._on_case_views_ready)
        return task

    def _on_case_views_ready(self, views: list[Any]) -> None:
        if self.presenter is not None:
            self.presenter.close()
        self.presenter = PresenterWindow(views)
        self.presenter.decision_requested.connect(self._on_presenter_decision_requested)
        self.presenter.showFullScreen()
        self.presenter.show_case(0)
        self.presenter.setFocus()

    def _on_presenter_decision_requested(self, patient_id: str) -> None:
        if self.record_decision(patient_id) is not None and self.presenter is not None:
            index = self.presenter.index
            self.present_task = self.present()
            if self.present_task is not None:
                self.present_task.signals.succeeded.connect(
                    lambda _v, i=index: self._show_presented_case(i))

    def _show_presented_case(self, index: int) -> None:
        if self.presenter is not None:
            self.presenter.show_case(index)

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
                            self.meeting_id, path, kind, name=f"export {kind}")
        self._run(task, tr("Exporting the report"),
                  lambda out: self.exported.emit(str(out)))
        return task

    def _run(self, task: workers.Task, text: str, on_done: Any) -> None:
        if self.main is not None:
            self.main.run_task(task, text, on_done=on_done)
        else:
            workers.start(task, on_done=on_done,
                          on_error=lambda exc: ErrorBoundary.report(exc, self, text))


def case_html(view: Any) -> str:
    """Return the case detail shown beside the agenda."""
    ident = view.identity
    parts = [f"<h2>{ident['id']} · {ident.get('age') or '?'} {tr('y')} · "
             f"{ident.get('sex') or ''}</h2>",
             f"<p style='color:{theme.ACCENT}; font-size:14pt'>{view.case.question}</p>",
             "<table cellpadding=4>" + "".join(
                 f"<tr><td style='color:{theme.MUTED}'>{k}</td><td>{v}</td></tr>"
                 for k, v in view.summary_lines) + "</table>"]
    response = getattr(view, "response", None)
    if response is not None and response.has_data:
        parts.append(f"<p><b>{html.escape(response.headline())}</b></p>")
    if view.predictions:
        parts.append(f"<h3>{tr('Predictions')}</h3><ul>" + "".join(
            f"<li>{r.text()}</li>" for p in view.predictions for r in p.results) + "</ul>")
        notes = [n for p in view.predictions for n in p.uncertainty_notes()]
        parts += [f"<p style='color:{theme.MUTED}'>{n}</p>" for n in dict.fromkeys(notes)]
    else:
        parts.append(f"<p style='color:{theme.MUTED}'>{view.predictions_note}</p>")
    if view.decision is not None:
        d = view.decision
        parts.append(f"<h3>{tr('Decision')}</h3><p><b>{d.plan}</b></p><p>{d.rationale}</p>")
        if d.options:
            parts.append("<ul>" + "".join(f"<li>{o}</li>" for o in d.options) + "</ul>")
        if d.departs_from_model:
            parts.append(f"<p style='color:{theme.WARNING}'>{tr('Departs from model')}: "
                         f"{d.departure_reason}</p>")
        parts.append(f"<p style='color:{theme.MUTED}'>"
                     f"{', '.join(a.label() for a in d.attendees)} · "
                     f"{local_time(d.decided_at)}</p>")
    return "".join(parts)
