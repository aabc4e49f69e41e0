"""The validation panel: Help menu entry, validate in the background, figures and two plots."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit" / "validation"))


@pytest.fixture
def cohort_ctx(tmp_path):  # noqa: ANN201
    """An application context on a data folder of 300 generated operated breast patients."""
    import cohorts  # noqa: PLC0415 - the generator of tests/unit/validation

    from oncoboard.config import load_settings
    from oncoboard.patients import importer
    from oncoboard.store import open_store

    class Ctx:
        settings = load_settings(tmp_path / "data")
        store = open_store(settings.db_path)
        log_file = None

    importer.import_file(Ctx.store, cohorts.write_csv(tmp_path / "c.csv",
                                                      cohorts.synthetic_rows(300, seed=9)))
    yield Ctx
    from oncoboard.ui import workers

    workers.wait_all(20000)
    Ctx.store.close()


def test_validation_panel_runs_and_shows_figures_and_plots(app, cohort_ctx, qtbot,
                                                           output_dir):  # noqa: ANN001
    from oncoboard.ui.validation_panel import ValidationDialog

    dialog = ValidationDialog(cohort_ctx.settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    index = dialog.plugin.findData("relapse-gbsg2")
    assert index >= 0
    dialog.plugin.setCurrentIndex(index)
    dialog.bootstrap.setValue(50)
    with qtbot.waitSignal(dialog.start().signals.finished, timeout=120000):
        pass
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=5000)
    r = dialog.report
    assert r["counts"]["validated"] == 300
    html = dialog.figures.toHtml()
    assert "Harrell" in html and "Uno" in html and "O/E" in html
    assert f"{r['harrell']['value']:.3f}" in html
    # the calibration curve (diagonal, error bars, points) and three Kaplan-Meier curves
    assert len(dialog.calibration.getPlotItem().listDataItems()) == 2
    km = [c for c in dialog.km.getPlotItem().listDataItems() if c.name()]
    assert [c.name().split(" ")[0] for c in km] == ["low", "mid", "high"]
    assert dialog.run_button.isEnabled() and not dialog.progress.isVisible()
    dialog.grab().save(str(output_dir / "validation_panel.png"))


def test_help_menu_opens_the_validation_panel(window, qtbot):  # noqa: ANN001
    action = next(a for a in window.help_menu.actions() if a.text().startswith("Validate"))
    action.trigger()
    from oncoboard.ui.validation_panel import ValidationDialog

    dialogs = window.findChildren(ValidationDialog)
    assert dialogs and dialogs[-1].isVisible()
    dialogs[-1].close()
