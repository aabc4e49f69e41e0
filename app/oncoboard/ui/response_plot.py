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


def tr(text: str) -> str:
    """Translate `text` in the response plot's context."""
    return QCoreApplication.translate("ResponsePlot", text)


def category_colour(category: str | None) -> str:
    """Return the display colour of a RECIST category."""
    return CATEGORY_COLOURS.get(category or "", theme.TEXT)


class ResponsePlotWidget(QWidget):
    """Headline (latest category) above the sum-of-diameters plot with treatment bars below."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.headline = QLabel(objectName="responseHeadline")
        self.headline.setWordWrap(True)
        self.plot = big_plot(axisItems={"bottom": DateAxis()})
        self.plot.setLabel("left", tr("mm"))
        self.plot.setMinimumHeight(160)
        self.point_count = 0
        self.view: Any = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.headline)
        lay.addWidget(self.plot, 1)

    def set_response(self, view: Any) -> None:
        """Show `view` (a ResponseView, or None for a patient without measurements)."""
        self.view = view
        self.plot.clear()
        self.point_count = 0
        if view is None or not view.has_data:
            self.headline.setText(tr("No lesion measured: define lesions in the viewer."))
            self.headline.setStyleSheet(f"color: {theme.MUTED};")
            return
        category = view.latest_category
        self.headline.setText(view.headline())
        self.headline.setStyleSheet(f"color: {category_colour(category)}; font-weight: bold;")
        points = [(x, p["sum_mm"], p["category"]) for p in view.points()
                  if (x := to_epoch(p["date"])) is not None and p["sum_mm"] is not None]
        top = max([s for _x, s, _c in points] + [10.0]) * 1.45
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
        self._treatments(view.treatments, top)
        xs = [x for x, _s, _c in points]
        near = [x for t in view.treatments if (x := to_epoch(t.get("start_date"))) is not None
                and min(xs) - 120 * _DAY <= x <= max(xs) + 120 * _DAY]
        self.plot.setXRange(min(xs + near) - 20 * _DAY, max(xs + near) + 40 * _DAY)
        self.plot.setYRange(-0.22 * top, top, padding=0)

    def _treatments(self, treatments: list[dict[str, Any]], top: float) -> None:
        for row, t in enumerate(treatments[:3]):
            start = to_epoch(t.get("start_date"))
            if start is None:
                continue
            end = to_epoch(t.get("end_date")) or start + 30 * _DAY
            y = -0.06 * top * (row + 1)
            colour = _TREATMENT_COLOURS.get(str(t.get("kind")), theme.SERIES[5])
            self.plot.addItem(pg.BarGraphItem(x0=[start], x1=[max(end, start + 3 * _DAY)],
                                              y=[y], height=0.04 * top, brush=colour,
                                              pen=pg.mkPen(colour)))
            text = pg.TextItem(str(t.get("label") or "")[:28], color=theme.TEXT, anchor=(1, 0.5))
            text.setPos(start, y)
            self.plot.addItem(text)
