"""The patient list as a virtual Qt model: rows are read page by page as the user scrolls.

A hospital record holds tens of thousands of patients; the browser must open at once and answer
each keystroke in the filter without freezing. The model holds only the pages read so far
(`oncoboard.patients.browse`: counts and pages from indexes), asks for the next page when the
view scrolls near the end (``fetchMore``), and runs the query of a new filter text on a worker
thread with its own read-only connection. Each query carries a generation number: the answer to
an older keystroke that arrives after a newer one is dropped, so the list always shows the
latest text, and a query still running when a newer keystroke comes is stopped (SQLite's
progress handler) instead of delaying it. The first page is shown as soon as it is read; the
number of matches follows, counted after the page (``total`` is None meanwhile) up to
:data:`~oncoboard.patients.browse.COUNT_CAP`: a filter matching more shows "1000+" (``total``
stays None and ``more_than`` holds the cap), so a one-letter filter at 100,000 patients is
counted in about a millisecond instead of 0.1-0.25 s.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
)

from oncoboard.dates import age_at
from oncoboard.patients.browse import (
    COUNT_CAP,
    PAGE,
    Cancelled,
    PatientRow,
    count_patients,
    patient_page,
)

if TYPE_CHECKING:
    from oncoboard.store import Store

Index = QModelIndex | QPersistentModelIndex


def tr(text: str) -> str:
    """Translate `text` in the patient browser's context."""
    return QCoreApplication.translate("PatientBrowserView", text)


class _Answer(QObject):
    """Carries a worker's answer back to the screen's thread."""

    answered = Signal(int, str, object, list)   # generation, query, total (None: counting), page
    counted = Signal(int, int)                  # generation, total
    failed = Signal(int, object)                # generation, exception


class _Latest:
    """The generation of the latest query, read by the worker to stop outdated ones."""

    value = 0


class _Query(QRunnable):
    """Read the first page of the patients matching a filter, then count them, off the screen's
    thread; stop as soon as a newer query is asked for."""

    _local = threading.local()

    def __init__(self, db_path: Path | Any, generation: int, query: str, answer: _Answer,
                 latest: _Latest | None = None):
        """`db_path`: the SQLite file, or the site database's store (this thread then opens
        its own connection to it: a connection must not cross threads)."""
        super().__init__()
        self.db_path, self.generation, self.query, self.answer = (db_path, generation, query,
                                                                  answer)
        self.latest = latest

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if isinstance(self.db_path, Path):
            if conn is None or getattr(self._local, "path", None) != self.db_path:
                conn = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True)
                self._local.conn, self._local.path = conn, self.db_path
            return conn
        where = self.db_path.location  # a site database: this thread's own store on it
        if conn is None or getattr(self._local, "path", None) != where:
            conn = self.db_path.another_connection()
            self._local.conn, self._local.path = conn, where
        return conn

    def _outdated(self) -> bool:
        return self.latest is not None and self.latest.value != self.generation

    def run(self) -> None:
        if self._outdated():
            return
        try:
            conn = self._connection()
            rows = patient_page(conn, self.query, limit=PAGE, cancelled=self._outdated)
            known = len(rows) if len(rows) < PAGE else None
            self.answer.answered.emit(self.generation, self.query, known, rows)
            if known is None:
                total = count_patients(conn, self.query, cancelled=self._outdated,
                                       cap=COUNT_CAP)
                self.answer.counted.emit(self.generation, total)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - shown by the view's error boundary
            self.answer.failed.emit(self.generation, exc)


def _over_cap(query: str, total: int) -> bool:
    """Whether a count stopped past the cap (no filter is always counted in full)."""
    return bool(query.strip()) and total > COUNT_CAP


class PatientTableModel(QAbstractTableModel):
    """Patients matching the filter, by ID, read a page at a time.

    Signals
    -------
    total_changed(int)
        The number of patients matching the current filter, once counted (-1 while the first
        page of a new filter is shown and its matches are being counted, and when they are
        more than :data:`~oncoboard.patients.browse.COUNT_CAP`: ``more_than`` then holds it).
    query_failed(object)
        The query of the current filter raised (the exception).
    """

    COLUMNS = ("ID", "Name", "Sex", "Age", "Diagnosis")
    total_changed = Signal(int)
    query_failed = Signal(object)

    def __init__(self, store: Store, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.query = ""
        self.total: int | None = 0
        #: The filter matches more patients than this (the count stopped there), or None.
        self.more_than: int | None = None
        self._rows: list[PatientRow] = []
        self._more = False  # the last page read was full (while the total is unknown)
        self._latest = _Latest()
        self._today = dt.date.today()
        self._answer = _Answer(self)
        self._answer.answered.connect(self._on_answered)
        self._answer.counted.connect(self._on_counted)
        self._answer.failed.connect(self._on_failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # queries queue; only the latest answer is shown

    # -- reading ----------------------------------------------------------------------------

    @property
    def _generation(self) -> int:
        return self._latest.value

    @_generation.setter
    def _generation(self, value: int) -> None:
        self._latest.value = value

    def reload(self) -> None:
        """Read the current filter's count and first page now, on this thread."""
        self._generation += 1
        self._today = dt.date.today()
        total = count_patients(self.store, self.query, cap=COUNT_CAP)
        rows = patient_page(self.store, self.query, limit=PAGE)
        over = _over_cap(self.query, total)
        self._replace(self.query, None if over else total, rows, COUNT_CAP if over else None)

    def set_query(self, text: str) -> None:
        """Filter by `text` (ID, name, diagnosis) in the background; the latest text wins."""
        self._generation += 1
        path = getattr(self.store, "path", None)
        site = getattr(self.store, "url", None) is not None
        if path is None and not site:  # an in-memory store has no second connection: here
            self.query = text
            self.reload()
            return
        source = self.store if site or path is None else Path(path)
        self._pool.start(_Query(source, self._generation, text, self._answer, self._latest))

    def wait_idle(self, msecs: int = 5000) -> bool:
        """Wait until queued queries have run (tests and shutdown)."""
        return self._pool.waitForDone(msecs)

    def _on_answered(self, generation: int, query: str, total: int | None,
                     rows: list[PatientRow]) -> None:
        if generation == self._generation:
            self._replace(query, total, rows)

    def _on_counted(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        if _over_cap(self.query, total):  # more than the cap: pages are read to a short one
            self.more_than = COUNT_CAP
            self.total_changed.emit(-1)
        else:
            self.total = total
            self.total_changed.emit(total)

    def _on_failed(self, generation: int, exc: object) -> None:
        if generation == self._generation:
            self.query_failed.emit(exc)

    def _replace(self, query: str, total: int | None, rows: list[PatientRow],
                 more_than: int | None = None) -> None:
        self.beginResetModel()
        self.query, self.total, self._rows, self.more_than = query, total, rows, more_than
        self._more = len(rows) >= PAGE
        self.endResetModel()
        self.total_changed.emit(-1 if total is None else total)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008, N802
        if parent.isValid():
            return False
        return self._more if self.total is None else len(self._rows) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008, N802
        if parent.isValid() or not self._rows:
            return
        more = patient_page(self.store, self.query, after=self._rows[-1].id, limit=PAGE)
        self._more = len(more) >= PAGE
        if more:
            self.beginInsertRows(QModelIndex(), len(self._rows),
                                 len(self._rows) + len(more) - 1)
            self._rows.extend(more)
            self.endInsertRows()
        if not self._more and (self.total is None or not more):
            # the last page: every match is read (beyond the count's cap, or patients removed
            # since the count): the total is what was read
            self.total, self.more_than = len(self._rows), None
            self.total_changed.emit(self.total)

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return tr(self.COLUMNS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.text(index.row(), index.column())
        return None

    def text(self, row: int, column: int) -> str:
        """Return the text shown in a cell."""
        p = self._rows[row]
        if column == 0:
            return p.id
        if column == 1:
            return p.name
        if column == 2:
            return (p.sex or "")[:1].upper()
        if column == 3:
            age = age_at(p.birth_date, self._today)
            return "" if age is None else str(age)
        return " ".join(x for x in (p.diagnosis, p.diagnosis_display) if x)

    def patient_id(self, row: int) -> str:
        """Return the ID of the patient on `row`."""
        return self._rows[row].id
