"""Import dialogs: patient records (FHIR/CSV), DICOM files and folders, PACS query/retrieve.

Every import runs in a worker with a progress bar and a Cancel button; the dialog stays
responsive and reports what was imported and what was skipped, with reasons.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import workers
from oncoboard.ui.errors import ErrorBoundary

if TYPE_CHECKING:
    from oncoboard.config import Settings


def tr(text: str) -> str:
    """Translate `text` in the import dialogs' context."""
    return QCoreApplication.translate("ImportDialog", text)


def import_records_job(task: workers.Task, db_path: Any, paths: list[Path],
                       patient_match: str | None = None) -> list[str]:
    """Import FHIR/CSV files in order (each all-or-nothing); return one line per file.

    A bad file does not stop the others. Many files are read on every CPU, as the command
    line does (``import_files``). With `patient_match` (the settings' rule), DICOM studies
    indexed before their patients' records are then linked to them.
    """
    from oncoboard.errors import OncoboardError
    from oncoboard.patients.import_pool import import_files
    from oncoboard.store import open_store

    store = open_store(db_path)
    lines = []

    def refused(path: Path, exc: OncoboardError) -> None:
        lines.append(tr("NOT IMPORTED: {m}").format(m=exc.message))
        task.progress(len(lines) / len(paths), path.name)

    try:
        for report in import_files(store, paths, on_error=refused):
            lines.append(report.describe())
            task.progress(len(lines) / len(paths), Path(report.path).name)
        if patient_match:
            from oncoboard.imaging.index import relink_studies

            if linked := relink_studies(store, patient_match):
                lines.append(tr("DICOM studies linked to their patients: {n}").format(n=linked))
    finally:
        store.close()
    return lines


def import_dicom_job(task: workers.Task, db_path: Any, settings: Settings, paths: list[Path]
                     ) -> list[str]:
    """Index DICOM files, folders, zip files or DICOMDIRs; return a summary."""
    from oncoboard.imaging import index_paths
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        report = index_paths(store, paths, settings=settings,
                             progress=lambda d, t, m: task.progress(d / max(t, 1), m),
                             cancel=task.cancel_event.is_set)
    finally:
        store.close()
    lines = [tr("{n} images indexed in {s} series ({f} files seen)").format(
        n=report.instances_indexed, s=len(report.series_uids), f=report.files_seen)]
    lines += [tr("skipped {p}: {why}").format(p=p, why=why) for p, why in report.skipped[:50]]
    if report.unlinked_patient_ids:
        lines.append(tr("No patient record for DICOM patient IDs: {ids}").format(
            ids=", ".join(report.unlinked_patient_ids)))
    return lines


class ImportDialog(QDialog):
    """Choose files or folders and import them with progress and cancel.

    Parameters
    ----------
    kind
        ``"records"`` (FHIR bundles, CSV) or ``"dicom"``.

    Signals
    -------
    imported(list)
        The import ended; one summary line per item.
    """

    imported = Signal(list)

    def __init__(self, app_context: Any, kind: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.kind = app_context, kind
        self.setWindowTitle(tr("Import patient records") if kind == "records"
                            else tr("Import DICOM images"))
        self.resize(900, 600)
        self.paths = QListWidget(objectName="importPaths")
        self.add_files = QPushButton(tr("Add files…"))
        self.add_folder = QPushButton(tr("Add folder…"))
        self.start_button = QPushButton(tr("Import"), objectName="primary")
        self.cancel_button = QPushButton(tr("Cancel"), objectName="cancelImport")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(objectName="importProgress")
        self.progress.setRange(0, 1000)
        self.report = QTextBrowser(objectName="importReport")
        row = QHBoxLayout()
        for b in (self.add_files, self.add_folder):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        hint = tr("FHIR R4 bundles (.json) or CSV files in the documented layout.") \
            if kind == "records" else tr("DICOM files, folders (searched recursively), zip "
                                         "files or DICOMDIR.")
        lay.addWidget(QLabel(hint, objectName="muted"))
        lay.addWidget(self.paths, 1)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.report, 1)
        self.task: workers.Task | None = None
        self.add_files.clicked.connect(self._on_add_files_clicked)
        self.add_folder.clicked.connect(self._on_add_folder_clicked)
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self._on_cancel_clicked)

    def add_paths(self, paths: list[Path]) -> None:
        """Add files or folders to import."""
        for p in paths:
            self.paths.addItem(str(p))

    def _on_add_files_clicked(self) -> None:
        pattern = tr("Records (*.json *.csv)") if self.kind == "records" else tr("All files (*)")
        files, _f = QFileDialog.getOpenFileNames(self, tr("Choose files"), str(Path.home()),
                                                 pattern)
        self.add_paths([Path(f) for f in files])

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Choose a folder"), str(Path.home()))
        if not folder:
            return
        if self.kind == "records":
            self.add_paths(sorted(p for p in Path(folder).rglob("*")
                                  if p.suffix.lower() in (".json", ".csv")))
        else:
            self.add_paths([Path(folder)])

    def start(self) -> workers.Task | None:
        """Import the listed paths in the background."""
        paths = [Path(self.paths.item(i).text()) for i in range(self.paths.count())]
        if not paths:
            return None
        if self.kind == "records":
            task = workers.Task(import_records_job, self.ctx.settings.store_target, paths,
                                self.ctx.settings.patient_match, name="import records")
        else:
            task = workers.Task(import_dicom_job, self.ctx.settings.store_target, self.ctx.settings,
                                paths, name="import dicom")
        self.task = task
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.report.clear()
        task.signals.progressed.connect(self._on_progress)
        # bound methods, not lambdas: Qt drops the connection when the dialog is closed and
        # deleted before the task ends
        task.signals.cancelled.connect(self._on_cancelled)
        task.signals.finished.connect(self._on_finished)
        workers.start(task, on_done=self._on_done, on_error=self._on_error)
        return task

    def _on_cancelled(self) -> None:
        self.report.append(tr("Cancelled."))

    def _on_error(self, exc: BaseException) -> None:
        ErrorBoundary.report(exc, self, self.windowTitle())

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(message[:60])

    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_done(self, lines: list[str]) -> None:
        self.progress.setValue(1000)
        self.progress.setFormat(tr("Done"))
        self.report.setPlainText("\n".join(lines))
        self.imported.emit(lines)

    def _on_finished(self) -> None:
        self.task = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)


STUDY_COLUMNS = ("patient_id", "patient_name", "study_date", "modalities", "description",
                 "study_uid")


SERIES_COLUMNS = ["series_number", "modality", "description", "n_instances"]
NON_IMAGE = ("SR", "RTSTRUCT", "RTPLAN", "RTDOSE", "SEG", "PR", "KO", "DOC")


class PacsQueryDialog(QDialog):
    """Find studies on a configured PACS node and retrieve the chosen ones into the store.

    Signals
    -------
    found(int)
        A query returned this many studies.
    retrieved(list)
        A retrieval ended (summary lines).
    series_found(int)
        The series of the selected study were listed (how many).
    view_requested(object, str, str)
        View this series without importing it: (node, study UID, series UID).
    """

    found = Signal(int)
    retrieved = Signal(list)
    series_found = Signal(int)
    view_requested = Signal(object, str, str)

    def __init__(self, app_context: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = app_context
        self.setWindowTitle(tr("Query a PACS"))
        self.resize(1100, 700)
        self.node = QComboBox(objectName="pacsNode")
        for n in app_context.settings.pacs:
            where = (f"DICOMweb {n.dicomweb_url}" if n.is_dicomweb
                     else f"{n.ae_title}@{n.host}:{n.port}")
            self.node.addItem(f"{n.name} ({where})", n.name)
        self.patient_id = QLineEdit(objectName="pacsPatientId")
        self.patient_name = QLineEdit(objectName="pacsPatientName")
        self.study_date = QLineEdit(objectName="pacsStudyDate")
        self.study_date.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.modality = QLineEdit(objectName="pacsModality")
        # C-GET needs nothing from the PACS; C-MOVE needs our AE title (Settings) known there.
        self.method = QComboBox(objectName="pacsRetrieveMethod")
        self.method.addItem("C-GET", "get")
        self.method.addItem("C-MOVE", "move")
        self.echo_button = QPushButton(tr("Test connection"))
        self.find_button = QPushButton(tr("Search"), objectName="primary")
        self.retrieve_button = QPushButton(tr("Retrieve selected"))
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.series_button = QPushButton(tr("Series of the study"), objectName="pacsListSeries")
        self.view_button = QPushButton(tr("View without importing"), objectName="pacsView")
        self.series_table = QTableWidget(0, len(SERIES_COLUMNS), objectName="pacsSeries")
        self.series_table.setHorizontalHeaderLabels([tr(c.replace("_", " "))
                                                     for c in SERIES_COLUMNS])
        self.series_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.series_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.series_rows: list[dict[str, Any]] = []
        self.table = QTableWidget(0, len(STUDY_COLUMNS), objectName="pacsStudies")
        self.table.setHorizontalHeaderLabels([tr(c.replace("_", " ")) for c in STUDY_COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel(objectName="muted")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow(tr("Node"), self.node)
        form.addRow(tr("Patient ID"), self.patient_id)
        form.addRow(tr("Patient name"), self.patient_name)
        form.addRow(tr("Study date"), self.study_date)
        form.addRow(tr("Modality"), self.modality)
        form.addRow(tr("Retrieve by"), self.method)
        row = QHBoxLayout()
        for b in (self.echo_button, self.find_button, self.retrieve_button, self.series_button,
                  self.view_button, self.cancel_button):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        if not app_context.settings.pacs:
            lay.addWidget(QLabel(tr("No PACS node is configured: add one in Settings."),
                                 objectName="warning"))
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.series_table, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.studies: list[dict[str, Any]] = []
        self.task: workers.Task | None = None
        for b in (self.echo_button, self.find_button, self.retrieve_button, self.series_button,
                  self.view_button):
            b.setEnabled(bool(app_context.settings.pacs))
        self.echo_button.clicked.connect(lambda: self.echo())
        self.find_button.clicked.connect(lambda: self.search())
        self.retrieve_button.clicked.connect(lambda: self.retrieve())
        self.cancel_button.clicked.connect(lambda: self.task and self.task.cancel())
        self.series_button.clicked.connect(lambda: self.list_series())
        self.view_button.clicked.connect(lambda: self.view())
        self.series_table.itemDoubleClicked.connect(lambda _i: self.view())
        self.node.currentIndexChanged.connect(lambda _i: self._on_node_changed())
        self._on_node_changed()

    def _on_node_changed(self) -> None:
        """C-GET / C-MOVE applies to DIMSE nodes only (a DICOMweb node retrieves by WADO-RS)."""
        name = self.node.currentData()
        node = next((n for n in self.ctx.settings.pacs if n.name == name), None)
        self.method.setEnabled(node is not None and not node.is_dicomweb)
        self.view_button.setEnabled(node is not None and node.is_dicomweb)
        self.view_button.setToolTip("" if node is None or node.is_dicomweb else tr(
            "Viewing without importing needs a DICOMweb node"))

    def _selected_node(self) -> Any:
        return self.ctx.settings.pacs_node(self.node.currentData())

    def _run(self, task: workers.Task, on_done: Any, on_cancelled: Any = None) -> workers.Task:
        self.task = task
        self.cancel_button.setEnabled(True)
        # bound methods, not lambdas: Qt drops these connections when the dialog is closed
        # and deleted before the task ends
        task.signals.progressed.connect(self._on_task_progress)
        task.signals.finished.connect(self._on_task_finished)
        task.signals.cancelled.connect(
            workers.while_alive(self, on_cancelled) if on_cancelled else self._on_task_cancelled)
        return workers.start(task, on_done=workers.while_alive(self, on_done),
                             on_error=self._on_failed)

    def _on_task_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))

    def _on_task_finished(self) -> None:
        self.cancel_button.setEnabled(False)

    def _on_task_cancelled(self) -> None:
        self.status.setText(tr("Cancelled."))

    def _on_failed(self, exc: BaseException) -> None:
        self.status.setText(ErrorBoundary.message_for(exc))
        ErrorBoundary.report(exc, self, self.windowTitle())

    def echo(self) -> workers.Task:
        """Check that the node answers (C-ECHO)."""
        from oncoboard.imaging import pacs

        node = self._selected_node()
        return self._run(workers.Task(lambda _t: pacs.echo(node), name="echo"),
                         lambda r: self.status.setText(
                             tr("{n} answered in {s:.2f} s").format(n=r.node, s=r.elapsed_s)))

    def search(self) -> workers.Task:
        """Find studies matching the filters (C-FIND, study level)."""
        from oncoboard.imaging import pacs

        filters = {k: w.text().strip() for k, w in (
            ("patient_id", self.patient_id), ("patient_name", self.patient_name),
            ("study_date", self.study_date), ("modality", self.modality)) if w.text().strip()}
        node = self._selected_node()
        return self._run(workers.Task(lambda _t: pacs.find(node, "study", filters, limit=500),
                                      name="find"), self._on_found)

    def _on_found(self, studies: list[dict[str, Any]]) -> None:
        self.studies = studies
        self.table.setRowCount(len(studies))
        for i, study in enumerate(studies):
            for j, key in enumerate(STUDY_COLUMNS):
                value = study.get(key)
                if isinstance(value, list):
                    value = "/".join(str(v) for v in value)
                self.table.setItem(i, j, QTableWidgetItem("" if value is None else str(value)))
        self.table.resizeColumnsToContents()
        self.status.setText(tr("{n} studies found").format(n=len(studies)))
        self.found.emit(len(studies))

    def retrieve(self) -> workers.Task | None:
        """Retrieve the selected studies into the store (C-GET or C-MOVE), with progress and cancel.

        A cancelled retrieval keeps the studies retrieved before it and says which was
        cancelled (the PACS may cancel too).
        """
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        uids = [self.studies[r]["study_uid"] for r in rows]
        if not uids:
            return None
        node, settings = self._selected_node(), self.ctx.settings
        db_path, method = settings.store_target, str(self.method.currentData())
        lines: list[str] = []  # filled as studies arrive: shown even if the task is cancelled

        def job(task: workers.Task) -> list[str]:
            from oncoboard.imaging import pacs
            from oncoboard.store import open_store

            store = open_store(db_path)
            try:
                for uid in uids:
                    report = pacs.retrieve_into_store(
                        settings, store, node, study_uid=uid, method=method,
                        progress=lambda d, t, m: task.progress(d / max(t, 1), m),
                        cancel=task.cancel_event.is_set)
                    if report.cancelled:
                        lines.append(tr("{uid}: cancelled").format(uid=uid))
                        break
                    lines.append(tr("{uid}: {n} files").format(uid=uid, n=len(report.files)))
                    lines.extend(report.failures)
            finally:
                store.close()
            return lines

        def cancelled() -> None:
            self._on_retrieved([*lines, tr("Cancelled.")])

        return self._run(workers.Task(job, name="retrieve"), self._on_retrieved, cancelled)

    def _on_retrieved(self, lines: list[str]) -> None:
        self.status.setText("\n".join(lines))
        self.retrieved.emit(lines)

    def list_series(self) -> workers.Task | None:
        """List the series of the selected study (QIDO-RS or C-FIND, series level)."""
        from oncoboard.imaging import pacs

        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows:
            return None
        uid, node = self.studies[rows[0]]["study_uid"], self._selected_node()
        self.series_study = uid
        return self._run(workers.Task(lambda _t: pacs.find(node, "series", {"study_uid": uid}),
                                      name="find series"), self._on_series_found)

    def _on_series_found(self, series: list[dict[str, Any]]) -> None:
        self.series_rows = [s for s in series if s.get("modality") not in NON_IMAGE]
        self.series_table.setRowCount(len(self.series_rows))
        for i, row in enumerate(self.series_rows):
            for j, key in enumerate(SERIES_COLUMNS):
                value = row.get(key)
                self.series_table.setItem(i, j, QTableWidgetItem("" if value is None
                                                                 else str(value)))
        self.series_table.resizeColumnsToContents()
        if self.series_rows:
            self.series_table.selectRow(0)
        self.series_found.emit(len(self.series_rows))

    def view(self) -> bool:
        """Ask the viewer to show the selected series without importing it."""
        node = self._selected_node()
        rows = sorted({i.row() for i in self.series_table.selectedIndexes()})
        if not rows or not node.is_dicomweb:
            if not node.is_dicomweb:
                self.status.setText(tr("Viewing without importing needs a DICOMweb node"))
            return False
        chosen = self.series_rows[rows[0]]
        self.view_requested.emit(node, str(chosen.get("study_uid") or self.series_study),
                                 str(chosen["series_uid"]))
        return True
