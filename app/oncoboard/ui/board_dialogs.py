"""Dialogs of the tumour-board view: new meeting, add a case, record the decision."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from oncoboard.dates import local_time
from oncoboard.ui.errors import ErrorBoundary

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

SPECIALTIES = ("thorax", "sein", "digestif", "uro", "gyneco", "orl", "neuro", "hemato",
               "dermato", "sarcome")


def tr(text: str) -> str:
    """Translate `text` in the board dialogs' context."""
    return QCoreApplication.translate("BoardDialogs", text)


def _lines(edit: QPlainTextEdit) -> list[str]:
    return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]


class _FormDialog(QDialog):
    """A form with OK/Cancel that runs `_apply` on OK and stays open if it raises."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(620)
        self.form = QFormLayout()
        self.error = QLabel(objectName="danger")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_accepted)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.result_value: Any = None

    def _on_accepted(self) -> None:
        try:
            self.result_value = self._apply()
        except Exception as exc:  # noqa: BLE001 - the message stays in the dialog
            self.error.setText(ErrorBoundary.message_for(exc))
            self.error.show()
            if not hasattr(exc, "message"):
                ErrorBoundary.report(exc, self)
            return
        self.accept()

    def _apply(self) -> Any:
        raise NotImplementedError


class MeetingDialog(_FormDialog):
    """Create a meeting: date, specialty, title, location, expected attendees."""

    def __init__(self, store: Store, parent: QWidget | None = None):
        super().__init__(tr("New tumour-board meeting"), parent)
        self.store = store
        self.date = QDateEdit(QDate.currentDate(), objectName="meetingDate")
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.specialty = QComboBox(objectName="meetingSpecialty")
        self.specialty.setEditable(True)
        self.specialty.addItems(SPECIALTIES)
        self.title = QLineEdit(objectName="meetingTitle")
        self.title.setPlaceholderText(tr("e.g. Thoracic oncology board"))
        self.location = QLineEdit(objectName="meetingLocation")
        self.attendees = QPlainTextEdit(objectName="meetingAttendees")
        self.attendees.setPlaceholderText(tr("One per line: Dr Martin (oncologist)"))
        self.attendees.setFixedHeight(110)
        for label, widget in ((tr("Date"), self.date), (tr("Specialty"), self.specialty),
                              (tr("Title"), self.title), (tr("Location"), self.location),
                              (tr("Attendees"), self.attendees)):
            self.form.addRow(label, widget)

    def _apply(self) -> Any:
        from oncoboard.board.meetings import create_meeting

        return create_meeting(self.store, date=self.date.date().toString("yyyy-MM-dd"),
                              specialty=self.specialty.currentText(),
                              title=self.title.text() or tr("Tumour board"),
                              location=self.location.text(), attendees=_lines(self.attendees))


class AddCaseDialog(_FormDialog):
    """Put a patient on the agenda with the question asked of the board."""

    def __init__(self, store: Store, meeting_id: int, patient_id: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(tr("Add a case"), parent)
        from oncoboard.ui import records

        self.store, self.meeting_id = store, meeting_id
        self.patient = QComboBox(objectName="casePatient")
        for p in records.list_patients(store):
            self.patient.addItem(f"{p['id']} — {p.get('name') or ''} "
                                 f"{p.get('diagnosis') or ''}", p["id"])
        if patient_id:
            self.patient.setCurrentIndex(max(0, self.patient.findData(patient_id)))
        self.question = QPlainTextEdit(objectName="caseQuestion")
        self.question.setPlaceholderText(tr("What is the board asked to decide?"))
        self.question.setFixedHeight(100)
        self.presenter = QLineEdit(objectName="casePresenter")
        self.form.addRow(tr("Patient"), self.patient)
        self.form.addRow(tr("Question"), self.question)
        self.form.addRow(tr("Presenter"), self.presenter)

    def _apply(self) -> Any:
        from oncoboard.board.meetings import add_case

        return add_case(self.store, self.meeting_id, self.patient.currentData(),
                        question=self.question.toPlainText(), presenter=self.presenter.text())


class DecisionDialog(_FormDialog):
    """Record the board's decision, or amend it: options, plan, rationale, attendees, departure.

    The dialog remembers the decision version it read (0: none yet) and saves against it. When
    someone else saved a version meanwhile, the save is refused: the dialog shows their decision
    and the message, keeps what was typed (saving again amends their version), and emits
    ``stale(error)`` so the board view reloads.

    While it is open, :meth:`remote_changed` hears of a decision saved elsewhere: an untouched
    form shows it at once; a form with unsaved edits keeps them and shows a banner (who, when,
    their plan) with a Reload button instead.
    """

    stale = Signal(object)

    def __init__(self, store: Store, meeting: Any, patient_id: str, model_summary: str = "",
                 parent: QWidget | None = None):
        super().__init__(tr("Board decision for {p}").format(p=patient_id), parent)
        self.store, self.meeting, self.patient_id = store, meeting, patient_id
        self.read_version = 0
        self.current = QLabel(objectName="decisionCurrent")
        self.current.setWordWrap(True)
        self.options = QPlainTextEdit(objectName="decisionOptions")
        self.options.setPlaceholderText(tr("Options discussed, one per line"))
        self.options.setFixedHeight(90)
        self.plan = QPlainTextEdit(objectName="decisionPlan")
        self.plan.setFixedHeight(80)
        self.rationale = QPlainTextEdit(objectName="decisionRationale")
        self.rationale.setFixedHeight(90)
        self.attendees = QPlainTextEdit(objectName="decisionAttendees")
        self.attendees.setPlainText("\n".join(a.label() for a in meeting.attendees))
        self.attendees.setFixedHeight(90)
        self.departs = QCheckBox(tr("The decision departs from a model's result"),
                                 objectName="decisionDeparts")
        self.departure = QLineEdit(objectName="decisionDeparture")
        self.departure.setPlaceholderText(tr("Why the board departs from the model"))
        self.departure.setEnabled(False)
        self.departs.toggled.connect(self.departure.setEnabled)
        self.reason = QLineEdit(objectName="decisionAmendReason")
        self.reason.setPlaceholderText(tr("Why the decision is amended"))
        self.banner = QWidget(objectName="decisionBanner")
        self.banner_text = QLabel(objectName="warning")
        self.banner_text.setWordWrap(True)
        self.reload_button = QPushButton(tr("Reload"), objectName="decisionReload")
        self.reload_button.setToolTip(tr("Show the decision saved elsewhere (your text is "
                                         "replaced)"))
        self.reload_button.clicked.connect(self.reload)
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.banner_text, 1)
        row.addWidget(self.reload_button)
        self.banner.hide()
        outer = self.layout()
        if isinstance(outer, QVBoxLayout):
            outer.insertWidget(0, self.banner)
        self._loaded: tuple[Any, ...] = ()
        shown = QLabel(tr("Model results shown: {s}").format(s=model_summary) if model_summary
                       else tr("No model result is stored for this patient."), objectName="muted")
        shown.setWordWrap(True)
        self.form.addRow(shown)
        self.form.addRow(self.current)
        self.departs.setEnabled(bool(model_summary))
        for label, widget in ((tr("Options discussed"), self.options),
                              (tr("Chosen plan"), self.plan),
                              (tr("Rationale"), self.rationale), (tr("Attendees"), self.attendees),
                              ("", self.departs), (tr("Reason"), self.departure),
                              (tr("Amendment reason"), self.reason)):
            self.form.addRow(label, widget)
        self.load_current(prefill=True)

    def _form(self) -> tuple[Any, ...]:
        return (self.options.toPlainText(), self.plan.toPlainText(),
                self.rationale.toPlainText(), self.attendees.toPlainText(),
                self.departs.isChecked(), self.departure.text(), self.reason.text())

    def edited(self) -> bool:
        """Return whether the form holds text the user typed and has not saved."""
        return self._form() != self._loaded

    def reload(self) -> Any:
        """Show the current decision in the form (what was typed is replaced)."""
        self.banner.hide()
        self.reason.clear()
        return self.load_current(prefill=True)

    def remote_changed(self, changes: Any) -> None:
        """Hear of changes saved elsewhere; follow this case's decision if it moved."""
        from oncoboard.board.decisions import current_decision
        from oncoboard.errors import OncoboardError

        if "decision" not in changes.patients.get(self.patient_id, {}):
            return
        try:
            cur = current_decision(self.store, self.meeting.id, self.patient_id)
        except OncoboardError:  # the case was removed elsewhere: the save will say so
            return
        if cur is None or cur.version == self.read_version:
            return  # another meeting's decision on this patient, or one already shown
        said = tr("This decision was changed by {user} at {time} (version {v}: {plan}).").format(
            user=cur.recorded_by, time=local_time(cur.decided_at), v=cur.version, plan=cur.plan)
        if self.edited():
            # their version is not taken as read: saving is refused once more, then amends it
            self.banner_text.setText(said + " " + tr("Your text is kept: Reload shows theirs."))
            self.reload_button.show()
        else:
            self.load_current(prefill=True)
            self.banner_text.setText(said + " " + tr("It is shown below."))
            self.reload_button.hide()
        self.banner.show()

    def load_current(self, *, prefill: bool) -> Any:
        """Read the case's current decision; show it (and fill the form from it if `prefill`)."""
        from oncoboard.board.decisions import current_decision

        cur = current_decision(self.store, self.meeting.id, self.patient_id)
        self.read_version = cur.version if cur is not None else 0
        self.reason.setEnabled(cur is not None)
        if cur is None:
            self.current.hide()
            if prefill:
                self._loaded = self._form()
            return None
        self.current.setText(tr("Current decision (version {v}, by {user} at {time}): {plan}")
                             .format(v=cur.version, user=cur.recorded_by,
                                     time=local_time(cur.decided_at), plan=cur.plan))
        self.current.show()
        if prefill:
            self.plan.setPlainText(cur.plan)
            self.rationale.setPlainText(cur.rationale)
            self.options.setPlainText("\n".join(cur.options))
            self.attendees.setPlainText("\n".join(a.label() for a in cur.attendees))
            self.departs.setChecked(cur.departs_from_model and self.departs.isEnabled())
            self.departure.setText(cur.departure_reason or "")
        if prefill:
            self._loaded = self._form()
        return cur

    def _apply(self) -> Any:
        from oncoboard.board.decisions import amend_decision, record_decision
        from oncoboard.errors import StaleWriteError

        departure = self.departure.text() if self.departs.isChecked() else None
        try:
            if self.read_version == 0:
                return record_decision(
                    self.store, self.meeting.id, self.patient_id, plan=self.plan.toPlainText(),
                    rationale=self.rationale.toPlainText(), options=_lines(self.options),
                    attendees=_lines(self.attendees), departs_from_model=departure,
                    expected_version=0)
            return amend_decision(
                self.store, self.meeting.id, self.patient_id, reason=self.reason.text(),
                plan=self.plan.toPlainText(), rationale=self.rationale.toPlainText(),
                options=_lines(self.options), attendees=_lines(self.attendees),
                departs_from_model=departure, expected_version=self.read_version)
        except StaleWriteError as exc:
            self.load_current(prefill=False)  # their decision on show, what was typed kept
            self.reason.setFocus()
            self.stale.emit(exc)
            raise


def today() -> str:
    """Return today's date as YYYY-MM-DD."""
    return dt.date.today().isoformat()


def send_job(task: Any, db_path: Any, settings: Settings, meeting_id: int, patient_id: str,
             node: Any) -> list[Any]:
    """Send what is missing of one case to `node` (pool thread, own store)."""
    from oncoboard.board.send import send_case
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        task.progress(0.1, tr("Sending to {node}").format(node=node.name))
        return send_case(store, settings, meeting_id, patient_id, node)
    finally:
        store.close()


SEND_COLUMNS = ("Item", "Status", "Node", "When", "By", "Reason")


def item_label(item: str) -> str:
    """Return a send item's key (``report-pdf:v2``...) as words; the key is the tooltip."""
    kind, _, rest = item.partition(":")
    if kind == "report-pdf":
        return tr("Board report PDF (decision {version})").format(version=rest)
    if kind == "model-sr":
        return tr("Model result SR ({id})").format(id=rest[:8])
    if kind == "key-image-ko":
        return tr("Key image (Key Object Selection)")
    if kind == "measurements-sr":
        return tr("Lesion measurements of {date} (TID 1500 SR)").format(
            date=rest.partition(":")[0])
    return item


class SendToPacsDialog(QDialog):
    """Send a board case's results to a PACS node and show each item's status.

    Per item (report PDF, model-result SRs, key-image KOS, measurement reports): sent (when, by
    whom, to which node), not sent with the reason, or not sent yet. Sending runs in the
    background (only what is missing); the table is read again when it ends.
    """

    def __init__(self, store: Store, settings: Settings, meeting_id: int, patient_id: str,
                 nodes: Any = None, parent: QWidget | None = None):
        from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTableWidget

        super().__init__(parent)
        self.store, self.settings = store, settings
        self.meeting_id, self.patient_id = meeting_id, patient_id
        self.setWindowTitle(tr("Send to PACS: {patient}").format(patient=patient_id))
        self.setMinimumSize(860, 380)
        self.node = QComboBox(objectName="sendNode")
        for node in nodes if nodes is not None else getattr(settings, "pacs", ()):
            kind = "DICOMweb" if node.is_dicomweb else "DIMSE"
            self.node.addItem(f"{node.name} ({kind})", node)
        self.table = QTableWidget(0, len(SEND_COLUMNS), objectName="sendStatus")
        self.table.setHorizontalHeaderLabels([tr("Item"), tr("Status"), tr("Node"), tr("When"),
                                              tr("By"), tr("Reason")])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.message = QLabel(objectName="muted")
        self.message.setWordWrap(True)
        self.send_button = QPushButton(tr("Send what is missing"), objectName="primary")
        self.send_button.clicked.connect(lambda _c=False: self.send())
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel(tr("PACS node")))
        row.addWidget(self.node, 1)
        row.addWidget(self.send_button)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.message)
        lay.addWidget(close)
        self.task: Any = None
        if not self.node.count():
            self.send_button.setEnabled(False)
            self.message.setText(tr("No PACS node is configured: add one in Settings."))
        self.refresh()

    def refresh(self) -> None:
        """Read the case's send status again."""
        from PySide6.QtWidgets import QTableWidgetItem

        from oncoboard.board.send import case_status
        from oncoboard.dates import local_time

        rows = case_status(self.store, self.meeting_id, self.patient_id)
        words = {"sent": tr("sent"), "not sent": tr("not sent"),
                 "not sent yet": tr("not sent yet")}
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            when = local_time(r["sent_at"]) if r["sent_at"] else ""
            cells = [item_label(r["item"]), words.get(r["status"], r["status"]), r["node"], when,
                     r["sent_by"],
                     r["reason"]]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                tip = r["item"] if j == 0 else (r.get("sop_uid") or text)
                item.setToolTip(str(tip))
                item.setData(Qt.ItemDataRole.UserRole, r["item"])
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()

    def send(self) -> Any:
        """Send what is missing to the chosen node, in the background; return the task."""
        from oncoboard.ui import workers

        node = self.node.currentData()
        if node is None:
            return None
        self.send_button.setEnabled(False)
        self.message.setText(tr("Sending to {node}…").format(node=node.name))
        self.task = workers.Task(send_job, self.settings.store_target, self.settings,
                                 self.meeting_id, self.patient_id, node, name="send to PACS")
        workers.start(self.task, on_done=self._on_sent, on_error=self._on_failed)
        return self.task

    def _on_sent(self, items: list[Any]) -> None:
        sent = sum(i.status == "sent" for i in items)
        failed = [i for i in items if i.status in ("not sent", "skipped")]
        text = tr("{sent} sent, {already} already there, {failed} not sent").format(
            sent=sent, already=sum(i.status == "already sent" for i in items),
            failed=len(failed))
        if failed:
            text += ": " + "; ".join(f"{i.item}: {i.reason}" for i in failed[:3])
        self.message.setText(text)
        self.send_button.setEnabled(True)
        self.refresh()

    def _on_failed(self, exc: BaseException) -> None:
        self.message.setText(ErrorBoundary.message_for(exc))
        self.send_button.setEnabled(True)
        self.refresh()
