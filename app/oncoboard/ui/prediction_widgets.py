"""Widgets that draw one stored prediction: results with uncertainty, warnings, contributions.

They take the board core's display objects (``oncoboard.board.prediction_view.PredictionView`` and
``ResultView``), so the predictions view, the presenter screen and the PDF show the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from oncoboard.board.prediction_view import percent
from oncoboard.ui import theme
from oncoboard.ui.plots import big_plot, curve_with_band


def tr(text: str) -> str:
    """Translate `text` in the prediction widgets' context."""
    return QCoreApplication.translate("PredictionCardWidget", text)


#: Bands get a neutral light-to-dark ramp: "high" is bad for toxicity but good for response, so
#: colour must not suggest either.
BAND_RAMP = ("#3d5a73", "#4f7896", "#6497bb", "#7db5dd", "#a3cdeb")


def uncertainty_note(result: Any) -> str:
    """Return how the result's number is uncertain: its interval's method, or, where it has
    no interval, the published error of the model (the manifest's words)."""
    curve = getattr(result, "curve", None)
    has_interval = result.lower is not None or (
        curve is not None and bool(curve.lower and curve.upper))
    if has_interval:
        method = getattr(result, "interval_method", None)
        return tr("Interval: {method}").format(method=method) if method else ""
    return getattr(result, "uncertainty", None) or ""


class ProbabilityWidget(QWidget):
    """A probability or score: the number in large type, its interval and its risk band."""

    def __init__(self, result: Any, parent: QWidget | None = None):
        super().__init__(parent)
        value = QLabel(objectName="bigValue")
        value.setStyleSheet(f"font-size: {theme.BASE_POINT_SIZE + 16}pt; font-weight: bold;")
        as_percent = result.kind == "probability"

        def fmt(v: float) -> str:
            if as_percent:
                return percent(v)  # whole percent, as every other place shows it
            # a points score (CARG 17) is an integer: "17.00" suggests false precision; other
            # values to 3 significant digits, as the CLI and the PDF show them (3.2 months)
            return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"

        unit = getattr(result, "unit", None)
        shown = "—" if result.value is None else fmt(result.value)
        if result.value is not None and unit and not as_percent:
            shown += (f" <span style='font-size:{theme.BASE_POINT_SIZE + 2}pt; "
                      f"font-weight:normal'>{unit}</span>")
        value.setText(shown)
        detail = []
        level = round((result.interval_level or 0.95) * 100)
        if result.lower is not None and result.lower == result.upper == result.value:
            detail.append(tr("reference group, exact by definition"))
        elif result.lower is not None:  # no upper: a median survival's limit not reached
            detail.append(tr("{level}% interval {lo} to {hi}").format(
                level=level, lo=fmt(result.lower),
                hi=tr("not reached") if result.upper is None else fmt(result.upper)))
        if result.band:
            detail.append(tr("risk group: {band}").format(band=result.band))
        notes = [n for n in (result.description, uncertainty_note(result)) if n]
        info = QLabel(f"<b>{result.label}</b><br>" + "<br>".join(detail)
                      + "".join(f"<br><span style='color:{theme.MUTED}'>{n}</span>"
                                for n in notes))
        info.setWordWrap(True)
        self.bar = self._band_bar(result)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(value)
        top.addWidget(info, 1)
        lay.addLayout(top)
        if self.bar is not None:
            lay.addWidget(self.bar)

    def _band_bar(self, result: Any) -> pg.PlotWidget | None:
        if result.value is None:
            return None
        plot = big_plot()
        plot.setFixedHeight(90)
        plot.setMouseEnabled(False, False)
        plot.hideAxis("left")
        plot.showGrid(False, False)
        high = 1.0 if result.kind == "probability" else max(
            [b[1] for b in result.bands] + [result.upper or result.value])
        start = 0.0
        for i, (label, upper) in enumerate(result.bands or []):
            colour = BAND_RAMP[min(i, len(BAND_RAMP) - 1)]
            plot.addItem(pg.BarGraphItem(x0=[start], x1=[min(upper, high)], y=[0], height=0.5,
                                         brush=pg.mkBrush(colour), pen=pg.mkPen(theme.PANEL)))
            text = pg.TextItem(str(label), color=theme.TEXT, anchor=(0.5, 0))
            text.setPos((start + min(upper, high)) / 2, -0.3)
            plot.addItem(text)
            start = upper
        if not result.bands:
            plot.addItem(pg.BarGraphItem(x0=[0], x1=[high], y=[0], height=0.5,
                                         brush=pg.mkBrush(theme.PANEL_ALT)))
        if result.lower is not None and result.upper is not None:
            plot.plot([result.lower, result.upper], [0, 0], pen=pg.mkPen(theme.TEXT, width=4))
        plot.addItem(pg.ScatterPlotItem(x=[result.value], y=[0], size=22, symbol="d",
                                        brush=theme.TEXT, pen=pg.mkPen(theme.BACKGROUND)))
        plot.setXRange(0, high, padding=0.02)
        plot.setYRange(-0.6, 0.4, padding=0)
        return plot


class SurvivalWidget(QWidget):
    """A survival curve with its band; what-if curves are chosen in a list beside it (dashed)."""

    SHOWN_SCENARIOS = 3

    def __init__(self, result: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.result = result
        self.plot = big_plot()
        self.plot.setMinimumHeight(300)
        ylabel = tr("Probability event-free") if result.quantity == "survival" else \
            tr("Cumulative incidence")
        self.plot.setLabel("left", ylabel)
        self.plot.setLabel("bottom", result.time_unit or tr("time"))
        self.scenario_list = QListWidget(objectName="scenarioList")
        self.scenario_list.setFixedWidth(380)
        self.scenario_list.setWordWrap(True)
        first = QListWidgetItem("━ " + tr("as recorded"))
        first.setForeground(QColor(theme.ACCENT))
        first.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.scenario_list.addItem(first)
        for i, scenario in enumerate(result.scenarios or []):
            item = QListWidgetItem("┅ " + scenario.label)
            item.setForeground(QColor(self._colour(i)))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if i < self.SHOWN_SCENARIOS
                               else Qt.CheckState.Unchecked)
            self.scenario_list.addItem(item)
        self.scenario_list.setVisible(bool(result.scenarios))
        self.scenario_list.itemChanged.connect(lambda _i: self.redraw())
        note = uncertainty_note(result)
        title = QLabel(f"<b>{result.text()}</b>" + (
            f"<br><span style='color:{theme.MUTED}'>{note}</span>" if note else ""))
        title.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.plot, 1)
        row.addWidget(self.scenario_list)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(title)
        if result.scenarios:
            lay.addWidget(QLabel(tr("What-if curves: tick the scenarios to compare."),
                                 objectName="muted"))
        lay.addLayout(row)
        self.redraw()

    @staticmethod
    def _colour(i: int) -> str:
        return theme.SERIES[(i + 1) % len(theme.SERIES)]

    def shown_scenarios(self) -> list[str]:
        """Return the labels of the what-if curves drawn."""
        return [s.label for i, s in enumerate(self.result.scenarios or [])
                if self.scenario_list.item(i + 1).checkState() == Qt.CheckState.Checked]

    def redraw(self) -> None:
        """Draw the recorded curve and the ticked what-if curves."""
        self.plot.clear()
        curve = self.result.curve
        shown = set(self.shown_scenarios())
        for i, scenario in enumerate(self.result.scenarios or []):
            if scenario.label in shown:
                curve_with_band(self.plot, scenario.times, scenario.values, scenario.lower,
                                scenario.upper, self._colour(i), scenario.label, dashed=True)
        if curve is not None:
            curve_with_band(self.plot, curve.times, curve.values, curve.lower, curve.upper,
                            theme.ACCENT, curve.label or tr("as recorded"))
        self.plot.setYRange(0, 1, padding=0.02)


_AXIS_MAX_PX = 420


def _elide(fm: QFontMetrics, label: str, width: int) -> str:
    """Shorten an 'input = value' label to `width` pixels, keeping the value."""
    if fm.horizontalAdvance(label) <= width:
        return label
    name, sep, value = label.rpartition(" = ")
    if not sep:
        return fm.elidedText(label, Qt.TextElideMode.ElideRight, width)
    room = max(40, width - fm.horizontalAdvance(sep + value))
    return fm.elidedText(name, Qt.TextElideMode.ElideRight, room) + sep + value


class ContributionsWidget(QWidget):
    """Per-input contributions as horizontal bars: red raises the result, blue lowers it."""

    def __init__(self, contributions: list[tuple[str, float]], scale: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        items = sorted(contributions, key=lambda kv: abs(kv[1]))[-10:]
        self.plot = big_plot()
        left = self.plot.getAxis("left")
        self._fm = QFontMetrics(left.style.get("tickFont") or self.font())
        self._labels = [k for k, _v in items]
        self.plot.setMouseEnabled(False, False)
        self.plot.setFixedHeight(60 + 34 * max(len(items), 1))
        values = np.array([v for _k, v in items], dtype=float)
        ys = np.arange(len(items))
        brushes = [theme.DANGER if v > 0 else theme.ACCENT for v in values]
        if len(items):
            self.plot.addItem(pg.BarGraphItem(x0=np.minimum(values, 0), width=np.abs(values),
                                              y=ys, height=0.6, brushes=brushes))
        left.setStyle(hideOverlappingLabels=False)
        self._fit_labels(_AXIS_MAX_PX)
        self.plot.addLine(x=0, pen=pg.mkPen(theme.MUTED))
        # "identity" means the result's own units (CARG points): nothing to add for a reader
        shown = "" if scale in ("", "identity") else f" ({scale})"
        self.plot.setLabel("bottom", tr("contribution") + shown)
        # no SI rescaling: a logit contribution of 0.4 must not read as "400 (x0.001)"
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(tr("What moved the result (relative to the reference patient)")))
        lay.addWidget(self.plot)

    def _fit_labels(self, room: int) -> None:
        """Give the input labels up to `room` pixels; shorten those wider, keeping the value."""
        # pyqtgraph silently drops a tick label wider than the axis
        fm, left = self._fm, self.plot.getAxis("left")
        widest = max((fm.horizontalAdvance(k) for k in self._labels), default=40)
        width = max(120, min(room, widest + 16))
        shown = [_elide(fm, k, width - 16) for k in self._labels]
        left.setTicks([[(i, k) for i, k in enumerate(shown)]])
        left.setWidth(width)
        cut = [k for k, v in zip(self._labels, shown, strict=True) if k != v]
        self.plot.setToolTip("\n".join(cut))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        # the labels may take half the width (the bars need the rest to be read)
        self._fit_labels(max(_AXIS_MAX_PX, self.width() // 2))


class PredictionCardWidget(QFrame):
    """One prediction: model, warnings in plain sight, results, contributions, model card.

    Signals
    -------
    model_card_requested(str)
        The user asked for the model card of this plugin id.
    evidence_requested(str)
        The user asked to see this prediction's evidence in the notes (prediction id).
    """

    model_card_requested = Signal(str)
    evidence_requested = Signal(str)

    def __init__(self, view: Any, contributions: list[tuple[str, float]] | None = None,
                 scale: str = "", has_evidence: bool = False, compact: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent, objectName="card")
        self.view = view
        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        name = QLabel(f"<b>{view.plugin_name}</b>", objectName="predictionTitle")
        name.setWordWrap(True)
        name.setStyleSheet(f"font-size: {theme.BASE_POINT_SIZE + 3}pt;")
        head.addWidget(name, 1)
        if not compact:
            card = QPushButton(tr("Model card"), objectName="modelCardButton")
            card.clicked.connect(lambda: self.model_card_requested.emit(view.plugin_id))
            head.addWidget(card)
            if has_evidence:
                ev = QPushButton(tr("Show evidence in notes"), objectName="evidenceButton")
                ev.clicked.connect(lambda: self.evidence_requested.emit(view.id))
                head.addWidget(ev)
        lay.addLayout(head)
        meta = QLabel(f"v{view.plugin_version} · sha256 {view.model_sha256[:12]} · "
                      f"{view.provider or '?'} · {view.created_at[:16].replace('T', ' ')}"
                      + (f" · {tr('reference date')} {view.reference_date}"
                         if view.reference_date else ""), objectName="muted")
        meta.setWordWrap(True)  # the board's narrow case panel
        lay.addWidget(meta)
        self.warning_labels = []
        for text in view.plain_warnings():
            severe = any(k in text for k in ("synthetic", "intended use", "no result"))
            shown = text if not compact or len(text) <= 150 else text[:147] + "…"
            label = QLabel("⚠ " + shown, objectName="danger" if severe else "warning")
            label.setToolTip(text)
            label.setWordWrap(True)
            lay.addWidget(label)
            self.warning_labels.append(label)
        if getattr(view, "status", "ok") == "refused":
            refused = QLabel(tr("Refused: no result was computed (reasons below)."),
                             objectName="danger")
            refused.setWordWrap(True)
            lay.addWidget(refused)
        for result in view.results:
            if result.kind == "survival":
                lay.addWidget(SurvivalWidget(result))
            else:
                lay.addWidget(ProbabilityWidget(result))
        if contributions and not compact:
            lay.addWidget(ContributionsWidget(contributions, scale))
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
