"""The main window: navigation on the left, one view at a time, background tasks at the bottom."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from oncoboard import __version__
from oncoboard.ui import workers
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.patient_view import PatientView
from oncoboard.ui.patients_view import PatientBrowserView

log = logging.getLogger(__name__)

VIEWS = ("patients", "patient", "viewer", "predictions", "board")
VIEW_TITLES = {"patients": "Patients", "patient": "Patient", "viewer": "Images",
               "predictions": "Predictions", "board": "Tumour board"}

#: Views created on first use: name -> (module, class); each takes (app_context, main_window).
OPTIONAL_VIEWS = {
    "viewer": ("oncoboard.ui.viewer.viewer_view", "ViewerView"),
    "compare": ("oncoboard.ui.viewer.compare_view", "ComparisonView"),  # from the viewer
    "predictions": ("oncoboard.ui.predictions_view", "PredictionsView"),
    "board": ("oncoboard.ui.board_view", "BoardView"),
}


def tr(text: str) -> str:
    """Translate `text` in the main window's context."""
    return QCoreApplication.translate("MainWindow", text)


class TaskProgressWidget(QWidget):
    """The running background task: what it does, how far it is, and a Cancel button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel(objectName="muted")
        self.bar = QProgressBar(objectName="taskProgress")
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(260)
        self.cancel_button = QPushButton(tr("Cancel"), objectName="cancelTask")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.task: workers.Task | None = None
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.hide()

    def track(self, task: workers.Task, text: str) -> None:
        """Show `task`'s progress until it ends."""
        self.task = task
        self.label.setText(text)
        self.bar.setValue(0)
        self.show()
        task.signals.progressed.connect(self._on_progressed)
        task.signals.finished.connect(lambda t=task: self._on_finished(t))

    def _on_progressed(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if message:
            self.bar.setFormat(message[:40])

    def _on_finished(self, task: workers.Task) -> None:
        if task is self.task:
            self.task = None
            self.hide()

    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()


class MainWindow(QMainWindow):
    """The workstation window.

    Parameters
    ----------
    app_context
        ``oncoboard.cli.Context``-like object with ``settings``, ``store`` and ``log_file``.

    Signals
    -------
    view_changed(str)
        The named view is now on screen.
    """

    view_changed = Signal(str)

    def __init__(self, app_context: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = app_context
        self.store = app_context.store
        self.setWindowTitle(tr("Oncoboard {v}").format(v=__version__))
        self.stack = QStackedWidget()
        self.nav = QButtonGroup(self)
        self.nav.setExclusive(True)
        self.nav_buttons: dict[str, QToolButton] = {}
        self.views: dict[str, QWidget] = {}
        self.factories: dict[str, Callable[[], QWidget]] = {}
        self.task_widget = TaskProgressWidget()
        self.current_patient: str | None = None
        self._build()
        self._follow_changes()

    # --- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        side = QWidget(objectName="navPanel")
        side.setFixedWidth(190)
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 12, 0, 12)
        side_lay.setSpacing(2)
        brand = QLabel("Oncoboard", objectName="title")
        brand.setContentsMargins(16, 0, 0, 16)
        side_lay.addWidget(brand)
        self.patients_view = PatientBrowserView(self.store)
        self.patient_view = PatientView(self.store)
        self._register("patients", self.patients_view)
        self._register("patient", self.patient_view)
        for name, factory in self._optional_views().items():
            self.factories[name] = factory
        for name in VIEWS:
            if name not in self.views and name not in self.factories:
                continue
            button = QToolButton(objectName="nav")
            button.setText(tr(VIEW_TITLES[name]))
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(button.sizePolicy().horizontalPolicy().Expanding,
                                 button.sizePolicy().verticalPolicy())
            button.clicked.connect(lambda _c=False, n=name: self.show_view(n))
            self.nav.addButton(button)
            self.nav_buttons[name] = button
            side_lay.addWidget(button)
        side_lay.addStretch(1)
        self.patient_label = QLabel(objectName="muted")
        self.patient_label.setWordWrap(True)
        self.patient_label.setContentsMargins(16, 0, 8, 4)
        self.patient_label.setMinimumHeight(64)
        side_lay.addWidget(self.patient_label)
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(side)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.statusBar().addPermanentWidget(self.task_widget)
        self._build_menus()
        self.patients_view.patient_selected.connect(self._on_patient_selected)
        self.patients_view.refresh()
        self.show_view("patients")

    def _optional_views(self) -> dict[str, Callable[[], QWidget]]:
        """Return factories of the views built on first use (they import heavier modules)."""
        import importlib

        factories: dict[str, Callable[[], QWidget]] = {}
        for name, (module, cls) in OPTIONAL_VIEWS.items():
            def factory(module: str = module, cls: str = cls) -> QWidget:
                view: QWidget = getattr(importlib.import_module(module), cls)(self.ctx, self)
                return view

            factories[name] = factory
        return factories

    def _register(self, name: str, widget: QWidget) -> None:
        self.views[name] = widget
        self.stack.addWidget(widget)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(tr("&File"))
        self._action(file_menu, tr("Find patient…"), self._on_find_requested,
                     QKeySequence.StandardKey.Find)
        file_menu.addSeparator()
        self._action(file_menu, tr("Import patient records…"), lambda: self.open_import("records"))
        self._action(file_menu, tr("Import DICOM images…"), lambda: self.open_import("dicom"))
        self._action(file_menu, tr("Query a PACS…"), self.open_pacs)
        file_menu.addSeparator()
        self._action(file_menu, tr("Settings…"), self.open_settings, QKeySequence("Ctrl+,"))
        file_menu.addSeparator()
        self._action(file_menu, tr("Quit"), self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu(tr("&View"))
        for i, name in enumerate(VIEWS):
            if name in self.nav_buttons:
                self._action(view_menu, tr(VIEW_TITLES[name]),
                             functools.partial(self.show_view, name),
                             QKeySequence(f"Ctrl+{i + 1}"))
        self.help_menu = self.menuBar().addMenu(tr("&Help"))
        self._action(self.help_menu, tr("Validate a model on local patients…"),
                     self.open_validation)
        self._action(self.help_menu, tr("About and diagnostics…"), self.open_about)
        self.file_menu = file_menu

    def _action(self, menu: Any, text: str, slot: Callable[[], Any],
                shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _c=False: slot())
        menu.addAction(action)
        return action

    # --- navigation ---------------------------------------------------------------------------
    def view(self, name: str) -> QWidget:
        """Return the view called `name`, creating it on first use."""
        if name not in self.views:
            if name not in self.factories:
                raise KeyError(name)
            self._register(name, self.factories[name]())
            if self.current_patient and hasattr(self.views[name], "set_patient"):
                self.views[name].set_patient(self.current_patient)  # type: ignore[attr-defined]
        return self.views[name]

    def show_view(self, name: str) -> QWidget:
        """Bring the view called `name` on screen and return it."""
        widget = self.view(name)
        self.stack.setCurrentWidget(widget)
        if name in self.nav_buttons:
            self.nav_buttons[name].setChecked(True)
        self.view_changed.emit(name)
        return widget

    def open_patient(self, patient_id: str, note_id: str = "") -> None:
        """Open `patient_id` in the patient view and in every view already created."""
        refresher = getattr(self, "patient_refresher", None)
        if refresher is not None:  # a read for a change elsewhere may be older than this one
            refresher.invalidate()
        try:
            self.patient_view.set_patient(patient_id, note_id)
        except Exception as exc:  # noqa: BLE001 - shown by the error boundary
            ErrorBoundary.report(exc, self, tr("Opening patient {p}").format(p=patient_id))
            return
        self.current_patient = patient_id
        summary = self.patient_view.card
        self.patient_label.setText(f"{summary.name.text()}\n{patient_id}")
        for name, widget in self.views.items():
            if name not in ("patients", "patient") and hasattr(widget, "set_patient"):
                widget.set_patient(patient_id)
        self.show_view("patient")

    def refresh_patient_timeline(self) -> None:
        """Redraw the open patient's timeline (e.g. after new predictions)."""
        pid = self.patient_view.patient_id
        if pid:
            from oncoboard.ui import records

            self.patient_view.timeline.set_events(
                records.treatments(self.store, pid), records.outcomes(self.store, pid),
                records.imaging_studies(self.store, pid),
                records.prediction_events(self.store, pid))

    def run_task(self, task: workers.Task, text: str, *,
                 on_done: Callable[[Any], None] | None = None, action: str = "") -> workers.Task:
        """Run `task` in the background with progress in the status bar; errors become dialogs."""
        self.task_widget.track(task, text)
        task.signals.cancelled.connect(lambda: self.statusBar().showMessage(tr("Cancelled"), 4000))
        return workers.start(task, on_done=on_done,
                             on_error=lambda exc: ErrorBoundary.report(exc, self, action or text))

    # --- changes made elsewhere ----------------------------------------------------------------
    def _follow_changes(self) -> None:
        """Watch the change feed for the open patient's record (the board view has its own)."""
        from oncoboard.ui.board_watch import BoardWatcher
        from oncoboard.ui.live_refresh import Refresher

        self.watcher = BoardWatcher(self.store, self)
        self.watcher.changed.connect(self._on_feed_changed)
        self.patient_refresher = Refresher(self._patient_task, self._on_patient_read,
                                           self._on_patient_read_failed)
        self._patient_said = ""

    def _on_feed_changed(self, changes: Any) -> None:
        from oncoboard.dates import local_time
        from oncoboard.ui.board_jobs import change_kind_text

        kinds = changes.patients.get(self.current_patient) if self.current_patient else None
        if not kinds:
            return
        kind, (by, at) = max(kinds.items(), key=lambda k: k[1][1])
        self._patient_said = tr("Patient {p}: {what} changed by {user} at {time}: "
                                "updated.").format(p=self.current_patient,
                                                   what=change_kind_text(kind), user=by,
                                                   time=local_time(at))
        self.patient_refresher.request()

    def _patient_task(self) -> workers.Task | None:
        from oncoboard.ui.live_refresh import patient_job

        if not self.current_patient:
            return None
        return workers.Task(patient_job, self.store, self.current_patient,
                            name="patient refresh")

    def _on_patient_read(self, record: Any) -> None:
        """Show the open patient read again, in every view that shows them."""
        if record.patient_id != self.current_patient:
            return
        self.patient_view.apply_record(record)
        predictions = self.views.get("predictions")
        if predictions is not None:
            predictions.apply_stored(record.patient_id,  # type: ignore[attr-defined]
                                     record.predictions)
        viewer = self.views.get("viewer")
        if viewer is not None:
            viewer.follow_series(record.patient_id, record.series)  # type: ignore[attr-defined]
        if self._patient_said:
            self.statusBar().showMessage(self._patient_said, 10000)

    def _on_patient_read_failed(self, exc: BaseException) -> None:
        # a server briefly unreachable: the screen stays as it was; the next change reads again
        log.warning("patient refresh failed: %s", exc)

    # --- dialogs ------------------------------------------------------------------------------
    def open_import(self, kind: str) -> Any:
        """Open the import dialog for patient records or DICOM (non-modal); return it."""
        from oncoboard.ui.import_dialogs import ImportDialog

        dialog = ImportDialog(self.ctx, kind, self)
        dialog.imported.connect(lambda _lines: self._on_imported())
        dialog.open()
        return dialog

    def open_pacs(self) -> Any:
        """Open the PACS query dialog; return it."""
        from oncoboard.ui.import_dialogs import PacsQueryDialog

        dialog = PacsQueryDialog(self.ctx, self)
        dialog.retrieved.connect(lambda _lines: self._on_imported())
        dialog.view_requested.connect(self.view_remote)
        dialog.open()
        return dialog

    def view_remote(self, node: Any, study_uid: str, series_uid: str) -> Any:
        """Show a PACS series in the viewer without importing it; return the loading task."""
        viewer = self.show_view("viewer")
        return viewer.open_remote(node, study_uid, series_uid)  # type: ignore[attr-defined]

    def open_settings(self) -> Any:
        """Open the settings dialog; return it."""
        from oncoboard.ui.settings_dialogs import SettingsDialog

        dialog = SettingsDialog(self.ctx.settings, self)
        dialog.saved.connect(self._on_settings_saved)
        dialog.open()
        return dialog

    def open_validation(self) -> Any:
        """Open the local validation panel (``oncoboard validate`` in the background)."""
        from oncoboard.ui.validation_panel import ValidationDialog

        dialog = ValidationDialog(self.ctx.settings, self)
        dialog.show()
        return dialog

    def open_about(self) -> Any:
        """Open the about/diagnostics dialog; return it."""
        from oncoboard.ui.settings_dialogs import AboutDialog

        dialog = AboutDialog(self.ctx.settings, self)
        dialog.open()
        return dialog

    def _on_imported(self) -> None:
        self.patients_view.refresh()
        if self.current_patient:
            viewer = self.views.get("viewer")
            if viewer is not None:
                viewer.set_patient(self.current_patient)  # type: ignore[attr-defined]

    def _on_settings_saved(self, changed: dict[str, Any]) -> None:
        if "language" in changed:
            self.apply_language(changed["language"])
        if "data_dir" in changed:
            self.statusBar().showMessage(tr("The new data folder is used at the next start."),
                                         8000)

    def apply_language(self, language: str) -> None:
        """Switch the interface language now (views are rebuilt; the open patient stays)."""
        from oncoboard.ui.app import install_language

        install_language(language)
        name = self.current_view_name()
        patient = self.current_patient
        self.menuBar().clear()
        self.views, self.nav_buttons, self.factories = {}, {}, {}
        self.nav = QButtonGroup(self)
        self.stack = QStackedWidget()
        self.current_patient = None
        self._build()
        central = self.centralWidget()
        if central is not None:  # _build sets it
            central.setVisible(self.isVisible())
        self.setWindowTitle(tr("Oncoboard {v}").format(v=__version__))
        if patient:
            self.open_patient(patient)
        self.show_view(name)

    def current_view_name(self) -> str:
        """Return the name of the view on screen."""
        widget = self.stack.currentWidget()
        return next((n for n, w in self.views.items() if w is widget), "patients")

    def _on_patient_selected(self, patient_id: str, note_id: str) -> None:
        self.open_patient(patient_id, note_id)

    def _on_find_requested(self) -> None:
        self.show_view("patients")
        self.patients_view.search_edit.setFocus()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        workers.wait_all(10000)
        super().closeEvent(event)
