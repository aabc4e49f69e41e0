"""The comparison view: the current study beside its prior, linked, 1x2 or 2x2 with a reformat.

The prior is chosen by the site's hanging protocol (`oncoboard.imaging.hanging`). Both series
load in the background; when they share a Frame of Reference they are linked in patient
coordinates at once, otherwise a rigid registration runs in the background (progress shown,
cancellable, cached in the data folder) and links them when it succeeds. A failed registration
or a pair without overlap is reported in the bar above the panes and the panes stay unlinked.
With the "Adjust" tool, dragging in a prior pane shifts the prior against the current (a manual
offset kept with the cached registration). Each pane keeps the single viewer's keyboard: arrows
and Page Up/Down scroll, Home/End, 1-9 pick a window preset.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from oncoboard.imaging import registration as reg
from oncoboard.ui import theme, workers
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.viewer.compare_sync import CompareSync
from oncoboard.ui.viewer.slice_view import SliceView
from oncoboard.ui.viewer.state import ViewerState

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the comparison view's context."""
    return QCoreApplication.translate("ComparisonView", text)


def load_pair_job(task: workers.Task, db_path: Any, current_uid: str,
                  prior_uid: str) -> tuple[Any, Any]:
    """Load the current and prior series (pool thread, own store)."""
    from oncoboard.imaging import load_series
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        out = []
        for i, uid in enumerate((current_uid, prior_uid)):
            out.append(load_series(store, uid, cancel=task.cancel_event.is_set,
                                   progress=lambda d, n, m, i=i: task.progress(
                                       0.5 * (i + d / max(n, 1)), m)))
        return out[0], out[1]
    finally:
        store.close()


def register_job(task: workers.Task, current: Any, prior: Any,
                 cache_root: Path | None) -> tuple[Any, str, bool]:
    """Register `current` onto `prior` (or take the cached result); pool thread."""
    cache = reg.RegistrationCache(cache_root) if cache_root is not None else None
    return reg.register_cached(
        current, prior, cache,
        # progress is emitted directly: raising from SimpleITK's callback is not an option
        progress=lambda f, m: task.signals.progressed.emit(float(f), str(m)),
        cancel=task.cancel_event.is_set,
        threads=max(1, (os.cpu_count() or 2) - 1))  # one core stays with the GUI thread


def _iso(dicom_date: str) -> str:
    d = str(dicom_date or "")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


class ComparePaneView(SliceView):
    """A slice view of one side of the comparison, with its study date and the Adjust tool."""

    offset_dragged = Signal(object)  # an LPS displacement (mm) of the prior against the current
    offset_committed = Signal()      # the drag ended

    def __init__(self, state: ViewerState, axis: int, role: str, parent: QWidget | None = None):
        super().__init__(state, axis, parent)
        self.role = role
        self.adjusting = False
        self.graphics.setObjectName(f"{role}{axis}")
        self.date_label = QLabel(self.graphics, objectName="paneDate")
        colour = theme.ACCENT if role == "current" else theme.OK
        self.date_label.setStyleSheet(f"color: {colour}; font-weight: bold; "
                                      "background: rgba(27, 32, 39, 170); padding: 2px 6px;")

    def set_caption(self, text: str) -> None:
        """Show `text` (role, date, series) in the pane's top left corner."""
        self.date_label.setText(text)
        self.date_label.adjustSize()
        self.date_label.move(6, 4)

    def redraw(self) -> None:
        """Draw the plane, unless the pane is hidden (the 1x2 layout): then when shown."""
        if not self.isVisible():
            self._shown = None
            return
        super().redraw()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.redraw()

    def _on_left_dragged(self, ev: Any) -> None:
        if not (self.adjusting and self.role == "prior" and self.state.volume is not None):
            super()._on_left_dragged(ev)
            return
        a = self.vb.mapSceneToView(ev.lastScenePos())
        b = self.vb.mapSceneToView(ev.scenePos())
        aff = self.state.volume.affine
        d_row = aff[:3, self.row_axis] / self.spacing[0] * (b.y() - a.y())
        d_col = aff[:3, self.col_axis] / self.spacing[1] * (b.x() - a.x())
        # the image follows the mouse: the anatomy under the crosshair moves the other way
        self.offset_dragged.emit(-(d_row + d_col))
        if ev.isFinish():
            self.offset_committed.emit()


class ComparisonView(QWidget):
    """Current and prior series side by side, linked.

    Signals
    -------
    pair_loaded(str, str)
        Both series are on screen (current UID, prior UID).
    link_changed(object)
        The `Link` in use changed (registration finished, offset adjusted...).
    """

    pair_loaded = Signal(str, str)
    link_changed = Signal(object)

    def __init__(self, app_context: Any = None, main_window: Any = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.main = app_context, main_window
        self.current = ViewerState(self)
        self.prior = ViewerState(self)
        self.sync = CompareSync(self.current, self.prior, self)
        self.panes = {(role, axis): ComparePaneView(state, axis, role)
                      for role, state in (("current", self.current), ("prior", self.prior))
                      for axis in (0, 1)}
        for axis in (0, 1):
            self.sync.pair_views(self.panes[("current", axis)], self.panes[("prior", axis)])
        for axis in (0, 1):
            self.panes[("prior", axis)].offset_dragged.connect(self._on_offset_dragged)
            self.panes[("prior", axis)].offset_committed.connect(self._on_offset_committed)
        self.title = QLabel(tr("No comparison open"), objectName="subtitle")
        self.status = QLabel(objectName="linkStatus")
        self.status.setWordWrap(True)
        self.layout_box = QComboBox(objectName="compareLayout")
        self.layout_box.addItem("1 × 2", "1x2")
        self.layout_box.addItem(tr("2 × 2 MPR"), "2x2")
        self.link_check = QCheckBox(tr("Linked"), objectName="linkToggle")
        self.link_check.setChecked(True)
        self.register_button = QPushButton(tr("Register"), objectName="registerButton")
        self.adjust_button = QPushButton(tr("Adjust offset"), objectName="adjustButton")
        self.adjust_button.setCheckable(True)
        self.reset_button = QPushButton(tr("Reset offset"), objectName="resetOffset")
        self.preset_box = QComboBox(objectName="comparePresets")
        self.preset_box.setMinimumWidth(190)
        self.layout_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.progress = QProgressBar(objectName="registrationProgress")
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(180)
        self.progress.hide()
        self.patient_id: str | None = None
        self.loading: workers.Task | None = None
        self.registering: workers.Task | None = None
        self.result: reg.RegistrationResult | None = None
        self.cache_key = ""
        self._build()

    def _build(self) -> None:
        bar = QHBoxLayout()
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.title, 1)
        for widget in (self.layout_box, self.link_check, self.register_button, self.progress,
                       self.adjust_button, self.reset_button, QLabel(tr("Window")),
                       self.preset_box):
            bar.addWidget(widget)
        self.layout_box.currentIndexChanged.connect(
            lambda _i: self.set_layout(self.layout_box.currentData()))
        self.link_check.toggled.connect(self._on_link_toggled)
        self.register_button.clicked.connect(self._on_register_clicked)
        self.adjust_button.toggled.connect(self._on_adjust_toggled)
        self.reset_button.clicked.connect(lambda: self.set_offset((0.0, 0.0, 0.0)))
        self.preset_box.activated.connect(
            lambda i: self.current.apply_preset(self.preset_box.itemData(i)))
        grid = QGridLayout()
        grid.setSpacing(4)
        for (role, axis), pane in self.panes.items():
            grid.addWidget(pane, axis, 0 if role == "current" else 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addLayout(grid, 1)
        self.sync.link_changed.connect(self._on_link_changed)
        self.current.window_changed.connect(self._on_window_changed)
        self.set_layout("1x2")

    def _on_window_changed(self, centre: float, width: float) -> None:
        for i, (_name, c, w) in enumerate(self.current.presets[:self.preset_box.count()]):
            if (c, w) == (centre, width):
                self.preset_box.setCurrentIndex(i)
                return

    # --- layout and link -------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        """Show ``"1x2"`` (acquisition planes) or ``"2x2"`` (plus the coronal reformat)."""
        for role in ("current", "prior"):
            self.panes[(role, 1)].setVisible(name == "2x2")
        index = self.layout_box.findData(name)
        if index >= 0 and index != self.layout_box.currentIndex():
            self.layout_box.setCurrentIndex(index)
        self.sync.sync_from_current()

    def _on_link_toggled(self, on: bool) -> None:
        self.sync.set_enabled(on)
        self._show_status()

    def _on_adjust_toggled(self, on: bool) -> None:
        for (role, _axis), pane in self.panes.items():
            pane.adjusting = on and role == "prior"

    def _on_link_changed(self, link: reg.Link) -> None:
        self._show_status()
        self.link_changed.emit(link)

    def _show_status(self) -> None:
        link = self.sync.link
        colour = {"patient": theme.OK, "registered": theme.OK}.get(link.mode, theme.WARNING)
        text = link.message
        if link.linked and not self.sync.enabled:
            text = tr("Unlinked by the reader") + " — " + text
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)
        can_offset = link.mode == "registered"
        self.adjust_button.setEnabled(can_offset)
        self.reset_button.setEnabled(can_offset and self.result is not None
                                     and any(self.result.offset_mm))

    # --- opening ---------------------------------------------------------------------------------
    def set_patient(self, patient_id: str) -> None:
        """Compare the patient's newest series that has a prior with that prior."""
        if patient_id == self.patient_id and self.current.volume is not None:
            return
        self.clear()
        self.patient_id = patient_id
        try:
            from oncoboard.imaging.hanging import HangingProtocol, current_series

            protocol = HangingProtocol.from_settings(getattr(self.ctx, "settings", None))
            current = current_series(self.ctx.store, patient_id, protocol)
        except Exception as exc:  # noqa: BLE001
            ErrorBoundary.report(exc, self, tr("Choosing the prior study"))
            return
        if current is None:
            self.title.setText(tr("No images for this patient"))
            return
        self.compare_series(current.series_uid)

    def compare_series(self, series_uid: str) -> workers.Task | None:
        """Compare indexed series `series_uid` with the prior the hanging protocol picks."""
        from oncoboard.imaging.hanging import HangingProtocol, choose_prior

        protocol = HangingProtocol.from_settings(getattr(self.ctx, "settings", None))
        prior = choose_prior(self.ctx.store, series_uid, protocol)
        if prior is None:
            self.clear()
            self.title.setText(tr("No earlier study of the same kind to compare with"))
            return None
        return self.open_pair(series_uid, prior.series_uid)

    def open_pair(self, current_uid: str, prior_uid: str) -> workers.Task:
        """Load two indexed series in the background and show them side by side."""
        if self.loading is not None:
            self.loading.cancel()
        task = workers.Task(load_pair_job, self.ctx.settings.store_target, current_uid, prior_uid,
                            name="load comparison")
        self.loading = task
        self.title.setText(tr("Loading…"))

        def done(result: tuple[Any, Any], t: workers.Task = task) -> None:
            if t is self.loading:
                self.loading = None
                self.set_pair(*result)

        if self.main is not None:
            self.main.run_task(task, tr("Loading the comparison"), on_done=done)
        else:
            workers.start(task, on_done=done, on_error=lambda exc: ErrorBoundary.report(
                exc, self, tr("Loading the comparison")))
        return task

    def clear(self) -> None:
        """Show nothing (another patient was opened)."""
        for task in (self.loading, self.registering):
            if task is not None:
                task.cancel()
        self.loading = self.registering = None
        self.progress.hide()
        self.current.clear()
        self.prior.clear()
        self.result = None
        self.sync.set_link(reg.Link("unregistered"))
        self.status.clear()
        self.title.setText(tr("No comparison open"))

    def set_pair(self, current: Any, prior: Any, *, register: bool = True) -> None:
        """Show two volumes; link them at once or after a background registration."""
        self.result = None
        self.sync.link = reg.Link("unregistered")
        self.current.set_volume(current)
        self.prior.set_volume(prior)
        self.title.setText(f"{current.modality}  {current.description}  —  "
                           f"{_iso(current.meta.get('study_date', ''))} "
                           f"{tr('vs')} {_iso(prior.meta.get('study_date', ''))}")
        for (role, _axis), pane in self.panes.items():
            vol = current if role == "current" else prior
            label = tr("Current") if role == "current" else tr("Prior")
            pane.set_caption(f"{label}  {_iso(vol.meta.get('study_date', ''))}")
            pane.date_label.setToolTip(vol.description)
        self.preset_box.clear()
        for name, centre, width in self.current.presets:
            # the preset names are translated once, with the single viewer's strings
            shown = QCoreApplication.translate("ViewerView", name)
            self.preset_box.addItem(f"{shown} ({centre:.0f}/{width:.0f})", name)
        self._on_window_changed(self.current.centre, self.current.width)
        link = reg.initial_link(current, prior)
        self.sync.set_link(link)
        self.register_button.setEnabled(link.mode != "patient")
        if link.mode == "unregistered" and register:
            self.start_registration()
        self.pair_loaded.emit(current.series_uid, prior.series_uid)

    # --- registration ----------------------------------------------------------------------------
    def _cache_root(self) -> Path | None:
        settings = getattr(self.ctx, "settings", None)
        return Path(settings.cache_dir) / "registration" if settings is not None else None

    def start_registration(self) -> workers.Task | None:
        """Register the prior onto the current series in the background."""
        if self.current.volume is None or self.prior.volume is None:
            return None
        if self.registering is not None:
            self.registering.cancel()
        task = workers.Task(register_job, self.current.volume, self.prior.volume,
                            self._cache_root(), name="registration")
        self.registering = task
        self.progress.setValue(0)
        self.progress.show()
        self.register_button.setText(tr("Cancel registration"))
        self.status.setText(tr("Registering the prior study…"))
        workers.start(task, on_done=functools.partial(self._on_registered, task),
                      on_error=functools.partial(self._on_registration_failed, task),
                      on_progress=functools.partial(self._on_registration_progress, task))
        task.signals.cancelled.connect(functools.partial(self._on_registration_cancelled, task))
        return task

    def _on_registration_progress(self, task: workers.Task, fraction: float,
                                  _message: str = "") -> None:
        if task is self.registering:
            self.progress.setValue(int(100 * fraction))

    def _on_register_clicked(self) -> None:
        if self.registering is not None:
            self.registering.cancel()
        else:
            self.start_registration()

    def _end_registration(self) -> None:
        self.registering = None
        self.progress.hide()
        self.register_button.setText(tr("Register"))

    def _on_registered(self, task: workers.Task, out: tuple[Any, str, bool]) -> None:
        if task is not self.registering:
            return
        self._end_registration()
        self.result, self.cache_key, _cached = out
        self.sync.set_link(reg.link_from_result(self.result))

    def _on_registration_failed(self, task: workers.Task, exc: BaseException) -> None:
        if task is not self.registering:
            return
        self._end_registration()
        self.sync.set_link(reg.Link("unregistered", message=tr("Registration failed: {e}")
                                    .format(e=exc)))

    def _on_registration_cancelled(self, task: workers.Task) -> None:
        if task is not self.registering:
            return
        self._end_registration()
        self.sync.set_link(reg.Link("unregistered", message=tr(
            "Registration cancelled: the panes are not linked")))

    # --- manual offset ---------------------------------------------------------------------------
    def set_offset(self, offset_mm: Any) -> None:
        """Set the manual offset (prior LPS mm) on the registration and relink."""
        if self.result is None:
            return
        x, y, z = (float(v) for v in offset_mm)
        self.result.offset_mm = (x, y, z)
        if self.cache_key:
            root = self._cache_root()
            if root is not None:
                reg.RegistrationCache(root).set_offset(self.cache_key, (x, y, z))
        self.sync.set_link(reg.link_from_result(self.result))

    def _on_offset_committed(self) -> None:
        if self.result is not None:
            self.set_offset(self.result.offset_mm)  # kept with the cached registration

    def _on_offset_dragged(self, delta: Any) -> None:
        if self.result is None:
            return
        x, y, z = (float(v) for v in np.add(self.result.offset_mm, delta))
        self.result.offset_mm = (x, y, z)
        self.sync.set_link(reg.link_from_result(self.result))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_L and not event.modifiers():
            self.link_check.toggle()  # L links and unlinks, as on most reading stations
            return
        super().keyPressEvent(event)
