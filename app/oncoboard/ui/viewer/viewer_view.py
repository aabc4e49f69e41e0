"""The radiology viewer: series browser, three linked planes, tools, readout, overlays, 3D."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import workers
from oncoboard.ui.elided_label import ElidedLabel
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.viewer.jobs import (
    THUMB,
    decode_rest_job,
    fetch_rest_job,
    open_local_job,
    open_remote_job,
    thumbnail,
    thumbnails_job,
)
from oncoboard.ui.viewer.lesion_panel import LesionPanel
from oncoboard.ui.viewer.slice_view import SliceView
from oncoboard.ui.viewer.state import ViewerState
from oncoboard.ui.viewer.volume3d import Volume3DPanel

log = logging.getLogger(__name__)
__all__ = ["THUMB", "SeriesBrowserWidget", "ViewerView", "thumbnail", "to_pixmap"]


def tr(text: str) -> str:
    """Translate `text` in the viewer's context."""
    return QCoreApplication.translate("ViewerView", text)


def to_pixmap(gray: np.ndarray) -> QPixmap:
    """Return a QPixmap of an 8-bit grey image."""
    h, w = gray.shape
    image = QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(image.copy())


#: Series the browser does not list (structures, plans, doses, reports: not images to scroll).
NOT_BROWSED = ("RTSTRUCT", "SEG", "RTPLAN", "RTDOSE", "SR")


class SeriesBrowserWidget(QListWidget):
    """The patient's series as thumbnails; double click opens one.

    Signals
    -------
    series_activated(str)
        The user chose the series with this UID.
    """

    series_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="seriesBrowser")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFlow(QListWidget.Flow.TopToBottom)
        self.setWrapping(False)
        self.setWordWrap(True)
        self.setFixedWidth(THUMB + 70)
        self.setMovement(QListWidget.Movement.Static)
        self.itemActivated.connect(self._on_item_activated)
        self.itemDoubleClicked.connect(self._on_item_activated)

    def set_series(self, series: list[Any]) -> None:
        """List `series` (``SeriesInfo`` objects)."""
        self.clear()
        for s in series:
            count = getattr(s, "n_frames", 0) or getattr(s, "n_instances", 0)
            item = QListWidgetItem(f"{s.modality} {s.description or ''}\n{count} "
                                   f"{tr('images')}\n{s.study_date or ''}")
            item.setData(Qt.ItemDataRole.UserRole, s.series_uid)
            item.setSizeHint(QSize(THUMB + 56, THUMB + 96))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)

    def set_thumbnail(self, series_uid: str, gray: np.ndarray) -> None:
        """Show `gray` as the icon of `series_uid`."""
        for i in range(self.count()):
            item = self.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == series_uid:
                item.setIcon(QIcon(to_pixmap(gray)))

    def _on_item_activated(self, item: QListWidgetItem) -> None:
        self.series_activated.emit(item.data(Qt.ItemDataRole.UserRole))


class ViewerView(QWidget):
    """Series browser, three linked orthogonal planes and the 3D panel.

    Signals
    -------
    series_loaded(str)
        A series is on screen (its UID).
    remote_loaded(str)
        Every slice of a series opened from a PACS is here (its UID).
    volume_complete(str)
        Every slice of the series on screen is here (at once for a series loaded whole;
        after the others are decoded or fetched for one shown slice first).
    """

    series_loaded = Signal(str)
    remote_loaded = Signal(str)
    volume_complete = Signal(str)

    def __init__(self, app_context: Any, main_window: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.main = app_context, main_window
        self.state = ViewerState(self)
        self.browser = SeriesBrowserWidget()
        self.views = [SliceView(self.state, axis) for axis in (0, 1, 2)]
        self.panel3d = Volume3DPanel(self.state)
        self.lesion_panel = LesionPanel(app_context, self.state, self.views[0])
        self.readout = QLabel(objectName="readout")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.measure_label = QLabel(objectName="measurement")
        self.warnings = QLabel(objectName="warning")
        self.warnings.setWordWrap(True)
        self.warnings.hide()
        self.title = ElidedLabel(tr("No series open"), objectName="subtitle")
        self.preset_box = QComboBox(objectName="windowPresets")
        # as wide as its longest preset, "Mediastinum (50/350)" included
        self.preset_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.overlay_bar = QHBoxLayout()
        self.overlay_checks: dict[str, QCheckBox] = {}
        self.tool_group = QButtonGroup(self)
        self.patient_id: str | None = None
        self.loading: workers.Task | None = None
        self.remote_pending = 0.0
        self._build()
        self.browser.series_activated.connect(self.open_series)
        self.state.hovered.connect(self._on_hovered)
        self.state.window_changed.connect(self._on_window_changed)
        for view in self.views:
            view.measured.connect(self._on_measured)

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        for tool, text in (("window", tr("Window/level")), ("pan", tr("Pan")),
                           ("distance", tr("Distance")), ("roi", tr("ROI"))):
            button = QPushButton(text, objectName=f"tool_{tool}")
            button.setCheckable(True)
            button.setChecked(tool == "window")
            button.clicked.connect(lambda _c=False, t=tool: self.state.set_tool(t))
            self.tool_group.addButton(button)
            bar.addWidget(button)
        bar.addWidget(QLabel(tr("Window")))
        bar.addWidget(self.preset_box)
        self.preset_box.activated.connect(self._on_preset_activated)
        # beside the measurements it clears (the tool bar had no room for it at 1280 px)
        clear = QPushButton(tr("Clear measurements"), objectName="clearMeasurements")
        clear.clicked.connect(self._clear_measurements)
        keep = QPushButton(tr("Keep measurements"), objectName="keepMeasurements")
        keep.setToolTip(tr("Store the distances and ROIs on screen with the patient's series "
                           "(they go to the PACS with the board's measurement report)"))
        keep.clicked.connect(self.keep_measurements)
        compare = QPushButton(tr("Compare with prior"), objectName="compareWithPrior")
        compare.clicked.connect(self.compare_with_prior)
        grid = QGridLayout()
        grid.setSpacing(4)
        grid.addWidget(self.views[0], 0, 0)
        grid.addWidget(self.views[1], 0, 1)
        grid.addWidget(self.views[2], 1, 0)
        grid.addWidget(self.panel3d, 1, 1)
        planes = QWidget()
        planes.setLayout(grid)
        bottom = QHBoxLayout()
        bottom.addLayout(self.overlay_bar)
        bottom.addWidget(self.readout, 1)
        bottom.addWidget(self.measure_label)
        bottom.addWidget(keep)
        bottom.addWidget(clear)
        bottom.addWidget(compare)
        right = QVBoxLayout()
        right.addLayout(bar)
        right.addWidget(self.warnings)
        right.addWidget(planes, 1)
        right.addLayout(bottom)
        right.addWidget(self.lesion_panel)
        lay = QHBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addLayout(right, 1)
        self.browser.hide()

    # --- patient and series ---------------------------------------------------------------------
    def set_patient(self, patient_id: str) -> None:
        """List the patient's series and open the first CT (else the first series)."""
        if patient_id != self.patient_id:
            self.clear()
        self.patient_id = patient_id
        self.lesion_panel.set_patient(patient_id)
        try:
            from oncoboard.imaging import list_series

            series = [s for s in list_series(self.ctx.store, patient_id)
                      if s.modality not in NOT_BROWSED]
        except NotImplementedError:
            series = []
            self.title.set_full_text(tr("The imaging index is not available in this version."))
        except Exception as exc:  # noqa: BLE001
            ErrorBoundary.report(exc, self, tr("Listing the series"))
            return
        self.browser.set_series(series)
        self.browser.setVisible(bool(series))
        if not series:
            if self.state.volume is None:
                self.title.set_full_text(tr("No images for this patient"))
            return
        first = next((s for s in series if s.modality == "CT"), series[0])
        self.open_series(first.series_uid)
        if self.main is not None:
            task = workers.Task(thumbnails_job, self.ctx.settings.store_target,
                                [s.series_uid for s in series], name="thumbnails")
            workers.start(task, on_done=self._on_thumbnails_ready)

    def follow_series(self, patient_id: str, series: list[Any]) -> None:
        """List the patient's series as read again after a change elsewhere (a series another
        workstation imported), keeping the series on screen and the thumbnails already made."""
        if patient_id != self.patient_id:
            return
        shown = [s for s in series if s.modality not in NOT_BROWSED]
        icons = {self.browser.item(i).data(Qt.ItemDataRole.UserRole): self.browser.item(i).icon()
                 for i in range(self.browser.count())}
        self.browser.set_series(shown)
        for i in range(self.browser.count()):
            item = self.browser.item(i)
            if item.data(Qt.ItemDataRole.UserRole) in icons:
                item.setIcon(icons[item.data(Qt.ItemDataRole.UserRole)])
        self.browser.setVisible(bool(shown))
        new = [s.series_uid for s in shown if s.series_uid not in icons]
        if shown and self.state.volume is None and self.loading is None:
            first = next((s for s in shown if s.modality == "CT"), shown[0])
            self.open_series(first.series_uid)
        if new and self.main is not None:
            workers.start(workers.Task(thumbnails_job, self.ctx.settings.store_target, new,
                                       name="thumbnails"), on_done=self._on_thumbnails_ready)

    def clear(self) -> None:
        """Close the series on screen (and stop loading one)."""
        if self.loading is not None:
            self.loading.cancel()
            self.loading = None
        self.state.clear()
        self.title.set_full_text(tr("No series open"))
        self.warnings.hide()
        self.preset_box.clear()
        self._build_overlay_toggles()
        self.readout.clear()
        self.measure_label.clear()

    def open_series(self, series_uid: str) -> workers.Task:
        """Open `series_uid` in the background; the views update when it is on screen.

        A compressed series (JPEG 2000, HTJ2K, JPEG-LS, JPEG, RLE) not in the volume cache is
        shown as soon as its visible slice is decoded; the others are decoded outward from it
        in the background (`volume_complete` when done). Others load whole, as before.
        """
        if self.loading is not None:
            self.loading.cancel()
        task = workers.Task(open_local_job, self.ctx.settings.store_target, series_uid,
                            name=f"load {series_uid}")
        self.loading = task
        self.title.set_full_text(tr("Loading…"))
        self._start(task, lambda result, t=task: self._on_local_opened(t, result),
                    tr("Loading series"))
        return task

    def _on_local_opened(self, task: workers.Task, result: tuple[Any, Any, Any, Any]) -> None:
        if task is not self.loading:
            return  # superseded (another series or patient was opened meanwhile)
        series, volume, overlays, put = result
        self.loading = None
        self.set_volume(volume, overlays, pending=series)
        if series is None:
            return
        rest = workers.Task(decode_rest_job, series, put, name=f"decode {volume.series_uid}")
        self.loading = rest
        self.remote_pending = 0.0
        rest.signals.progressed.connect(self._on_remote_progress)
        self._start(rest, lambda _s, t=rest: self._on_remote_done(t), tr("Decoding slices"))

    def open_remote(self, node: Any, study_uid: str, series_uid: str) -> workers.Task:
        """Show a series of a DICOMweb PACS without importing it.

        The middle slice comes first and is shown; the others arrive in the background and
        the views are redrawn as they do (cached on disk for the next opening).
        """
        if self.loading is not None:
            self.loading.cancel()
        task = workers.Task(open_remote_job, self.ctx.settings, node, study_uid, series_uid,
                            name=f"view {series_uid}")
        self.loading = task
        self.title.set_full_text(tr("Loading from the PACS…"))
        self._start(task, lambda result, t=task: self._on_remote_opened(t, result),
                    tr("Opening a PACS series"))
        return task

    def _start(self, task: workers.Task, on_done: Any, action: str) -> None:
        if self.main is not None:
            self.main.run_task(task, action, on_done=on_done, action=action)
        else:
            workers.start(task, on_done=on_done,
                          on_error=lambda exc: ErrorBoundary.report(exc, self, action))

    def _on_remote_opened(self, task: workers.Task, result: tuple[Any, Any]) -> None:
        if task is not self.loading:
            return
        series, volume = result
        self.set_volume(volume, pending=None if series.complete else series)
        self.remote_pending = 0.0
        if series.complete:
            self.loading = None
            self.remote_loaded.emit(volume.series_uid)
            self.volume_complete.emit(volume.series_uid)
            return
        rest = workers.Task(fetch_rest_job, series, name=f"fetch {volume.series_uid}")
        self.loading = rest
        rest.signals.progressed.connect(self._on_remote_progress)
        self._start(rest, lambda _s, t=rest: self._on_remote_done(t),
                    tr("Loading from the PACS"))

    def _on_remote_progress(self, fraction: float, _message: str) -> None:
        """Slices arrived (PACS) or were decoded (local): draw those on screen."""
        every_tenth = fraction - self.remote_pending >= 0.1
        if every_tenth:
            self.remote_pending = fraction
        for view in self.views:
            if view.waiting and (every_tenth or view.axis == 0):
                view.refresh_if_arrived(force=every_tenth)

    def _on_remote_done(self, task: workers.Task) -> None:
        if task is not self.loading or self.state.volume is None:
            return
        self.loading = None
        self.state.complete_volume()
        self._fill_presets()
        if self.state.volume.meta.get("remote"):
            self.remote_loaded.emit(self.state.volume.series_uid)
        self.volume_complete.emit(self.state.volume.series_uid)
        warnings = self.state.volume.warnings  # with any slice that could not be decoded
        self.warnings.setText("⚠ " + "\n⚠ ".join(warnings))
        self.warnings.setVisible(bool(warnings))

    def _on_thumbnails_ready(self, thumbs: dict[str, Any]) -> None:
        for uid, gray in thumbs.items():
            self.browser.set_thumbnail(uid, gray)

    def set_volume(self, volume: Any,
                   overlays: Sequence[tuple[str, Any, tuple[int, int, int]]] = (),
                   pending: Any = None) -> None:
        """Show `volume` (a core ``Volume``) with its overlays (name, mask, colour); `pending`
        (with ``has_slice(k)``) while some of its slices are still on their way."""
        self.state.set_volume(volume, list(overlays), pending=pending)
        self.title.set_full_text(f"{volume.modality}  {volume.description}  "
                           f"{'×'.join(str(n) for n in volume.shape)}  "
                           f"({' × '.join(f'{s:.2f}' for s in volume.spacing)} mm)")
        self._fill_presets()
        self.warnings.setText("⚠ " + "\n⚠ ".join(volume.warnings))
        self.warnings.setVisible(bool(volume.warnings))
        self._build_overlay_toggles()
        self.series_loaded.emit(volume.series_uid)
        if pending is None:
            self.volume_complete.emit(volume.series_uid)

    def _fill_presets(self) -> None:
        self.preset_box.clear()
        for name, centre, width in self.state.presets:
            self.preset_box.addItem(f"{tr(name)} ({centre:.0f}/{width:.0f})", name)
        self._on_window_changed(self.state.centre, self.state.width)

    def _build_overlay_toggles(self) -> None:
        for check in self.overlay_checks.values():
            self.overlay_bar.removeWidget(check)
            check.deleteLater()
        self.overlay_checks = {}
        for name, (_mask, colour, visible) in self.state.overlays.items():
            check = QCheckBox(name, objectName=f"overlay_{name}")
            check.setChecked(visible)
            check.setStyleSheet(f"color: rgb{tuple(colour)}; font-weight: bold;")
            check.toggled.connect(lambda on, n=name: self.state.set_overlay_visible(n, on))
            self.overlay_bar.addWidget(check)
            self.overlay_checks[name] = check

    # --- readouts --------------------------------------------------------------------------------
    def _on_hovered(self, idx: Any) -> None:
        if idx is None or self.state.volume is None:
            return
        k, r, c = (int(round(v)) for v in idx)
        x, y, z = self.state.volume.index_to_patient(np.array([k, r, c], dtype=float))
        unit = "HU" if self.state.volume.modality == "CT" else ""
        shown = (f"<b>{self.state.value_at(k, r, c):.0f} {unit}</b>"
                 if self.state.slice_ready(k) else tr("slice loading…"))
        self.readout.setText(f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm   [{k}, {r}, {c}]   {shown}")

    def _on_measured(self, m: dict[str, Any]) -> None:
        if m["kind"] == "distance":
            self.measure_label.setText(tr("Distance {d:.1f} mm").format(d=m["mm"]))
            self.lesion_panel.set_distance(m)
        else:
            self.measure_label.setText(tr("ROI mean {m:.1f}, SD {s:.1f}, {a:.0f} mm²").format(
                m=m["mean"], s=m["sd"], a=m["area_mm2"]))

    def _on_window_changed(self, centre: float, width: float) -> None:
        for i in range(self.preset_box.count()):
            _n, c, w = self.state.presets[i]
            if (c, w) == (centre, width):
                self.preset_box.setCurrentIndex(i)
                return

    def compare_with_prior(self) -> Any:
        """Open the comparison view on the series on screen and its prior; return that view."""
        if self.main is None or self.state.volume is None:
            return None
        view = self.main.show_view("compare")
        view.compare_series(self.state.volume.series_uid)
        return view

    def keep_measurements(self) -> list[Any]:
        """Store the measurements on screen (those not kept yet, or moved since); return them.

        A measurement moved after it was kept is withdrawn and kept again where it is now.
        """
        from oncoboard.errors import OncoboardError
        from oncoboard.imaging import measurements

        volume = self.state.volume
        if volume is None:
            return []
        if self.state.pending is not None:  # an ROI's statistics need every slice it spans
            self.measure_label.setText(tr("Measurements can be kept once every slice is "
                                          "loaded"))
            return []
        patient = self.patient_id or volume.patient_id
        kept = []
        try:
            for view in self.views:
                for m in view.measurements:
                    record = view.measurement_record(m)
                    if m.get("kept_as") == record:
                        continue
                    if m.get("kept_uid"):
                        measurements.withdraw_measurement(self.ctx.store, m["kept_uid"],
                                                          "moved in the viewer")
                    saved = measurements.keep_measurement(self.ctx.store, patient, volume,
                                                          **record)
                    m["kept_uid"], m["kept_as"] = saved.uid, record
                    kept.append(saved)
        except OncoboardError as exc:
            ErrorBoundary.report(exc, self, tr("Keeping the measurements"))
        self.measure_label.setText(tr("{n} measurement(s) kept").format(n=len(kept)))
        return kept

    def _clear_measurements(self) -> None:
        for v in self.views:
            v.clear_measurements()

    def _on_preset_activated(self, index: int) -> None:
        self.state.apply_preset(self.preset_box.itemData(index))
