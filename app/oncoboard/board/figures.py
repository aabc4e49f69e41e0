"""Vector figures for the board report: survival curves with bands and what-if curves, risk bars.

Drawn with ``reportlab.graphics`` (no matplotlib, no Qt), so the PDF stays sharp at any zoom and
the figures need nothing the core does not already have. Uncertainty is always drawn when the
prediction has it: the band under a survival curve, the interval whisker on a probability.
"""

from __future__ import annotations

import math
from typing import Any

from reportlab.graphics.shapes import Drawing, Line, Polygon, PolyLine, Rect, String
from reportlab.lib import colors

from oncoboard.board.prediction_view import Curve, ResultView

CURVE_COLOURS = [colors.HexColor(c) for c in
                 ("#1f4e9c", "#c0392b", "#1e8449", "#8e44ad", "#b9770e", "#117a8b")]
BAND_COLOURS = [colors.HexColor(c) for c in ("#cfe0f5", "#f5d0cc", "#cdebd8", "#e3d3ec")]
RISK_COLOURS = [colors.HexColor(c) for c in ("#d5f0dc", "#fcefc7", "#f9d6cf", "#efc2c2")]
FONT = "Helvetica"


def _ticks(high: float, count: int = 5) -> list[float]:
    if high <= 0:
        return [0.0]
    raw = high / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw),
               default=raw)
    out, t = [], 0.0
    while t <= high + 1e-9:
        out.append(round(t, 6))
        t += step
    return out


def _value_range(curves: list[Curve], rising: bool) -> tuple[float, float]:
    """Return the y range: from 0 for incidence, up to 1 for survival, zoomed to the data."""
    values = [v for c in curves for seq in (c.values, c.lower or [], c.upper or []) for v in seq]
    if not values:
        return 0.0, 1.0
    if rising:
        high = min(1.0, math.ceil(max(values) * 1.1 / 0.05) * 0.05) or 0.05
        return 0.0, max(high, 0.05)
    low = max(0.0, math.floor(min(values) * 0.95 / 0.05) * 0.05)
    return (min(low, 0.95), 1.0)


def survival_drawing(result: ResultView, width: float = 260, plot_height: float = 130, *,
                     max_scenarios: int = 4) -> Drawing:
    """Return a drawing of a survival output: curve, band and what-if scenario curves.

    At most `max_scenarios` what-if curves are drawn (the baseline first, then the manifest's
    order); the legend below the plot says how many more the screen and the JSON export hold.
    The y axis is zoomed to the data (from 0 for incidence, up to 1 for survival) and labelled.
    """
    curves: list[Curve] = [c for c in [result.curve, *result.scenarios[:max_scenarios]]
                           if c is not None]
    hidden = max(0, len(result.scenarios) - max_scenarios)
    legend_h = 8.0 * (len(curves) + (1 if hidden else 0)) + 4
    d = Drawing(width, plot_height + legend_h)
    left, bottom = 34.0, legend_h + 26.0
    right, top = width - 8.0, plot_height + legend_h - 16.0
    rising = result.quantity == "cumulative_incidence"
    y_low, y_high = _value_range(curves, rising)
    t_max = max((max(c.times) for c in curves if c.times), default=1.0) or 1.0

    def xy(t: float, v: float) -> tuple[float, float]:
        v = min(max(v, y_low), y_high)
        return (left + (right - left) * t / t_max,
                bottom + (top - bottom) * (v - y_low) / (y_high - y_low))

    _axes(d, result, xy, t_max, (y_low, y_high), (left, bottom, right, top))
    for i, curve in enumerate(curves):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        if curve.lower and curve.upper:
            upper = [xy(t, v) for t, v in zip(curve.times, curve.upper, strict=False)]
            lower = [xy(t, v) for t, v in zip(curve.times, curve.lower, strict=False)]
            points = [c for p in upper + lower[::-1] for c in p]
            d.add(Polygon(points, fillColor=BAND_COLOURS[i % len(BAND_COLOURS)],
                          strokeColor=None, strokeWidth=0))
        line = [c for p in (xy(t, v) for t, v in zip(curve.times, curve.values, strict=False))
                for c in p]
        if len(line) >= 4:
            d.add(PolyLine(line, strokeColor=colour, strokeWidth=1.4 if i == 0 else 1.0,
                           strokeDashArray=None if i == 0 else [3, 2]))
    _legend(d, curves, left, legend_h - 9, hidden)
    return d


def _axes(d: Drawing, result: ResultView, xy: Any, t_max: float, y_range: tuple[float, float],
          box: tuple[float, float, float, float]) -> None:
    left, bottom, right, top = box
    d.add(Rect(left, bottom, right - left, top - bottom, fillColor=None,
               strokeColor=colors.grey, strokeWidth=0.5))
    for tick in _ticks(t_max):
        x, _ = xy(tick, y_range[0])
        d.add(Line(x, bottom, x, bottom - 3, strokeColor=colors.grey, strokeWidth=0.5))
        d.add(String(x, bottom - 11, f"{tick:g}", fontName=FONT, fontSize=6.5,
                     textAnchor="middle"))
    span = y_range[1] - y_range[0]
    step = next((s for s in (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25) if s >= span / 5), 0.25)
    v = y_range[0]
    while v <= y_range[1] + 1e-9:
        _, y = xy(0, v)
        d.add(Line(left - 3, y, left, y, strokeColor=colors.grey, strokeWidth=0.5))
        d.add(String(left - 5, y - 2, f"{v:.2f}", fontName=FONT, fontSize=6.5, textAnchor="end"))
        v = round(v + step, 6)
    ylabel = "cumulative incidence" if result.quantity == "cumulative_incidence" else "survival"
    d.add(String(left, top + 6, f"{result.label} ({ylabel})", fontName=FONT + "-Bold",
                 fontSize=7.5))
    d.add(String((left + right) / 2, bottom - 21, f"time ({result.time_unit or '?'})",
                 fontName=FONT, fontSize=6.5, textAnchor="middle"))


def _legend(d: Drawing, curves: list[Curve], x: float, y: float, hidden: int) -> None:
    for i, curve in enumerate(curves):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        band = " (with band)" if curve.lower and curve.upper else ""
        d.add(Line(x, y + 2, x + 10, y + 2, strokeColor=colour, strokeWidth=1.4,
                   strokeDashArray=None if i == 0 else [3, 2]))
        d.add(String(x + 13, y, f"{curve.label}{band}"[:70], fontName=FONT, fontSize=6))
        y -= 8
    if hidden:
        d.add(String(x + 13, y, f"+{hidden} more what-if curves (on screen and in the JSON "
                                f"export)", fontName=FONT + "-Oblique", fontSize=6))


def probability_drawing(result: ResultView, width: float = 260, height: float = 44) -> Drawing:
    """Return a horizontal 0-1 bar with the risk bands, the value and its interval."""
    d = Drawing(width, height)
    left, right, bar_y, bar_h = 8.0, width - 8.0, 16.0, 12.0
    scale_max = 1.0
    if result.kind == "score":
        scale_max = max([b[1] for b in result.bands] + [result.upper or 0, result.value or 0, 1])

    def x(v: float) -> float:
        return left + (right - left) * min(max(v / scale_max, 0.0), 1.0)

    start = 0.0
    for i, (label, upper) in enumerate(result.bands):
        d.add(Rect(x(start), bar_y, x(upper) - x(start), bar_h, strokeColor=None,
                   fillColor=RISK_COLOURS[min(i, len(RISK_COLOURS) - 1)]))
        d.add(String((x(start) + x(upper)) / 2, bar_y + bar_h + 3, label, fontName=FONT,
                     fontSize=6, textAnchor="middle"))
        start = upper
    d.add(Rect(left, bar_y, right - left, bar_h, fillColor=None, strokeColor=colors.grey,
               strokeWidth=0.5))
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0] if result.kind != "score" else _ticks(scale_max)
    for tick in ticks:
        d.add(String(x(tick), 4, f"{tick:g}", fontName=FONT, fontSize=6, textAnchor="middle"))
    if result.lower is not None and result.upper is not None:
        mid = bar_y + bar_h / 2
        d.add(Line(x(result.lower), mid, x(result.upper), mid, strokeColor=colors.black,
                   strokeWidth=1.2))
        for end in (result.lower, result.upper):
            d.add(Line(x(end), mid - 4, x(end), mid + 4, strokeColor=colors.black,
                       strokeWidth=1.2))
    if result.value is not None:
        cx = x(result.value)
        d.add(Polygon([cx - 4, bar_y + bar_h + 1, cx + 4, bar_y + bar_h + 1, cx, bar_y + 4],
                      fillColor=colors.HexColor("#1f4e9c"), strokeColor=None))
    return d
