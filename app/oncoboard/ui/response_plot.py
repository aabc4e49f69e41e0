"""The RECIST response plot: sum of target diameters over time, categories, treatment lines.

Shown in the patient view and on the board's presented case. The widget only draws a
`oncoboard.board.response.ResponseView`; the categories come from the core.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from oncoboard.ui import theme
from oncoboard.ui.plots import DateAxis, big_plot, to_epoch

CATEGORY_COLOURS = {"CR": theme.OK, "PR": theme.ACCENT, "SD": theme.MUTED, "PD": theme.DANGER,
                    "NE": theme.WARNING, "baseline": theme.TEXT}
_TREATMENT_COLOURS = {"surgery": theme.SERIES[4], "radiotherapy": theme.SERIES[1],
                      "systemic": theme.SERIES[0]}
_DAY = 86400.0
#: A treatment's row below the curve, in pixels (its label's height and a gap) on a plot of 170
#: pixels and more, less on a smaller one (down to 14): the rows' data coordinates are worked
#: out again whenever the plot is resized, so the labels never run into each other.
_LANE_PX = 20


def tr(text: str) -> str:
    """Translate `text` in the response plot's context."""
    return QCoreApplication.translate("ResponsePlot", text)


def category_colour(category: str | None) -> str:
    """Return the display colour of a RECIST category."""
    return CATEGORY_COLOURS.get(category or "", theme.TEXT)


class _SizeAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """The millimetre axis: no tick labels below zero, where the treatment rows are drawn."""

    def __init__(self) -> None:
        super().__init__("left")

    def tickStrings(self, values: Any, scale: float, spacing: float) -> list[str]:  # noqa: N802
        texts: list[str] = super().tickStrings(values, scale, spacing)
        return [t if v >= 0 else "" for v, t in zip(values, texts, strict=True)]


class ResponsePlotWidget(QWidget):
    """Headline (latest category) above the sum-of-diameters plot with treatment bars below."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.headline = QLabel(objectName="responseHeadline")
        self.headline.setWordWrap(True)
        self.plot = big_plot(axisItems={"bottom": DateAxis(), "left": _SizeAxis()})
        self.plot.setLabel("left", tr("mm"))
        self.plot.setMinimumHeight(160)
        self.point_count = 0
        self.view: Any = None
        self._lanes: list[tuple[float, float, str, str]] = []
        self._lane_items: list[Any] = []
        self._peak = 0.0
        self.plot.getViewBox().sigResized.connect(self._place_lanes)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.headline)
        lay.addWidget(self.plot, 1)

    def set_response(self, view: Any) -> None:
        """Show `view` (a ResponseView, or None for a patient without measurements)."""
        self.view = view
        self.plot.clear()
        self.point_count = 0
        self._lanes, self._lane_items = [], []
        if view is None or not view.has_data:
            self.headline.setText(tr("No lesion measured: define lesions in the viewer."))
            self.headline.setStyleSheet(f"color: {theme.MUTED};")
            self.plot.hide()  # no empty axes: the line says it, in the height of the line
            self.setMaximumHeight(self.headline.sizeHint().height() + 8)
            return
        self.plot.show()
        self.setMaximumHeight(16777215)  # QWIDGETSIZE_MAX: as tall as its place allows
        category = view.latest_category
        self.headline.setText(view.headline())
        self.headline.setStyleSheet(f"color: {category_colour(category)}; font-weight: bold;")
        points = [(x, p["sum_mm"], p["category"]) for p in view.points()
                  if (x := to_epoch(p["date"])) is not None and p["sum_mm"] is not None]
        peak = max([s for _x, s, _c in points] + [10.0])
        if len(points) > 1:
            self.plot.plot([x for x, _s, _c in points], [s for _x, s, _c in points],
                           pen=pg.mkPen(theme.ACCENT, width=2))
        for x, s, c in points:
            colour = category_colour(c)
            self.plot.addItem(pg.ScatterPlotItem(x=[x], y=[s], size=14, brush=colour,
                                                 pen=pg.mkPen(theme.BACKGROUND)))
            label = pg.TextItem("BL" if c == "baseline" else c, color=colour, anchor=(0.5, 1.3))
            label.setPos(x, s)
            self.plot.addItem(label)
            self.point_count += 1
        base = view.recist.baseline.sum_mm
        if base:
            line = pg.InfiniteLine(pos=base * 0.7, angle=0, pen=pg.mkPen(
                theme.ACCENT, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
            self.plot.addItem(line)
        self._treatments(view.treatments, peak)
        xs = [x for x, _s, _c in points]
        near = [x for t in view.treatments if (x := to_epoch(t.get("start_date"))) is not None
                and min(xs) - 120 * _DAY <= x <= max(xs) + 120 * _DAY]
        self.plot.setXRange(min(xs + near) - 20 * _DAY, max(xs + near) + 40 * _DAY)
        self._place_lanes()

    def _treatments(self, treatments: list[dict[str, Any]], peak: float) -> None:
        """Keep the first three dated treatments as rows below the curve (`peak`: its top)."""
        self._peak = peak
        for t in treatments:
            start = to_epoch(t.get("start_date"))
            if start is None or len(self._lanes) == 3:
                continue
            end = to_epoch(t.get("end_date")) or start + 30 * _DAY
            colour = _TREATMENT_COLOURS.get(str(t.get("kind")), theme.SERIES[5])
            self._lanes.append((start, max(end, start + 3 * _DAY), colour,
                                str(t.get("label") or "")[:28]))

    def _place_lanes(self) -> None:
        """Draw the treatment rows _LANE_PX pixels apart below zero, and set the y range so
        that they fit under the curve, and the points' labels above it, at the plot's present
        height."""
        if self.view is None or not self._peak:
            return
        for item in self._lane_items:
            self.plot.removeItem(item)
        self._lane_items = []
        height = float(self.plot.getViewBox().height())
        if height < 60:  # not laid out yet: as if 200 pixels (done again once it is)
            height = 200.0
        lane = min(float(_LANE_PX), max(14.0, height * _LANE_PX / 170))
        below = len(self._lanes) * lane + 8  # pixels under zero
        above = 34.0  # over the highest point: its category label
        per_px = self._peak / max(height - below - above, 20.0)  # data units per pixel
        for row, (start, end, colour, label) in enumerate(self._lanes):
            y = -(8 + (row + 0.5) * lane) * per_px
            bar = pg.BarGraphItem(x0=[start], x1=[end], y=[y], height=0.4 * lane * per_px,
                                  brush=colour,
                                  pen=pg.mkPen(colour))
            text = pg.TextItem(label + "\u00a0", color=theme.TEXT, anchor=(1, 0.5))  # a gap
            text.textItem.document().setDocumentMargin(0)  # the row is as tall as the glyphs
            text.setPos(start, y)
            for item in (bar, text):
                self.plot.addItem(item)
                self._lane_items.append(item)
        self.plot.setYRange(-below * per_px, self._peak + above * per_px, padding=0)
