"""The patient view: summary card, timeline, lab trends and the notes reader."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.dates import local_time
from oncoboard.patients.summary_text import PLANNED_STATUSES, marker_text
from oncoboard.ui import access_log
from oncoboard.ui.fitting import ShrinkingScroll
from oncoboard.ui.plots import LabTrendsWidget, TimelineWidget
from oncoboard.ui.response_plot import ResponsePlotWidget

if TYPE_CHECKING:
    from oncoboard.store import Store


def tr(text: str) -> str:
    """Translate `text` in this view's context."""
    return QCoreApplication.translate("PatientView", text)


class SummaryCardWidget(QFrame):
    """Who the patient is and where they stand, in large type."""

    FIELDS = ("Age", "Sex", "Diagnosis", "Stage", "Markers", "ECOG", "Current treatment")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="card")
        self.name = QLabel(objectName="title")
        self.ident = QLabel(objectName="subtitle")
        self.synthetic = QLabel(tr("Synthetic patient - demonstration data"), objectName="warning")
        # on two lines beside a long name rather than a window wider than 1280 px
        self.synthetic.setWordWrap(True)
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, field in enumerate(self.FIELDS):
            key = QLabel(tr(field), objectName="muted")
            value = QLabel(objectName=f"summary_{field.lower().replace(' ', '_')}")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            font = value.font()
            font.setPointSize(font.pointSize() + 2)
            value.setFont(font)
            grid.addWidget(key, 0, i)
            grid.addWidget(value, 1, i)
            self.values[field] = value
        grid.setColumnStretch(2, 3)
        grid.setColumnStretch(4, 2)
        grid.setColumnStretch(6, 2)
        head = QHBoxLayout()
        head.addWidget(self.name)
        head.addWidget(self.ident)
        head.addStretch(1)
        head.addWidget(self.synthetic)
        self.decision = QLabel(objectName="patientDecision")
        self.decision.setWordWrap(True)
        self.decision.setTextFormat(Qt.TextFormat.PlainText)
        self.decision.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.decision.hide()
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(grid)
        lay.addWidget(self.decision)

    def set_decisions(self, decisions: list[Any]) -> None:
        """Show the board's latest decision on the patient (`decisions`: newest first)."""
        if not decisions:
            self.decision.hide()
            return
        d = decisions[0]
        self.decision.setText(
            tr("Board decision (meeting {m}, version {v}, {user}, {time}): {plan}").format(
                m=d.meeting_id, v=d.version, user=d.recorded_by, time=local_time(d.decided_at),
                plan=d.plan))
        self.decision.show()

    def set_summary(self, s: dict[str, Any]) -> None:
        """Fill the card from ``records.summary`` (``record.Summary`` as a dict)."""
        p = s["patient"]
        self.name.setText(p.get("name") or p["id"])
        self.ident.setText(f"{p['id']} · {tr('born')} {p.get('birth_date') or '?'}")
        self.synthetic.setVisible(bool(p.get("synthetic")))
        primary = s.get("primary_cancer") or {}
        diag = " ".join(x for x in (primary.get("code"), primary.get("display")) if x)
        if primary.get("laterality"):
            diag += f" ({primary['laterality']})"
        stage = " · ".join(x for x in (s.get("stage") and f"{tr('stage')} {s['stage']}",
                                       s.get("tnm")) if x)
        markers = ", ".join(_marker_text(k, v) for k, v in (s.get("markers") or {}).items())
        ecog = s.get("latest_ecog") or {}
        ecog_text = ""
        if ecog:
            value = ecog.get("value_num")
            ecog_text = f"{value:g}" if value is not None else (ecog.get("value_text") or "")
            if ecog.get("effective"):
                ecog_text += f"  ({ecog['effective'][:10]})"
        treat = treatment_text(s.get("current_treatments") or [])
        values = {"Age": "" if s.get("age") is None else str(s["age"]),
                  "Sex": p.get("sex") or "", "Diagnosis": diag, "Stage": stage,
                  "Markers": markers, "ECOG": ecog_text, "Current treatment": treat}
        for field, text in values.items():
            self.values[field].setText(text or "—")


def _marker_text(key: str, value: Any) -> str:
    return marker_text(key, value)


def treatment_text(treatments: list[dict[str, Any]]) -> str:
    """Return the header's "Current treatment": what the patient is on, then what is planned,
    said as planned (as the board's summary lines say it: patients.summary_text)."""
    planned = [t for t in treatments if (t.get("status") or "") in PLANNED_STATUSES]
    current = "; ".join(_treatment_text(t) for t in treatments if t not in planned)
    out = current or tr("none recorded")
    if planned:
        out += " · " + tr("planned: {names}").format(
            names="; ".join(_treatment_text(t) for t in planned))
    return out


def _treatment_text(t: dict[str, Any]) -> str:
    name = t.get("regimen") or t.get("display") or t.get("subkind") or t.get("kind") or ""
    if t.get("dose_gy"):
        name += f" {t['dose_gy']:g} Gy/{t.get('fractions') or '?'} fr"
    return f"{name} ({t.get('start_date') or '?'}→{t.get('end_date') or ''})"


class NotesReaderWidget(QWidget):
    """The patient's notes, newest first; sentences can be highlighted (model evidence)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget(objectName="notesList")
        self.list.setWordWrap(True)
        self.reader = QTextBrowser(objectName="noteReader")
        self.reader.setOpenLinks(False)
        self.notes: list[dict[str, Any]] = []
        self.highlights: dict[str, list[str]] = {}
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.list)
        split.addWidget(self.reader)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.list.currentRowChanged.connect(self._on_current_row_changed)

    def set_notes(self, notes: list[dict[str, Any]]) -> None:
        """Show `notes` (record rows, newest first) and open the first."""
        self.notes = notes
        self.list.clear()
        for note in notes:
            marker = " ●" if self.highlights.get(note["id"]) else ""
            day = (note.get('date') or '')[:10]
            item = QListWidgetItem(f"{day}  ·  {note.get('note_type') or ''}"
                                   f"  ·  {note.get('title') or ''}{marker}")
            item.setData(Qt.ItemDataRole.UserRole, note["id"])
            self.list.addItem(item)
        if notes:
            self.list.setCurrentRow(0)
        else:
            self.reader.setHtml(f"<p>{tr('No notes in the record.')}</p>")

    def set_highlights(self, highlights: dict[str, list[str]]) -> None:
        """Mark sentences per note id (e.g. a text model's evidence) and redraw."""
        self.highlights = highlights
        current = self.current_note_id()
        self.set_notes(self.notes)
        if current:
            self.show_note(current)

    def current_note_id(self) -> str | None:
        """Return the id of the note on screen."""
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def show_note(self, note_id: str) -> bool:
        """Open the note `note_id`; return False if the patient has no such note."""
        for i, note in enumerate(self.notes):
            if note["id"] == note_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def _on_current_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self.notes):
            return
        note = self.notes[row]
        self.reader.setHtml(note_html(note, self.highlights.get(note["id"], [])))


def note_html(note: dict[str, Any], highlight: list[str]) -> str:
    """Return the note as HTML with the `highlight` sentences marked."""
    text = html.escape(note.get("text") or "")
    for sentence in sorted(set(highlight), key=len, reverse=True):
        escaped = html.escape(sentence.strip())
        if escaped:
            text = text.replace(escaped, '<span style="background:#f3b63f;color:#1b2027">'
                                         f"{escaped}</span>")
    body = re.sub(r"\n{2,}", "</p><p>", text).replace("\n", "<br>")
    meta = " · ".join(html.escape(str(x)) for x in ((note.get("date") or "")[:16].replace("T", " "),
                                                     note.get("note_type"),
                                                     note.get("author_role"),
                                                     note.get("language")) if x)
    return (f"<h2>{html.escape(note.get('title') or '')}</h2><p style='color:#aab4be'>{meta}</p>"
            f"<p style='font-size:13pt; line-height:140%'>{body}</p>")


class PatientView(QWidget):
    """Everything about one patient on one screen.

    Signals
    -------
    patient_loaded(str)
        The view shows this patient.
    record_refreshed(str)
        The patient on screen was read again after a change made elsewhere.
    """

    patient_loaded = Signal(str)
    record_refreshed = Signal(str)

    def __init__(self, store: Store, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.patient_id: str | None = None
        self.card = SummaryCardWidget()
        self.timeline = TimelineWidget()
        self.labs = LabTrendsWidget()
        self.response = ResponsePlotWidget()
        self.notes = NotesReaderWidget()
        self.placeholder = QLabel(tr("Choose a patient in the patient list."),
                                  objectName="subtitle")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box_t = _box(tr("Timeline"), self.timeline)
        box_l = _box(tr("Laboratory trends"), self.labs)
        box_n = _box(tr("Notes"), self.notes)
        # each plot keeps a readable height; on a small screen (a 1366x768 laptop) the column
        # scrolls instead of squeezing the plots flat
        self.timeline.setMinimumHeight(130)
        self.response.plot.setMinimumHeight(140)
        self.labs.setMinimumHeight(180)
        left = QSplitter(Qt.Orientation.Vertical)
        left.setChildrenCollapsible(False)
        left.addWidget(box_t)
        left.addWidget(_box(tr("Tumour response (RECIST 1.1)"), self.response))
        left.addWidget(box_l)
        self.plots = ShrinkingScroll(left, "patientPlots")
        self.plots.setFrameShape(ShrinkingScroll.Shape.NoFrame)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.plots)
        body.addWidget(box_n)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        self.body = body
        lay = QVBoxLayout(self)
        lay.addWidget(self.placeholder)
        lay.addWidget(self.card)
        lay.addWidget(body, 1)
        self._set_empty(True)

    def _set_empty(self, empty: bool) -> None:
        self.placeholder.setVisible(empty)
        self.card.setVisible(not empty)
        self.body.setVisible(not empty)

    def set_patient(self, patient_id: str, note_id: str = "") -> None:
        """Load and show `patient_id` (record reads are small: done on the GUI thread).

        A new patient is written to the access log (off the screen thread); showing the same
        one again (a refresh) is not a new opening.
        """
        from oncoboard.ui.live_refresh import read_patient

        record = read_patient(self.store, patient_id)  # an unknown patient is refused here
        if patient_id != self.patient_id:  # refused here, before anything is shown
            access_log.record(self.store, [patient_id], "gui.patient")
        self.patient_id = patient_id
        self.notes.highlights = {}
        self._show(record)
        if note_id:
            self.notes.show_note(note_id)
        self._set_empty(False)
        self.patient_loaded.emit(patient_id)

    def apply_record(self, record: Any) -> bool:
        """Show `record` (the open patient read again after a change made elsewhere) in place:
        the note on screen, the scroll of the notes and the highlights stay. Return False when
        it is another patient's (the user moved on meanwhile)."""
        if record.patient_id != self.patient_id:
            return False
        note = self.notes.current_note_id()
        bars = (self.notes.list.verticalScrollBar(), self.notes.reader.verticalScrollBar())
        where = [b.value() for b in bars]
        self._show(record)
        if note and self.notes.show_note(note):
            for bar, value in zip(bars, where, strict=True):
                bar.setValue(value)
        self.record_refreshed.emit(record.patient_id)
        return True

    def _show(self, record: Any) -> None:
        self.card.set_summary(record.summary)
        self.card.set_decisions(record.decisions)
        self.timeline.set_events(record.treatments, record.outcomes, record.imaging,
                                 record.prediction_events)
        self.labs.set_series(record.labs)
        self.response.set_response(record.response)
        self.notes.set_notes(record.notes)


def _box(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    lay = QVBoxLayout(box)
    lay.addWidget(widget)
    return box
