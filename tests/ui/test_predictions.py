"""Predictions: run the bundled plugins from the UI, read warnings, contributions, evidence."""

from __future__ import annotations

import pytest
from ui_helpers import save_and_check, visible_texts


def _plugins_or_skip(ctx):  # noqa: ANN001, ANN202
    from oncoboard.inference.discovery import discover_plugins

    plugins = [p for p in discover_plugins(ctx.settings) if p.enabled]
    if not plugins:
        pytest.skip("no enabled plugin in this checkout")
    return plugins


def _demo_reference_date(ctx) -> str:  # noqa: ANN001
    """Return the date the demo cohort's records are built around (its planned meeting)."""
    from ui_helpers import demo_reference_date

    day = demo_reference_date(ctx.settings.data_dir)
    if day is None:
        pytest.skip("the demo cohort (with its board date) is not available")
    return day


@pytest.fixture
def predictions(window, ctx, qtbot):  # noqa: ANN001, ANN201
    _plugins_or_skip(ctx)
    window.open_patient("DEMO-CH-001")
    view = window.show_view("predictions")
    qtbot.waitUntil(lambda: bool(view.plugins), timeout=30000)
    from PySide6.QtCore import QDate

    view.date.setDate(QDate.fromString(_demo_reference_date(ctx), "yyyy-MM-dd"))
    return view


def test_run_all_models_shows_results_warnings_and_contributions(predictions, window, qtbot,
                                                                  output_dir):  # noqa: ANN001
    with qtbot.waitSignal(predictions.predictions_finished, timeout=60000) as blocker:
        predictions.run()
    assert blocker.args[0] >= 1
    assert predictions.cards, "each stored result has a card"
    texts = visible_texts(predictions)
    assert "synthetic - demonstration only" in texts  # the text model is synthetic
    card_texts = [visible_texts(c) for c in predictions.cards]
    assert any("%" in t for t in card_texts), card_texts  # a probability in large type
    from oncoboard.ui.prediction_widgets import ContributionsWidget

    assert any(c.findChildren(ContributionsWidget) for c in predictions.cards)
    save_and_check(window, output_dir / "predictions.png")
    # the timeline now shows the stored predictions
    window.refresh_patient_timeline()
    assert window.patient_view.timeline.item_count > 0


def test_evidence_sentences_are_highlighted_in_the_notes(predictions, window, qtbot):  # noqa: ANN001
    with qtbot.waitSignal(predictions.predictions_finished, timeout=60000):
        predictions.run()
    with_evidence = [pid for pid, p in predictions.shown.items()
                     if p.explanation and p.explanation.sentences]
    if not with_evidence:
        pytest.skip("no text model gave sentence evidence for this patient")
    evidence = predictions.show_evidence(with_evidence[0])
    assert evidence
    note_id, sentences = next(iter(evidence.items()))
    assert window.stack.currentWidget() is window.patient_view
    assert window.patient_view.notes.current_note_id() == note_id
    html = window.patient_view.notes.reader.toHtml()
    assert "#f3b63f" in html.lower()  # the highlight colour is in the rendered note


def test_model_card_is_one_click_away(predictions, qtbot):  # noqa: ANN001
    plugin = next(p for p in predictions.plugins if p.enabled)
    dialog = predictions.show_model_card(plugin.id)
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    assert len(text) > 200
    assert "Traceback" not in text
    dialog.close()


def test_one_plugin_and_refusals_are_shown(predictions, qtbot):  # noqa: ANN001
    target = next((p for p in predictions.plugins if p.id == "carg-toxicity" and p.enabled), None)
    if target is None:
        pytest.skip("the CARG plugin is not bundled")
    index = predictions.plugin_box.findData(target.id)
    predictions.plugin_box.setCurrentIndex(index)
    assert predictions.card_button.isEnabled()
    with qtbot.waitSignal(predictions.predictions_finished, timeout=60000) as blocker:
        predictions.run()
    assert blocker.args[0] == 1
    assert any(c.view.plugin_id == target.id for c in predictions.cards)


def test_calculator_runs_a_plugin_on_typed_values(predictions, qtbot, output_dir):  # noqa: ANN001
    from oncoboard.ui.calculator import CalculatorDialog

    plugin = next((p for p in predictions.plugins if p.enabled and p.manifest.golden), None)
    if plugin is None:
        pytest.skip("no plugin with a golden case")
    dialog = CalculatorDialog([plugin], predictions.ctx.settings, predictions)
    qtbot.addWidget(dialog)
    dialog.set_values({k: v for k, v in plugin.manifest.golden.inputs.items()
                       if k in dialog.fields})
    with qtbot.waitSignal(dialog.calculated, timeout=30000) as blocker:
        dialog.calculate()
    prediction = blocker.args[0]
    for name, expected in plugin.manifest.golden.expected.items():
        got = prediction.outputs[name].value if name in prediction.outputs else None
        if got is not None and not isinstance(expected, list):
            assert got == pytest.approx(expected, abs=max(1e-4, plugin.manifest.golden.tolerance))
    dialog.show()
    qtbot.waitExposed(dialog)
    from PySide6.QtWidgets import QWidget

    qtbot.waitUntil(lambda: dialog.findChild(QWidget, "calculatorResult").isVisible())
    save_and_check(dialog, output_dir / "calculator.png")


def test_long_contribution_labels_stay_visible(qtbot):  # noqa: ANN001
    # pyqtgraph dropped the label wider than the axis (CARG's dose intensity input): a bar
    # without a name. Every tick label must fit the axis, with its value kept.
    from PySide6.QtGui import QFontMetrics

    from oncoboard.ui.prediction_widgets import ContributionsWidget

    long = "Relative dose intensity of the regimen (1 = standard dose) = 1"
    widget = ContributionsWidget([(long, 2.0), ("Hearing = good", 0.5)])
    qtbot.addWidget(widget)
    left = widget.plot.getAxis("left")
    fm = QFontMetrics(left.style["tickFont"])
    labels = [text for _pos, text in left._tickLevels[0]]
    assert any(t.startswith("Relative dose intensity") and t.endswith("= 1") for t in labels)
    assert all(fm.horizontalAdvance(t) < left.fixedWidth for t in labels), (labels, left.fixedWidth)
    assert long in widget.plot.toolTip()


def test_contribution_axis_is_not_rescaled(qtbot):  # noqa: ANN001
    # Logit contributions of -0.5..0.9 read as "-400 .. 800 (x0.001)" with pyqtgraph's SI prefix.
    from oncoboard.ui.prediction_widgets import ContributionsWidget

    widget = ContributionsWidget([("NLR = 4.56", -0.54), ("Entropy = 3.82", 0.94)], "logit")
    qtbot.addWidget(widget)
    widget.resize(900, 200)
    widget.show()
    qtbot.wait(50)
    bottom = widget.plot.getAxis("bottom")
    assert bottom.autoSIPrefixScale == 1.0 and "x0.001" not in bottom.labelString()
    assert "(logit)" in bottom.labelString()
    points = ContributionsWidget([("Age = 78", 2.0)], "identity")
    qtbot.addWidget(points)
    assert "identity" not in points.plot.getAxis("bottom").labelString()  # CARG read "(identity)"


@pytest.mark.parametrize(("kind", "value", "shown"), [
    ("score", 17.0, "17"), ("score", 2.345, "2.35"), ("probability", 0.758, "76 %")])
def test_big_value_format(qtbot, kind, value, shown):  # noqa: ANN001
    # CARG's integer points read "17.00"; a fractional score keeps two decimals.
    from types import SimpleNamespace

    from PySide6.QtWidgets import QLabel

    from oncoboard.ui.prediction_widgets import ProbabilityWidget

    result = SimpleNamespace(kind=kind, value=value, lower=None, upper=None, band=None,
                             bands=[], label="x", description="", interval_level=None)
    widget = ProbabilityWidget(result)
    qtbot.addWidget(widget)
    assert widget.findChild(QLabel, "bigValue").text() == shown
