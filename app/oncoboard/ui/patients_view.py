"""The patient browser: search by name, ID or diagnosis, and full-text search in the notes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    QTableView,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import records
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.patient_table import PatientTableModel

if TYPE_CHECKING:
    from oncoboard.store import Store


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

    def __init__(self, store: Store, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.search_edit = QLineEdit(objectName="patientSearch")
        self.search_edit.setPlaceholderText(tr("Search patients by name, ID or diagnosis"))
        self.search_edit.setClearButtonEnabled(True)
        self.notes_edit = QLineEdit(objectName="noteSearch")
        self.notes_edit.setPlaceholderText(tr("Search the notes (full text)"))
        self.notes_edit.setClearButtonEnabled(True)
        self.model = PatientTableModel(store, self)
        self.table = QTableView(objectName="patientTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 8)  # fixed heights: no per-row measuring
        header = self.table.horizontalHeader()
        for column, chars in enumerate((14, 24, 4, 5)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, self.table.fontMetrics().averageCharWidth() * chars + 16)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setAlternatingRowColors(False)
        self.count_label = QLabel(objectName="muted")
        self.hits = QListWidget(objectName="noteHits")
        self.hits.setWordWrap(True)
        self.hits.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hits_label = QLabel(tr("Type words to search every note."), objectName="muted")
        self._debounce = QTimer(self, singleShot=True, interval=60)
        self._build()
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        self._debounce.timeout.connect(self._on_filter_changed)
        self.model.total_changed.connect(self._on_total_changed)
        self.model.query_failed.connect(self._on_query_failed)
        self.notes_edit.returnPressed.connect(self._on_notes_search_requested)
        self.table.doubleClicked.connect(lambda index: self._on_row_activated(index.row(), 0))
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
        """Read the list again for the current text (after an import), on this thread."""
        self.model.query = self.search_edit.text()
        try:
            self.model.reload()
        except Exception as exc:  # noqa: BLE001 - the error boundary decides how to show it
            ErrorBoundary.report(exc, self, tr("Patient search"))

    def _on_filter_changed(self) -> None:
        self.model.set_query(self.search_edit.text())

    def _on_total_changed(self, total: int) -> None:
        if total < 0:  # the first page is shown, its matches are being counted (or too many)
            n = max(self.model.rowCount(), self.model.more_than or 0)
            self.count_label.setText(tr("{n}+ patients").format(n=n))
        else:
            self.count_label.setText(tr("{n} patients").format(n=total))

    def _on_query_failed(self, exc: object) -> None:
        ErrorBoundary.report(exc if isinstance(exc, Exception) else RuntimeError(str(exc)), self,
                             tr("Patient search"))

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
        if 0 <= row < self.model.rowCount():
            self.patient_selected.emit(self.model.patient_id(row), "")

    def _on_hit_activated(self, item: QListWidgetItem) -> None:
        patient_id, note_id = item.data(Qt.ItemDataRole.UserRole)
        self.patient_selected.emit(patient_id, note_id)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.table.hasFocus():
            self._on_row_activated(self.table.currentIndex().row(), 0)
            return
        super().keyPressEvent(event)
