"""Date axis of the timeline and lab trends: readable labels that never overlap."""

from __future__ import annotations

import re

import pytest


def _labels(widget, start: str, end: str, width: int):  # noqa: ANN001, ANN202
    """Return [(x pixel, text)] of the bottom axis for the range start..end at `width` px."""
    from PySide6.QtGui import QFontMetrics

    from oncoboard.ui.plots import to_epoch

    axis = widget.plot.getAxis("bottom")
    lo, hi = to_epoch(start), to_epoch(end)
    levels = axis.tickValues(lo, hi, width)
    assert len(levels) == 1, levels  # one level: no minor labels drawn between the major ones
    spacing, values = levels[0]
    texts = axis.tickStrings(values, 1.0, spacing)
    metrics = QFontMetrics(axis.style.get("tickFont") or widget.font())
    placed = [((v - lo) / (hi - lo) * width, t, metrics.horizontalAdvance(t)) for v, t in
              zip(values, texts, strict=True)]
    for (x1, t1, w1), (x2, t2, w2) in zip(placed, placed[1:], strict=False):
        assert x2 - x1 > (w1 + w2) / 2 + 4, f"{t1!r} and {t2!r} overlap at {width}px"
    return texts


@pytest.mark.parametrize("width", [400, 800, 1400])
def test_timeline_axis_over_a_month_boundary_is_readable(app, width):  # noqa: ANN001
    from oncoboard.ui.plots import LabTrendsWidget, TimelineWidget

    for widget in (TimelineWidget(), LabTrendsWidget()):
        texts = _labels(widget, "2025-11-20", "2026-02-10", width)
        assert texts and all(re.fullmatch(r"[A-Z][a-z]{2} 20\d\d", t) for t in texts), texts
        assert "Jan 2026" in texts
        widget.deleteLater()


def test_timeline_axis_zoomed_in_shows_days_and_out_shows_years(app):  # noqa: ANN001
    from oncoboard.ui.plots import TimelineWidget

    widget = TimelineWidget()
    days = _labels(widget, "2025-12-28", "2026-01-06", 900)
    assert len(days) >= 4 and "2 Jan 2026" in days, days
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} 20\d\d", t) for t in days), days
    years = _labels(widget, "2010-03-01", "2026-01-06", 900)
    assert all(re.fullmatch(r"20\d\d", t) for t in years) and len(years) >= 3, years
    assert _labels(widget, "2026-01-01", "2026-01-01T12:00", 900) == ["1 Jan 2026"]
    widget.deleteLater()


def test_timeline_axis_in_french(app):  # noqa: ANN001
    from oncoboard.ui.app import install_language
    from oncoboard.ui.plots import TimelineWidget

    try:
        assert install_language("fr")
        texts = _labels(TimelineWidget(), "2025-11-20", "2026-02-10", 800)
        assert "janv. 2026" in texts, texts
    finally:
        install_language("en")
