"""The patient browser: search by name, ID or diagnosis, and full-text search in the notes."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import records
from oncoboard.ui.errors import ErrorBoundary


def tr(text: str) -> str:
    """Translate `text` in this view's context."""
    return QCoreApplication.translate("PatientBrowserView", text)


class PatientBrowserView(QWidget):
    """A searchable patient list beside full-text note search results.

    Signals
    -------
    patient_selected(str)
        A patient was opened (double click or Enter), with the note to show ('' for none).
    """

    patient_selected = Signal(str, str)
    COLUMNS = ("ID", "Name", "Sex", "Age", "Diagnosis")

    def __init__(self, store: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.search_edit = QLineEdit(objectName="patientSearch")
        self.search_edit.setPlaceholderText(tr("Search patients by name, ID or diagnosis"))
        self.search_edit.setClearButtonEnabled(True)
        self.notes_edit = QLineEdit(objectName="noteSearch")
        self.notes_edit.setPlaceholderText(tr("Search the notes (full text)"))
        self.notes_edit.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(self.COLUMNS), objectName="patientTable")
        self.table.setHorizontalHeaderLabels([tr(c) for c in self.COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setAlternatingRowColors(False)
        self.count_label = QLabel(objectName="muted")
        self.hits = QListWidget(objectName="noteHits")
        self.hits.setWordWrap(True)
        self.hits.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hits_label = QLabel(tr("Type words to search every note."), objectName="muted")
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._build()
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        self._debounce.timeout.connect(self.refresh)
        self.notes_edit.returnPressed.connect(self._on_notes_search_requested)
        self.table.cellDoubleClicked.connect(self._on_row_activated)
        self.hits.itemActivated.connect(self._on_hit_activated)
        self.hits.itemDoubleClicked.connect(self._on_hit_activated)

    def _build(self) -> None:
        title = QLabel(tr("Patients"), objectName="title")
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search_edit)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)
        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(self.notes_edit)
        rlay.addWidget(self.hits_label)
        rlay.addWidget(self.hits, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        outer = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        outer.addLayout(head)
        outer.addWidget(split, 1)

    def refresh(self) -> None:
        """Run the patient search again with the current text."""
        try:
            rows = records.list_patients(self.store, self.search_edit.text())
        except Exception as exc:  # noqa: BLE001 - the error boundary decides how to show it
            ErrorBoundary.report(exc, self, tr("Patient search"))
            return
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            age = records.age_years(row.get("birth_date"))
            diag = " ".join(p for p in (row.get("diagnosis"), row.get("diagnosis_display")) if p)
            values = (row["id"], row.get("name") or "", (row.get("sex") or "")[:1].upper(),
                      "" if age is None else str(age), diag)
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.count_label.setText(tr("{n} patients").format(n=len(rows)))

    def search_notes(self, text: str) -> int:
        """Show the notes matching `text` with highlighted snippets; return the hit count."""
        self.notes_edit.setText(text)
        self.hits.clear()
        try:
            hits = records.search_notes(self.store, text)
        except Exception as exc:  # noqa: BLE001
            ErrorBoundary.report(exc, self, tr("Note search"))
            return 0
        for hit in hits:
            item = QListWidgetItem()
            label = QLabel(f"<b>{hit['patient_id']}</b> · {(hit.get('date') or '')[:10]} · "
                           f"{hit.get('title') or hit.get('note_type') or ''}<br>"
                           f"{hit['snippet_html']}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(6, 6, 6, 6)
            item.setData(Qt.ItemDataRole.UserRole, (hit["patient_id"], hit["note_id"]))
            width = max(200, self.hits.viewport().width() - 8)
            item.setSizeHint(QSize(width, label.heightForWidth(width) + 4))
            self.hits.addItem(item)
            self.hits.setItemWidget(item, label)
        self.hits_label.setText(tr("{n} notes match").format(n=len(hits)))
        return len(hits)

    def _on_notes_search_requested(self) -> None:
        self.search_notes(self.notes_edit.text())

    def _on_row_activated(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.patient_selected.emit(item.data(Qt.ItemDataRole.UserRole), "")

    def _on_hit_activated(self, item: QListWidgetItem) -> None:
        patient_id, note_id = item.data(Qt.ItemDataRole.UserRole)
        self.patient_selected.emit(patient_id, note_id)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.table.hasFocus():
            self._on_row_activated(self.table.currentRow(), 0)
            return
        super().keyPressEvent(event)
