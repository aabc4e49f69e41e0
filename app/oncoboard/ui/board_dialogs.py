"""Dialogs of the tumour-board view: new meeting, add a case, record the decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QCoreApplication, QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui.errors import ErrorBoundary

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

    def __init__(self, store: Any, parent: QWidget | None = None):
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

    def __init__(self, store: Any, meeting_id: int, patient_id: str | None = None,
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
    """Record the board's decision: options, plan, rationale, attendees, departure from models."""

    def __init__(self, store: Any, meeting: Any, patient_id: str, model_summary: str = "",
                 parent: QWidget | None = None):
        super().__init__(tr("Board decision for {p}").format(p=patient_id), parent)
        self.store, self.meeting, self.patient_id = store, meeting, patient_id
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
        shown = QLabel(tr("Model results shown: {s}").format(s=model_summary) if model_summary
                       else tr("No model result is stored for this patient."), objectName="muted")
        shown.setWordWrap(True)
        self.form.addRow(shown)
        self.departs.setEnabled(bool(model_summary))
        for label, widget in ((tr("Options discussed"), self.options),
                              (tr("Chosen plan"), self.plan),
                              (tr("Rationale"), self.rationale), (tr("Attendees"), self.attendees),
                              ("", self.departs), (tr("Reason"), self.departure)):
            self.form.addRow(label, widget)

    def _apply(self) -> Any:
        from oncoboard.board.decisions import record_decision

        return record_decision(
            self.store, self.meeting.id, self.patient_id, plan=self.plan.toPlainText(),
            rationale=self.rationale.toPlainText(), options=_lines(self.options),
            attendees=_lines(self.attendees),
            departs_from_model=self.departure.text() if self.departs.isChecked() else None)


def today() -> str:
    """Return today's date as YYYY-MM-DD."""
    return dt.date.today().isoformat()
