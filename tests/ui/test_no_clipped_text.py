"""No text cut off: the five main views at laptop and meeting-room sizes, in English and French.

Seen on the screenshots: the timeline's "durvalumab" read "durvalur", the viewer's Window box
"Mediastinum (50/350", the window itself grew past 1280 px (so its right edge was off a laptop's
screen). :func:`ui_helpers.clipped_texts` measures every visible label, button and combo box.
"""

from __future__ import annotations

import pytest
from ui_helpers import clipped_texts

VIEWS = [("patients", None), ("patient", "DEMO-LU-001"), ("viewer", "DEMO-LU-001"),
         ("predictions", "DEMO-BR-002"), ("board", None)]


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "fr"])
def test_five_views_at_two_sizes_have_no_clipped_text(app, ctx, french_ctx, qtbot, language):  # noqa: ANN001
    from oncoboard.ui.app import create_window, install_language, prepare_view, wait_until_idle

    context = french_ctx if language == "fr" else ctx
    window = create_window(context)
    qtbot.addWidget(window)
    try:
        window.show()
        found = []
        for width, height in ((1280, 800), (1920, 1080)):
            window.resize(width, height)
            for view, patient in VIEWS:
                prepare_view(window, view, patient)
                if view == "predictions" and not window.show_view(view).cards:
                    predictions = window.show_view(view)
                    qtbot.waitUntil(lambda p=predictions: bool(p.plugins), timeout=30000)
                    with qtbot.waitSignal(predictions.predictions_finished, timeout=60000):
                        predictions.run()
                wait_until_idle(app)
                window.grab()  # lays out every visible widget as on screen
                assert window.width() <= width, (
                    f"{view} at {width}x{height} ({language}): the window needs "
                    f"{window.minimumSizeHint().width()} px")
                found += [f"{view} {width}x{height} {language}: {line}"
                          for line in clipped_texts(window)]
        assert not found, "\n".join(found)
    finally:
        window.close()
        install_language("en")


def test_timeline_labels_stay_inside_the_plot(app, qtbot):  # noqa: ANN001
    from oncoboard.ui.plots import TimelineWidget

    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    timeline.resize(700, 220)
    timeline.show()
    # the second treatment starts near the end of the dates: its label used to run past it
    timeline.set_events([
        {"kind": "radiotherapy", "regimen": "Thoracic radiotherapy", "start_date": "2026-12-13",
         "end_date": "2027-01-24"},
        {"kind": "systemic", "regimen": "durvalumab", "start_date": "2027-01-24",
         "end_date": "2027-01-28"}], [], [], [])
    qtbot.waitExposed(timeline)
    timeline.grab()
    import pyqtgraph as pg

    box = timeline.plot.getViewBox().sceneBoundingRect()
    labels = [i for i in timeline.plot.items() if isinstance(i, pg.TextItem)]
    assert sorted(i.toPlainText() for i in labels) == ["Thoracic radiotherapy", "durvalumab"]
    for item in labels:
        rect = item.mapRectToScene(item.boundingRect())
        assert box.contains(rect), (item.toPlainText(), rect, box)


def test_contribution_labels_use_the_room_they_have(app, qtbot):  # noqa: ANN001
    from oncoboard.ui.prediction_widgets import ContributionsWidget

    name = "Relative dose intensity of the regimen (1 = standard dose) = 1"
    widget = ContributionsWidget([(name, 2.0), ("Number of chemotherapy agents = 2", 2.0)])
    qtbot.addWidget(widget)
    widget.resize(1500, 300)
    widget.show()
    qtbot.waitExposed(widget)
    ticks = widget.plot.getAxis("left")._tickLevels[0]
    assert name in [text for _pos, text in ticks]
    widget.resize(500, 300)
    qtbot.waitUntil(lambda: name not in [t for _p, t in widget.plot.getAxis("left")
                                         ._tickLevels[0]])
    shown = [t for _p, t in widget.plot.getAxis("left")._tickLevels[0]]
    assert any(t.endswith("… = 1") for t in shown) and name in widget.plot.toolTip()


def test_model_card_button_works_while_all_models_are_shown(window, ctx, qtbot):  # noqa: ANN001
    view = window.show_view("predictions")
    qtbot.waitUntil(lambda: bool(view.plugins), timeout=30000)
    if not any(p.manifest for p in view.plugins):
        pytest.skip("no plugin in this checkout")
    assert view.plugin_box.currentData() is None  # "All applicable models"
    assert view.card_button.isEnabled()
    menu = view.model_card_menu()
    names = [a.text() for a in menu.actions()]
    assert names and all(names)
    menu.actions()[0].trigger()
    from oncoboard.ui.predictions_view import ModelCardDialog

    dialogs = [d for d in view.findChildren(ModelCardDialog) if d.isVisible()]
    assert dialogs and names[0] in dialogs[0].windowTitle()
    for dialog in dialogs:
        dialog.close()


@pytest.mark.parametrize(("modality", "description", "meta", "expected"), [
    ("CT", "Thorax 3.75 mm", {}, "CT lung"),
    ("CT", "", {"body_part": "CHEST"}, "CT lung"),
    ("CT", "Rachis lombaire", {}, "CT bone"),
    ("CT", "Abdomen portal", {}, "CT soft tissue"),
    ("MR", "T1 post-contrast", {"body_part": "BREAST"}, "MIP"),
    ("PT", "WB", {}, "MIP")])
def test_3d_preset_follows_modality_and_body_part(modality, description, meta, expected):
    from types import SimpleNamespace

    from oncoboard.ui.viewer.volume3d import default_preset

    volume = SimpleNamespace(modality=modality, description=description, meta=meta)
    assert default_preset(volume) == expected
