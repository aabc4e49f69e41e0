"""Lesions in the viewer (record, propose, re-measure against the prior), the response plot in
the patient view and the RECIST category on the presenter screen, on the demo data."""

from __future__ import annotations

import pytest
from ui_helpers import save_and_check

PATIENT = "DEMO-LU-001"  # the demo's shrinking tumour: baseline, follow-up, latest CT
EDITED = "DEMO-LU-005"  # measured again and given a new lesion (the demo data is shared)


@pytest.fixture
def viewer(window, qtbot):  # noqa: ANN001, ANN201
    from oncoboard.imaging import lesions

    if not lesions.lesions_for_patient(window.ctx.store, EDITED):
        pytest.skip("the demo has no lesions in this checkout")
    view = window.show_view("viewer")
    with qtbot.waitSignal(view.series_loaded, timeout=60000):
        window.open_patient(EDITED)
    return view


def test_remeasure_with_the_prior_beside_the_cursor_then_a_new_lesion(viewer, window, qtbot,
                                                                       output_dir):  # noqa: ANN001
    from oncoboard.imaging import lesions

    store, panel = window.ctx.store, viewer.lesion_panel
    before = lesions.measurements_for_patient(store, EDITED)
    latest_date = max(m.timepoint for m in before)
    panel.choice.setCurrentIndex(panel.choice.findData(before[0].lesion_uid))
    assert panel.prior is not None and panel.prior.timepoint < latest_date
    assert "previous: long axis" in panel.prior_label.text()
    assert not panel.record.isEnabled()  # nothing drawn yet
    k, r, c = viewer.state.cursor  # on the tumour (the GTV's centre)
    viewer.state.hovered.emit((k, r, c))
    shown = panel.cursor_text.textItem.toPlainText()
    assert panel.cursor_text.isVisible() and panel.prior.timepoint in shown and "mm" in shown
    proposed = panel.propose_axis()
    assert proposed is not None and proposed["mm"] > 10 and panel.record.isEnabled()
    window.show_view("viewer")
    viewer.state.hovered.emit((k, r - 20, c - 20))  # the prior reading follows the mouse
    save_and_check(window, output_dir / "viewer_lesion.png")
    m = panel.record_measurement()
    assert m is not None and m.timepoint == latest_date and m.supersedes is not None
    after = lesions.measurements_for_patient(store, EDITED)
    assert len(after) == len(before)  # a re-measurement replaces the reading of that date
    # a new lesion from a drawn distance
    panel.choice.setCurrentIndex(0)
    panel.kind.setCurrentIndex(panel.kind.findData("non_target"))
    panel.label.setText("pleura right")
    axial = viewer.views[0]
    from PySide6.QtCore import QPointF

    axial.add_distance(QPointF(100, 100), QPointF(112, 100))
    new = panel.record_measurement()
    assert new is not None and new.kind == "non_target" and new.label == "pleura right"
    assert panel.choice.currentData() == new.lesion_uid
    from oncoboard.board.trail import verify_trail

    assert verify_trail(store).ok


def test_patient_view_shows_the_response_plot(window, qtbot, output_dir):  # noqa: ANN001
    from oncoboard.imaging import lesions

    if not lesions.lesions_for_patient(window.ctx.store, PATIENT):
        pytest.skip("the demo has no lesions in this checkout")
    view = window.show_view("patient")
    window.open_patient(PATIENT)
    plot = view.response
    assert plot.point_count == 3
    assert "PR" in plot.headline.text()
    qtbot.wait(100)  # the plots' column settles at the window's size
    save_and_check(window, output_dir / "patient_response.png")
    size = window.size()
    try:
        # a desktop screen: timeline, response and laboratory plots all in view, unscrolled
        # (whatever the card above them holds: a decision recorded by another test, say)
        window.resize(1920, 1080)
        qtbot.wait(100)
        assert not view.plots.verticalScrollBar().isVisible()
        # a hospital laptop: the column scrolls, no plot squeezed flat
        window.resize(1366, 768)
        qtbot.wait(100)
        save_and_check(window, output_dir / "patient_response_768.png")
        assert view.timeline.height() >= 130 and view.labs.height() >= 180
        assert plot.plot.height() >= 140
        assert view.plots.verticalScrollBar().isVisible()
    finally:
        window.resize(size)
        qtbot.wait(50)
    assert_lanes_apart(plot)
    plot.plot.resize(plot.plot.width(), 320)  # made taller (the splitter): placed again
    qtbot.wait(50)
    assert_lanes_apart(plot)


def assert_lanes_apart(plot) -> None:  # noqa: ANN001
    """Each treatment's label and bar are clear of the other treatments' (screen pixels)."""
    import pyqtgraph as pg

    rects = [(i, i.mapRectToScene(i.boundingRect())) for i in plot._lane_items]
    texts = [(i, r) for i, r in rects if isinstance(i, pg.TextItem)]
    assert len(texts) >= 2  # the demo patient's radiotherapy and durvalumab
    for n, (item, rect) in enumerate(texts):
        row = rects[2 * n: 2 * n + 2]  # a bar and its label per row
        for other, other_rect in rects:
            if other is not item and all(other is not r for r, _ in row):
                assert not rect.intersects(other_rect), (item.toPlainText(), other)


def test_presenter_case_shows_the_category(window, qtbot, output_dir):  # noqa: ANN001
    from PySide6.QtWidgets import QLabel

    from oncoboard.board.caseview import case_view
    from oncoboard.board.demo import DEMO_TITLE
    from oncoboard.board.meetings import list_cases, list_meetings
    from oncoboard.ui.board_presenter import CasePanel

    store = window.ctx.store
    # the demo's own meeting (other tests of this worker may have planned meetings of their own)
    [meeting] = [m for m in list_meetings(store) if m.title == DEMO_TITLE]
    growing = "DEMO-LU-003"
    assert growing in {c.patient_id for c in list_cases(store, meeting.id)}
    view = case_view(store, meeting.id, growing, settings=window.ctx.settings)
    assert view.response is not None and view.response.latest_category == "PD"
    panel = CasePanel(view)
    qtbot.addWidget(panel)
    panel.resize(1600, 1000)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(100)  # the scrolled column settles at the panel's size
    assert not panel.case_scroll.verticalScrollBar().isVisible()  # all of it fits 1600x1000
    label = panel.findChild(QLabel, "presenterResponse")
    assert label is not None and "PD" in label.text()
    save_and_check(panel, output_dir / "presenter_response.png")
