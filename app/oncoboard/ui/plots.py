"""Plot widgets shared by the patient, predictions and board views (pyqtgraph)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from oncoboard.ui import theme


def tr(text: str) -> str:
    """Translate `text` in the plots' context."""
    return QCoreApplication.translate("Plots", text)


def to_epoch(value: str | None) -> float | None:
    """Return POSIX seconds for an ISO date or date-time string, or None."""
    if not value:
        return None
    try:
        if len(value) <= 10:
            d = dt.date.fromisoformat(value)
            return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    except ValueError:
        return None


def big_plot(**kwargs: Any) -> pg.PlotWidget:
    """Return a PlotWidget with large axis fonts and a light grid."""
    widget = pg.PlotWidget(**kwargs)
    font = QLabel().font()
    font.setPointSize(theme.BASE_POINT_SIZE - 1)
    for name in ("left", "bottom"):
        axis = widget.getAxis(name)
        axis.setTickFont(font)
        axis.setTextPen(theme.TEXT)
    widget.showGrid(x=True, y=True, alpha=0.15)
    widget.setMenuEnabled(False)
    return widget


_DAY = 86400.0
#: Tick steps from fine to coarse: (unit, count, rough seconds). The axis takes the finest step
#: whose labels all fit (day steps only over 45 days or less).
_STEPS = [("day", n, n * _DAY) for n in (1, 2, 7, 14)] + \
    [("month", n, n * 30.44 * _DAY) for n in (1, 2, 3, 6)] + \
    [("year", n, n * 365.25 * _DAY) for n in (1, 2, 5, 10, 20, 50, 100)]


def _month_name(month: int) -> str:
    names = (tr("Jan"), tr("Feb"), tr("Mar"), tr("Apr"), tr("May"), tr("Jun"), tr("Jul"),
             tr("Aug"), tr("Sep"), tr("Oct"), tr("Nov"), tr("Dec"))
    return names[month - 1]


def _date_ticks(unit: str, n: int, lo: dt.date, hi: dt.date) -> list[dt.date]:
    """Return the dates from `lo` to `hi` on an `n`-`unit` grid (days, month or year starts)."""
    if unit == "day":
        first = lo.toordinal() + (-lo.toordinal()) % n
        return [dt.date.fromordinal(d) for d in range(first, hi.toordinal() + 1, n)]
    if unit == "month":
        months = range(lo.year * 12 + lo.month - 1 + (lo.day > 1), hi.year * 12 + hi.month)
        return [dt.date(m // 12, m % 12 + 1, 1) for m in months if (m % 12) % n == 0]
    years = range(lo.year + (lo.timetuple().tm_yday > 1), hi.year + 1)
    return [dt.date(y, 1, 1) for y in years if y % n == 0]


class DateAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """A date axis (UTC POSIX seconds) with one level of labels that never overlap.

    pyqtgraph's DateAxisItem draws day labels such as "Dec03" and "Jan02" next to each other
    at month boundaries. Here a single step is chosen for the visible range (days, months or
    years) so that every label has `label_px` pixels: "3 Dec 2025" when zoomed in to weeks,
    "Dec 2025" over months, "2025" over years.
    """

    label_px = 110

    def __init__(self, orientation: str = "bottom", **kwargs: Any):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self.unit = "month"

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:  # noqa: N802
        """Return one level of ticks on day, month or year starts."""
        lo_s, hi_s = max(minVal, -6.2e10), min(maxVal, 2.5e11)  # datetime's year range
        if size <= 0 or hi_s <= lo_s:
            return []
        room = max(int(size // self.label_px), 1)
        lo = dt.datetime.fromtimestamp(lo_s, dt.UTC).date()
        hi = dt.datetime.fromtimestamp(hi_s, dt.UTC).date()
        for unit, n, seconds in _STEPS:
            # day ticks only zoomed in to about a month; above that, months read better
            if (hi_s - lo_s) / seconds > room + 1 or unit == "day" and hi_s - lo_s > 45 * _DAY:
                continue
            dates = _date_ticks(unit, n, lo, hi)
            if len(dates) <= room:
                self.unit = unit
                return [(seconds, [to_epoch(d.isoformat()) for d in dates])]
        return []

    def tickStrings(self, values: list[float], scale: float,  # noqa: N802
                    spacing: float) -> list[str]:
        """Return "3 Dec 2025", "Dec 2025" or "2025" for the current step."""
        out = []
        for v in values:
            d = dt.datetime.fromtimestamp(v, dt.UTC).date()
            out.append(str(d.year) if self.unit == "year" else
                       f"{_month_name(d.month)} {d.year}" if self.unit == "month" else
                       f"{d.day} {_month_name(d.month)} {d.year}")
        return out


ROWS = ("Treatments", "Hospitalisations", "Events", "Imaging", "Predictions")


class TimelineWidget(QWidget):
    """Treatments, hospitalisations, events, imaging studies and predictions on one date axis."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = big_plot(axisItems={"bottom": DateAxis()})
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").setTicks([[(i, tr(r)) for i, r in enumerate(ROWS)]])
        self.plot.getAxis("left").setWidth(170)  # room for the row names in any language
        self.plot.setYRange(-0.7, len(ROWS) - 0.3, padding=0)
        self.item_count = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_events(self, treatments: list[dict[str, Any]], outcomes: list[dict[str, Any]],
                   studies: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> None:
        """Draw the patient's history; each list holds record rows (dates as ISO strings)."""
        self.plot.clear()
        self.item_count = 0
        self._labels: list[tuple[int, float, float, str]] = []  # row, start, end, text
        now = dt.datetime.now(dt.UTC).timestamp()
        colours = {"surgery": theme.SERIES[4], "radiotherapy": theme.SERIES[1],
                   "systemic": theme.SERIES[0], "other": theme.SERIES[5]}
        for t in treatments:
            start = to_epoch(t.get("start_date"))
            if start is None:
                continue
            end = to_epoch(t.get("end_date")) or (start + 86400 if t.get("kind") == "surgery"
                                                  else now)
            end = max(end, start + 3 * 86400)
            colour = colours.get(t.get("kind") or "other", theme.SERIES[5])
            self._bar(0, start, end, colour)
            self._label(0, start, end, t.get("regimen") or t.get("display") or t.get("kind")
                        or "")
        for o in outcomes:
            start = to_epoch(o.get("date"))
            if start is None:
                continue
            if o.get("kind") == "hospitalisation":
                end = to_epoch(o.get("end_date")) or start + 86400
                self._bar(1, start, max(end, start + 2 * 86400), theme.DANGER)
            else:
                colour = theme.WARNING if o.get("kind") != "death" else theme.DANGER
                self._points(2, [start], colour, "t")
                self._label(2, start, start, o.get("kind") or "")
        self._points(3, [x for s in studies if (x := to_epoch(s.get("date"))) is not None],
                     theme.SERIES[2], "s")
        self._points(4, [x for p in predictions
                         if (x := to_epoch(p.get("created_at") or p.get("date"))) is not None],
                     theme.SERIES[3], "d")
        self._place_labels()
        self.plot.getAxis("left").setTicks([[(i, tr(r)) for i, r in enumerate(ROWS)]])
        # a label under the bottom row needs a line of room below it
        below = any(row == 0 for row, *_rest in self._labels[1::2])
        self.plot.setYRange(-1.25 if below else -0.7, len(ROWS) - 0.3, padding=0)
        self.plot.enableAutoRange(axis="x")

    def _bar(self, row: int, start: float, end: float, colour: str) -> None:
        bar = pg.BarGraphItem(x0=[start], x1=[end], y=[row], height=0.5, brush=colour,
                              pen=pg.mkPen(colour))
        self.plot.addItem(bar)
        self.item_count += 1

    def _points(self, row: int, xs: list[float], colour: str, symbol: str) -> None:
        if not xs:
            return
        self.plot.addItem(pg.ScatterPlotItem(x=xs, y=[row] * len(xs), symbol=symbol, size=16,
                                             brush=colour, pen=pg.mkPen(theme.BACKGROUND)))
        self.item_count += len(xs)

    def _label(self, row: int, start: float, end: float, text: str) -> None:
        if text:
            self._labels.append((row, start, end, text if len(text) <= 28 else text[:27] + "…"))

    def _place_labels(self) -> None:
        """Add the labels, above and below their rows in turn, inside the plotted dates.

        A label starts where its bar starts; one whose bar starts in the right half of the
        dates ends where its bar ends instead, so that it never runs past the plot's edge
        ("durvalumab" at the end of a treatment line read "durvalur").
        """
        if not self._labels:
            return
        lo = min(start for _r, start, _e, _t in self._labels)
        hi = max(end for _r, _s, end, _t in self._labels)
        for i, (row, start, end, text) in enumerate(self._labels):
            below = i % 2 == 1
            right = hi > lo and start > lo + (hi - lo) / 2
            anchor = (1 if right else 0, 0 if below else 1)
            item = pg.TextItem(text, color=theme.TEXT, anchor=anchor)
            item.textItem.document().setDocumentMargin(1)  # close to its bar, clear of the axis
            item.setPos(end if right else start, row - 0.28 if below else row + 0.28)
            self.plot.addItem(item)


class LabTrendsWidget(QWidget):
    """One lab or vital over time against its normal range (shaded); abnormal values in amber."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.selector = QComboBox(objectName="labSelector")
        self.plot = big_plot(axisItems={"bottom": DateAxis()})
        self.series: dict[str, dict[str, Any]] = {}
        self.empty = QLabel(tr("No laboratory values in the record."), objectName="muted")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.selector)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.empty)
        self.selector.currentIndexChanged.connect(self._on_selection_changed)

    def set_series(self, series: dict[str, dict[str, Any]]) -> None:
        """Show the series (from ``records.lab_series``), first one selected."""
        self.series = series
        self.selector.blockSignals(True)
        self.selector.clear()
        for code, s in series.items():
            self.selector.addItem(f"{s['display']} ({s['unit']})", code)
        self.selector.blockSignals(False)
        self.empty.setVisible(not series)
        self.plot.setVisible(bool(series))
        self._on_selection_changed(0)

    def _on_selection_changed(self, index: int) -> None:
        self.plot.clear()
        code = self.selector.itemData(index)
        if code is None:
            return
        s = self.series[code]
        xs = np.array([to_epoch(d) or 0.0 for d in s["dates"]])
        ys = np.array(s["values"], dtype=float)
        low, high = s.get("low"), s.get("high")
        if low is not None and high is not None:
            band = pg.LinearRegionItem(values=(low, high), orientation="horizontal",
                                       movable=False, brush=QColor(92, 201, 138, 45),
                                       pen=pg.mkPen(QColor(92, 201, 138, 120)))
            self.plot.addItem(band)
        abnormal = np.zeros(len(ys), dtype=bool)
        if low is not None:
            abnormal |= ys < low
        if high is not None:
            abnormal |= ys > high
        brushes = [theme.WARNING if a else theme.ACCENT for a in abnormal]
        self.plot.plot(xs, ys, pen=pg.mkPen(theme.ACCENT, width=3))
        self.plot.addItem(pg.ScatterPlotItem(x=xs, y=ys, size=14, brush=brushes,
                                             pen=pg.mkPen(theme.BACKGROUND)))
        if len(xs) == 1:  # one value: a month either side so the date axis reads sensibly
            self.plot.setXRange(xs[0] - 30 * 86400, xs[0] + 30 * 86400)
        self.plot.setLabel("left", s["unit"])
        self.plot.setTitle(s.get("long_name") or s["display"], color=theme.MUTED)
        self.plot.getAxis("left").setTextPen(theme.TEXT)


def curve_with_band(plot: pg.PlotWidget, t: Any, y: Any, low: Any = None, high: Any = None,
                    colour: str = theme.ACCENT, name: str | None = None,
                    dashed: bool = False) -> None:
    """Draw a curve and, if given, its uncertainty band as a translucent fill."""
    t = np.asarray(t, dtype=float)
    if low is not None and high is not None:
        lo = pg.PlotDataItem(t, np.asarray(low, dtype=float), pen=pg.mkPen(None))
        hi = pg.PlotDataItem(t, np.asarray(high, dtype=float), pen=pg.mkPen(None))
        fill = QColor(colour)
        fill.setAlpha(60)
        plot.addItem(lo)
        plot.addItem(hi)
        plot.addItem(pg.FillBetweenItem(lo, hi, brush=fill))
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    plot.plot(t, np.asarray(y, dtype=float), pen=pg.mkPen(colour, width=3, style=style),
              name=name)
