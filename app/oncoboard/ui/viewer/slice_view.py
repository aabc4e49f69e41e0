"""One orthogonal plane of the volume: image, overlays, crosshair, orientation, measurements."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from oncoboard.imaging import display
from oncoboard.ui import theme
from oncoboard.ui.viewer.state import ViewerState


def tr(text: str) -> str:
    """Translate `text` in the slice view's context."""
    return QCoreApplication.translate("SliceView", text)


class _SliceViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """A ViewBox whose left button follows the viewer's tool and whose wheel scrolls slices."""

    def __init__(self, owner: SliceView):
        super().__init__(lockAspect=True, enableMenu=False, defaultPadding=0.0)
        self.owner = owner

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() == Qt.MouseButton.LeftButton and self.owner.state.tool != "pan":
            ev.accept()
            self.owner._on_left_dragged(ev)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.owner._on_clicked(self.mapSceneToView(ev.scenePos()))
            return
        if ev.button() == Qt.MouseButton.RightButton and ev.double():
            ev.accept()
            self.owner.reset_zoom()

    def wheelEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        ev.accept()
        self.owner.scroll_slices(1 if ev.delta() > 0 else -1)


class SliceView(QWidget):
    """One plane across array `axis` (0: the acquisition plane, 1 and 2: reformats).

    Signals
    -------
    measured(dict)
        A distance (``{"kind": "distance", "mm": ...}``) or ROI (``{"kind": "roi", "mean": ...}``)
        measurement was made or changed.
    """

    measured = Signal(dict)

    def __init__(self, state: ViewerState, axis: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.axis = state, axis
        self.row_axis, self.col_axis = display.plane_axes(axis)
        self.graphics = pg.GraphicsView(background=theme.BACKGROUND)
        self.graphics.setObjectName(f"slice{axis}")
        self.vb = _SliceViewBox(self)
        self.graphics.setCentralItem(self.vb)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.overlay_items: dict[str, pg.ImageItem] = {}
        pen = pg.mkPen(theme.ACCENT, width=1, style=Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, pen=pen, movable=False)
        self.hline = pg.InfiniteLine(angle=0, pen=pen, movable=False)
        for line in (self.vline, self.hline):
            line.setZValue(20)
            self.vb.addItem(line, ignoreBounds=True)
        self.labels = {k: QLabel(self.graphics, objectName="orientation") for k in
                       ("left", "right", "top", "bottom")}
        self.info = QLabel(self.graphics, objectName="sliceInfo")
        for label in (*self.labels.values(), self.info):
            label.setStyleSheet(f"color: {theme.WARNING}; font-size: 15pt; font-weight: bold;"
                                "background: transparent;")
        self.info.setStyleSheet(f"color: {theme.TEXT}; background: transparent;")
        self.measurements: list[dict[str, Any]] = []
        self._drag_item: Any = None
        self._drag_start: QPointF | None = None
        self._shown: tuple[int, float, float] | None = None
        self._overlay_index: int | None = None
        self.spacing = (1.0, 1.0)
        self.renders = 0
        self._waiting = False
        self.plane: Any = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        state.volume_changed.connect(self._on_volume_changed)
        state.cursor_changed.connect(self._on_cursor_changed)
        state.window_changed.connect(self._on_window_changed)
        state.overlays_changed.connect(self._on_overlays_changed)
        state.volume_completed.connect(self._on_volume_completed)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- state -> screen ----------------------------------------------------------------------
    def _on_volume_changed(self) -> None:
        vol = self.state.volume
        if vol is None:
            self.image.clear()
            for item in self.overlay_items.values():
                self.vb.removeItem(item)
            self.overlay_items = {}
            self.clear_measurements()
            for label in (*self.labels.values(), self.info):
                label.setText("")
            self._shown = self._overlay_index = None
            self.plane = None
            return
        spacing = vol.spacing
        self.spacing = (spacing[self.row_axis], spacing[self.col_axis])
        layout = display.plane_layout(vol.affine, self.axis)
        self.layout_info = layout
        self.vb.invertX(layout.invert_x)
        self.vb.invertY(layout.invert_y)
        for key in self.labels:
            self.labels[key].setText(getattr(layout, key))
        for item in self.overlay_items.values():
            self.vb.removeItem(item)
        self.overlay_items = {}
        for name in self.state.overlays:
            item = pg.ImageItem(axisOrder="row-major")
            item.setZValue(10)
            self.vb.addItem(item)
            self.overlay_items[name] = item
        self.clear_measurements()
        self._shown = None
        self._overlay_index = None
        nrows, ncols = vol.shape[self.row_axis], vol.shape[self.col_axis]
        self.extent = QRectF(0, 0, ncols * self.spacing[1], nrows * self.spacing[0])
        self.redraw()
        self.reset_zoom()
        self._place_labels()

    def _on_cursor_changed(self, k: int, r: int, c: int) -> None:
        self._place_crosshair()
        if self._shown is None or self._shown[0] != self.state.cursor[self.axis]:
            self.redraw()

    def _on_window_changed(self, _c: float, _w: float) -> None:
        self.redraw()

    def _on_overlays_changed(self) -> None:
        self._shown = None
        self._overlay_index = None
        self.redraw()

    def refresh(self) -> None:
        """Draw the current plane again (its voxels changed: slices arrived from a PACS)."""
        self._shown = None
        self.redraw()

    @property
    def waiting(self) -> bool:
        """Return True when the plane on screen lacks slices still being loaded."""
        return self._waiting

    def refresh_if_arrived(self, force: bool = False) -> None:
        """Redraw an axial plane whose slice has arrived since it was drawn (any plane with
        `force`)."""
        if force or (self.axis == 0 and self.state.slice_ready(self.state.cursor[0])):
            self.refresh()

    def _on_volume_completed(self) -> None:
        self.refresh()
        for m in self.measurements:  # ROI statistics over every slice now
            if m["kind"] == "roi":
                self._update_roi(m)

    def redraw(self) -> None:
        """Draw the current plane with the current window (skipped if already on screen)."""
        if self.state.volume is None:
            return
        index = self.state.cursor[self.axis]
        key = (index, self.state.centre, self.state.width)
        if key == self._shown:
            return
        plane = display.extract_plane(self.state.volume.voxels, self.axis, index)
        self.plane = plane
        pixels = display.window_to_uint8(plane, self.state.centre, self.state.width)
        if self.state.pending is not None:  # slices not here yet are drawn black
            ready = self.state.pending.ready()
            if self.axis == 0:
                if not ready[index]:
                    pixels[...] = 0
            else:
                pixels[~ready] = 0
        self.image.setImage(pixels, levels=(0, 255), autoLevels=False)
        self.image.setRect(self.extent)
        if self._overlay_index != index:
            self._draw_overlays(index)
        for m in self.measurements:
            visible = m["index"] == index
            for graphic in m["items"]:
                graphic.setVisible(visible)
        self._shown = key
        self.renders += 1
        n = self.state.volume.shape[self.axis]
        pending = self.state.pending
        self._waiting = pending is not None and (self.axis != 0 or not pending.has_slice(index))
        if pending is not None and self.axis == 0 and self._waiting and hasattr(pending, "want"):
            pending.want(index)  # scrolled to a slice not decoded yet: it comes next
        loading = f"  {tr('loading…')}" if self._waiting else ""
        self._info_parts = (f"{tr(self.layout_info.name)}  {index + 1}/{n}{loading}",
                            f"W {self.state.width:.0f}  L {self.state.centre:.0f}")
        self._place_info()
        self._place_crosshair()

    def _place_info(self) -> None:
        """Show the plane, slice and window bottom left, on two lines where one would reach
        the orientation letter at the bottom's centre."""
        parts = getattr(self, "_info_parts", None)
        if parts is None:
            return
        one_line = "   ".join(parts)
        room = self.graphics.width() // 2 - self.labels["bottom"].width() // 2 - 16
        fits = self.info.fontMetrics().horizontalAdvance(one_line) <= room
        self.info.setText(one_line if fits else "\n".join(parts))
        self.info.adjustSize()
        self.info.move(8, self.graphics.height() - self.info.height() - 6)

    def _draw_overlays(self, index: int) -> None:
        """Draw the overlays of plane `index` (only when the plane changes, not the window)."""
        for name, item in self.overlay_items.items():
            mask, colour, visible = self.state.overlays[name]
            plane = display.extract_plane(mask, self.axis, index)
            shown = visible and bool(plane.any())
            item.setVisible(shown)
            if shown:
                item.setImage(display.overlay_rgba(plane, colour), autoLevels=False,
                              levels=(0, 255))
                item.setRect(self.extent)
        self._overlay_index = index

    def _place_crosshair(self) -> None:
        if self.state.volume is None:
            return
        cur = self.state.cursor
        self.vline.setPos((cur[self.col_axis] + 0.5) * self.spacing[1])
        self.hline.setPos((cur[self.row_axis] + 0.5) * self.spacing[0])

    def reset_zoom(self) -> None:
        """Fit the whole plane in the view."""
        if self.state.volume is not None:
            self.vb.setRange(self.extent, padding=0.02)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._place_labels()

    def _place_labels(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        for label in self.labels.values():
            label.adjustSize()
        lab = self.labels
        lab["left"].move(6, h // 2 - lab["left"].height() // 2)
        lab["right"].move(w - lab["right"].width() - 6, h // 2 - lab["right"].height() // 2)
        lab["top"].move(w // 2 - lab["top"].width() // 2, 4)
        lab["bottom"].move(w // 2 - lab["bottom"].width() // 2, h - lab["bottom"].height() - 4)
        self._place_info()

    # --- screen -> index ----------------------------------------------------------------------
    def index_at(self, pos: QPointF) -> tuple[float, float, float]:
        """Return the fractional array index (slice, row, column) under view point `pos`."""
        idx = [0.0, 0.0, 0.0]
        idx[self.axis] = float(self.state.cursor[self.axis])
        idx[self.row_axis] = pos.y() / self.spacing[0] - 0.5
        idx[self.col_axis] = pos.x() / self.spacing[1] - 0.5
        return idx[0], idx[1], idx[2]

    def _on_clicked(self, pos: QPointF) -> None:
        if self.state.volume is None or self.state.tool not in ("window", "pan"):
            return
        k, r, c = (int(round(v)) for v in self.index_at(pos))
        self.state.set_cursor(k, r, c)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.state.volume is None:
            return
        pos = self.vb.mapSceneToView(scene_pos)
        idx = self.index_at(pos)
        inside = all(-0.5 <= v < n - 0.5 for v, n in zip(idx, self.state.volume.shape,
                                                          strict=True))
        self.state.hovered.emit(idx if inside else None)

    def scroll_slices(self, delta: int) -> None:
        """Move `delta` planes along this view's axis."""
        self.state.step(self.axis, delta)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.state.volume is None:
            super().keyPressEvent(event)
            return
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10,
                 Qt.Key.Key_PageDown: -10}
        if event.key() in steps:
            self.scroll_slices(steps[event.key()])
        elif Qt.Key.Key_1 <= event.key() <= Qt.Key.Key_9:
            index = event.key() - Qt.Key.Key_1  # number keys pick the window presets in order
            if index < len(self.state.presets):
                self.state.apply_preset(self.state.presets[index][0])
        elif event.key() == Qt.Key.Key_Home:
            self.state.step(self.axis, -self.state.volume.shape[self.axis])
        elif event.key() == Qt.Key.Key_End:
            self.state.step(self.axis, self.state.volume.shape[self.axis])
        else:
            super().keyPressEvent(event)

    # --- tools ----------------------------------------------------------------------------------
    def _on_left_dragged(self, ev: Any) -> None:
        if self.state.volume is None:
            return
        tool = self.state.tool
        if tool == "window":
            delta = ev.screenPos() - ev.lastScreenPos()
            gain = max(1.0, self.state.width / 250.0)
            self.state.set_window(self.state.centre - delta.y() * gain,
                                  self.state.width + delta.x() * gain)
            return
        pos = self.vb.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._drag_start = self.vb.mapSceneToView(ev.buttonDownScenePos())
            self._drag_item = pg.PlotCurveItem(pen=pg.mkPen(theme.WARNING, width=2))
            self.vb.addItem(self._drag_item, ignoreBounds=True)
        if self._drag_start is None:
            return
        a = self._drag_start
        if tool == "distance":
            self._drag_item.setData([a.x(), pos.x()], [a.y(), pos.y()])
        else:
            t = np.linspace(0, 2 * np.pi, 64)
            cx, cy = (a.x() + pos.x()) / 2, (a.y() + pos.y()) / 2
            rx, ry = abs(pos.x() - a.x()) / 2, abs(pos.y() - a.y()) / 2
            self._drag_item.setData(cx + rx * np.cos(t), cy + ry * np.sin(t))
        if ev.isFinish():
            self.vb.removeItem(self._drag_item)
            self._drag_item = None
            if tool == "distance":
                self.add_distance(a, pos)
            else:
                self.add_roi(QPointF(min(a.x(), pos.x()), min(a.y(), pos.y())),
                             abs(pos.x() - a.x()), abs(pos.y() - a.y()))
            self._drag_start = None

    def add_distance(self, a: QPointF, b: QPointF) -> dict[str, Any]:
        """Add a distance measurement between view points `a` and `b`; return it."""
        roi = pg.LineSegmentROI([[a.x(), a.y()], [b.x(), b.y()]],
                                pen=pg.mkPen(theme.WARNING, width=2))
        text = pg.TextItem(color=theme.WARNING, anchor=(0, 1))
        return self._add_measurement("distance", roi, text, self._update_distance)

    def _add_measurement(self, kind: str, roi: Any, text: Any,
                         update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Show `roi` and its label on this plane, kept up to date by `update`; return it."""
        m = {"kind": kind, "index": self.state.cursor[self.axis], "roi": roi,
             "items": [roi, text]}
        self.vb.addItem(roi)
        self.vb.addItem(text)
        roi.sigRegionChanged.connect(lambda _r, m=m: update(m))
        self.measurements.append(m)
        update(m)
        return m

    def _update_distance(self, m: dict[str, Any]) -> None:
        roi = m["roi"]
        pts = [roi.mapToParent(p) for p in roi.listPoints()]
        ends = np.array([self.index_at(p) for p in pts])
        lps = self.state.volume.index_to_patient(ends)
        m["mm"] = float(np.linalg.norm(lps[1] - lps[0]))
        m["items"][1].setText(f"{m['mm']:.1f} mm")
        m["items"][1].setPos(pts[1])
        m["ends"] = ends.tolist()  # voxel indices (slice, row, column) of both ends
        self.measured.emit({"kind": "distance", "mm": m["mm"], "axis": self.axis,
                            "ends": m["ends"]})

    def add_roi(self, corner: QPointF, width: float, height: float) -> dict[str, Any]:
        """Add an elliptic ROI in the box at `corner` (view mm); return it with its statistics."""
        roi = pg.EllipseROI([corner.x(), corner.y()], [max(width, 1.0), max(height, 1.0)],
                            pen=pg.mkPen(theme.WARNING, width=2))
        text = pg.TextItem(color=theme.WARNING, anchor=(0, 0), fill=pg.mkBrush(27, 32, 39, 190))
        return self._add_measurement("roi", roi, text, self._update_roi)

    def _update_roi(self, m: dict[str, Any]) -> None:
        roi, plane = m["roi"], self.plane
        x0, y0 = roi.pos()
        w, h = roi.size()
        angle = math.radians(roi.angle())
        sy, sx = self.spacing
        rows, cols = np.mgrid[0:plane.shape[0], 0:plane.shape[1]]
        px, py = (cols + 0.5) * sx - x0, (rows + 0.5) * sy - y0
        u = px * math.cos(angle) + py * math.sin(angle)
        v = -px * math.sin(angle) + py * math.cos(angle)
        inside = ((u - w / 2) / (w / 2)) ** 2 + ((v - h / 2) / (h / 2)) ** 2 <= 1.0
        stats = display.roi_stats(plane, inside, sx * sy)
        m.update(stats)
        unit = "HU" if self.state.volume.modality == "CT" else ""
        m["items"][1].setText(f"{tr('mean')} {stats['mean']:.1f} {unit}\nSD {stats['sd']:.1f}"
                              f"\n{stats['area_mm2']:.0f} mm²"
                              + (f"\n{tr('slices loading…')}" if self._waiting else ""))
        m["items"][1].setPos(x0 + w, y0 + h)
        self.measured.emit({"kind": "roi", **stats})

    def measurement_record(self, m: dict[str, Any]) -> dict[str, Any]:
        """Return what `oncoboard.imaging.measurements.keep_measurement` needs of `m`: its
        points as voxel indices on its own plane (an ROI: 32 points of its outline) and, for an
        ROI, its statistics."""
        if m["kind"] == "distance":
            points = [list(p) for p in m["ends"]]
        else:
            roi = m["roi"]
            x0, y0 = roi.pos()
            w, h = roi.size()
            angle = math.radians(roi.angle())
            t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
            u, v = w / 2 + w / 2 * np.cos(t), h / 2 + h / 2 * np.sin(t)
            xs = x0 + u * math.cos(angle) - v * math.sin(angle)
            ys = y0 + u * math.sin(angle) + v * math.cos(angle)
            points = [list(self.index_at(QPointF(float(x), float(y))))
                      for x, y in zip(xs, ys, strict=True)]
        for p in points:
            p[self.axis] = float(m["index"])
        record: dict[str, Any] = {"kind": m["kind"], "points": points}
        if m["kind"] == "roi":
            record.update(mean=m["mean"], sd=m["sd"], area_mm2=m["area_mm2"])
        return record

    def clear_measurements(self) -> None:
        """Remove every measurement from this view."""
        for m in self.measurements:
            for item in m["items"]:
                self.vb.removeItem(item)
        self.measurements = []
