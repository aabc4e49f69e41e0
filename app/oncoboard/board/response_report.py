"""The RECIST 1.1 block of a case's PDF page: headline, sum-of-diameters figure, table.

The figure (``reportlab.graphics``, vector) draws the sum of target diameters at each time
point, labelled with its category, over the treatment lines on the same date axis; the dashed
lines mark 30 % below baseline (PR) and 20 % above the nadir (PD).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors

from oncoboard.board.figures import CURVE_COLOURS, FONT, _ticks

CATEGORY_COLOURS = {"CR": "#1e8449", "PR": "#2e86c1", "SD": "#7f8c8d", "PD": "#c0392b",
                    "NE": "#b9770e", "baseline": "#1f4e9c"}
_TREATMENT = {"surgery": "#b9770e", "radiotherapy": "#8e44ad", "systemic": "#117a8b"}


def _day(value: str | None) -> float | None:
    try:
        return float(dt.date.fromisoformat(str(value)[:10]).toordinal()) if value else None
    except ValueError:
        return None


def response_drawing(view: Any, width: float = 300, height: float = 120) -> Drawing:
    """Return the sum-of-diameters figure of a `oncoboard.board.response.ResponseView`."""
    points = [(d, p["sum_mm"], p["category"]) for p in view.points()
              if (d := _day(p["date"])) is not None and p["sum_mm"] is not None]
    lines = [(s, _day(t.get("end_date")) or s + 1, t) for t in view.treatments
             if (s := _day(t.get("start_date"))) is not None]
    drawing = Drawing(width, height)
    left, bottom, right, top = 34.0, 30.0, width - 8, height - 8
    days = [p[0] for p in points] or [0.0]
    lo_x = min(days) - 10
    hi_x = max(days) + 10
    lo_x = min([lo_x] + [s for s, _e, _t in lines if s >= lo_x - 120])
    hi_x = max([hi_x] + [min(e, hi_x + 120) for _s, e, _t in lines])
    high = max([p[1] for p in points] + [1.0]) * 1.25

    def x(d: float) -> float:
        return left + (min(max(d, lo_x), hi_x) - lo_x) / (hi_x - lo_x) * (right - left)

    def y(v: float) -> float:
        return float(bottom + v / high * (top - bottom))

    drawing.add(Line(left, bottom, right, bottom, strokeWidth=0.6))
    drawing.add(Line(left, bottom, left, top, strokeWidth=0.6))
    for t in _ticks(high, 4):
        drawing.add(String(left - 3, y(t) - 3, f"{t:g}", fontName=FONT, fontSize=6,
                           textAnchor="end"))
    drawing.add(String(4, top - 4, "mm", fontName=FONT, fontSize=6))
    for row, (s, e, t) in enumerate(lines[:3]):
        colour = colors.HexColor(_TREATMENT.get(str(t.get("kind")), "#555555"))
        drawing.add(Rect(x(s), 4 + 7 * row, max(x(e) - x(s), 2), 5, fillColor=colour,
                         strokeColor=None))
        drawing.add(String(min(x(s), right - 60) + 2, 4 + 7 * row + 6,
                           str(t.get("label") or "")[:30], fontName=FONT, fontSize=5.5))
    base = view.recist.baseline.sum_mm
    if base:
        drawing.add(Line(left, y(base * 0.7), right, y(base * 0.7), strokeWidth=0.4,
                         strokeDashArray=[2, 2], strokeColor=colors.HexColor("#2e86c1")))
    if len(points) > 1:
        drawing.add(PolyLine([v for d, s, _c in points for v in (x(d), y(s))],
                             strokeColor=CURVE_COLOURS[0], strokeWidth=1.2))
    for d, s, category in points:
        colour = colors.HexColor(CATEGORY_COLOURS.get(category, "#333333"))
        drawing.add(Rect(x(d) - 2.5, y(s) - 2.5, 5, 5, fillColor=colour, strokeColor=None))
        drawing.add(String(x(d), y(s) + 5, "BL" if category == "baseline" else category,
                           fontName=FONT + "-Bold", fontSize=7, textAnchor="middle",
                           fillColor=colour))
        drawing.add(String(x(d), bottom - 8, dt.date.fromordinal(int(d)).isoformat(),
                           fontName=FONT, fontSize=5.5, textAnchor="middle"))
    return drawing


def response_rows(view: Any) -> list[list[str]]:
    """Return the RECIST table as rows of text (header first)."""
    rows = [["Date", "Sum mm", "vs base", "vs nadir", "Target", "Non-target", "New", "Overall"]]
    base = view.recist.baseline
    rows.append([str(base.timepoint), "-" if base.sum_mm is None else f"{base.sum_mm:.1f}",
                 "", "", "", "", "", "BL"])
    for t in view.recist.timepoints:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:+.0f}%"

        rows.append([t.timepoint, "-" if t.sum_mm is None else f"{t.sum_mm:.1f}",
                     pct(t.change_from_baseline_pct), pct(t.change_from_nadir_pct),
                     t.target or "-", t.non_target or "-", "yes" if t.new_lesions else "no",
                     t.overall])
    return rows
