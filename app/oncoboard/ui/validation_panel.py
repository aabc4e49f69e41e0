"""Validate a model on local patients (Help > Validate a model on local patients…).

The panel runs ``oncoboard validate`` (:func:`oncoboard.inference.validation.validate`) in the
background (:mod:`oncoboard.ui.workers`: its own store, progress by patients, cancel) and shows
the figures of the report (counts and exclusions, C-indexes or AUC with their 95 % intervals,
O/E ratio, calibration intercept and slope, the manifest's figures beside the local ones, the
caveats) and two plots: the calibration curve (mean predicted vs observed risk by risk group,
with the observed 95 % interval and the diagonal) and, for survival outputs, the Kaplan-Meier
curves of the risk tertiles with each tertile's mean predicted survival at the horizon.
Recalibration stays on the command line (it needs the site key).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import theme, workers
from oncoboard.ui.plots import big_plot

if TYPE_CHECKING:
    from oncoboard.config import Settings

COLOURS = (theme.OK, theme.WARNING, theme.DANGER)  # low, mid, high risk


def tr(text: str) -> str:
    """Translate `text` in the validation panel's context."""
    return QCoreApplication.translate("ValidationPanel", text)


def validate_job(task: workers.Task, settings: Settings, plugin_id: str, n_boot: int
                 ) -> dict[str, Any]:
    """Run the validation on a pool thread with its own store; return the report."""
    from oncoboard.inference import validation
    from oncoboard.store import open_store

    store = open_store(settings.store_target)
    try:
        return validation.validate(
            store, settings, plugin_id, n_boot=n_boot,
            progress=lambda done, total: task.progress(done / max(total, 1),
                                                       f"{done} / {total}"))
    finally:
        store.close()


def validatable_plugins(settings: Settings) -> list[tuple[str, str]]:
    """Return (id, label) of the enabled plugins with a survival or probability output."""
    from oncoboard.inference.discovery import discover_plugins
    from oncoboard.inference.validation_cohort import target_output

    out = []
    for p in discover_plugins(settings):
        if not p.enabled or p.manifest is None:
            continue
        try:
            target_output(p.manifest)
        except Exception:  # noqa: BLE001 - no output to validate: not listed
            continue
        out.append((p.id, f"{p.id} {p.manifest.version}"))
    return out


def _f(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def report_html(r: dict[str, Any]) -> str:
    """Return the figures of a validation report as HTML."""
    c, co = r["counts"], r.get("counts_outcome", {})
    lines = [f"<p><b>{escape(r['plugin']['id'])} {escape(r['plugin']['version'])}</b> – "
             f"{escape(tr('horizon'))} {r['horizon_months']:g} {escape(tr('months'))}; "
             f"{escape(tr('reference date'))}: {escape(r['reference_date_rule'])}</p>",
             f"<p><b>{escape(r['verdict'])}</b></p>",
             f"<p>{escape(tr('patients'))} {c['patients']}, {escape(tr('validated'))} "
             f"{c['validated']}, {escape(tr('events'))} {co.get('events', 0)}"
             + (f" ({co['events_by_horizon']} {escape(tr('by the horizon'))})"
                if co.get("events_by_horizon") is not None else "") + "</p>"]
    if c["excluded"]:
        lines.append("<ul>" + "".join(f"<li>{escape(tr('excluded'))}: {escape(k)}: {v}</li>"
                                      for k, v in c["excluded"].items()) + "</ul>")
    rows = []
    for key, name in (("harrell", tr("Harrell's C")), ("uno", tr("Uno's C")),
                      ("auc", tr("AUC"))):
        if key in r:
            e = r[key]
            rows.append((name, _f(e["value"]), f"{_f(e['lower'])}–{_f(e['upper'])}"))
    oe, cal = r.get("observed_expected"), r.get("calibration_model")
    if oe:
        rows.append((tr("O/E ratio"), _f(oe["value"]),
                     f"{_f(oe.get('lower'))}–{_f(oe.get('upper'))}"))
    if cal:
        rows.append((tr("calibration intercept"), _f(cal["intercept"]),
                     f"SE {_f(cal['intercept_se'])}"))
        rows.append((tr("calibration slope"), _f(cal["slope"]), f"SE {_f(cal['slope_se'])}"))
    lines.append("<table cellspacing='0' cellpadding='3' border='1'>"
                 f"<tr><th></th><th>{escape(tr('value'))}</th>"
                 f"<th>{escape(tr('95 % interval'))}</th></tr>"
                 + "".join(f"<tr><td>{escape(a)}</td><td>{b}</td><td>{d}</td></tr>"
                           for a, b, d in rows) + "</table>")
    if r.get("manifest_comparison"):
        lines.append(f"<p>{escape(tr('Against the figures of the plugin'))}:</p><table "
                     "cellspacing='0' cellpadding='3' border='1'>"
                     f"<tr><th></th><th>{escape(tr('published'))}</th>"
                     f"<th>{escape(tr('local'))}</th></tr>"
                     + "".join(f"<tr><td>{escape(m['name'])}</td><td>{_f(m['value'])}</td>"
                               f"<td>{_f(m['local'])}</td></tr>"
                               for m in r["manifest_comparison"]) + "</table>")
    if r.get("caveats"):
        lines.append(f"<p>{escape(tr('Caveats'))}:</p><ul>"
                     + "".join(f"<li>{escape(x)}</li>" for x in r["caveats"]) + "</ul>")
    return "".join(lines)


class ValidationDialog(QDialog):
    """Choose a plugin, run the validation in the background, read its figures and plots."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.task: workers.Task | None = None
        self.report: dict[str, Any] | None = None
        self.setWindowTitle(tr("Validate a model on local patients"))
        self.plugin = QComboBox()
        for pid, label in validatable_plugins(settings):
            self.plugin.addItem(label, pid)
        self.bootstrap = QSpinBox()
        self.bootstrap.setRange(0, 2000)
        self.bootstrap.setValue(200)
        self.bootstrap.setSuffix(" " + tr("bootstrap samples"))
        self.run_button = QPushButton(tr("Validate"))
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel(tr("Runs the model on every patient with outcomes, as recorded "
                                "on the date it would have been used; no later data."))
        self.status.setWordWrap(True)
        self.figures = QTextBrowser()
        self.calibration = big_plot()
        self.calibration.setLabel("bottom", tr("predicted risk"))
        self.calibration.setLabel("left", tr("observed risk"))
        self.km = big_plot()
        self.km.setLabel("bottom", tr("months after the reference date"))
        self.km.setLabel("left", tr("Kaplan-Meier survival"))
        self.km.addLegend(offset=(-10, 10))
        top = QHBoxLayout()
        top.addWidget(self.plugin, 1)
        top.addWidget(self.bootstrap)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.calibration)
        plots.addWidget(self.km)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.figures)
        body.addWidget(plots)
        body.setSizes([520, 480])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(body, 1)
        self.resize(1100, 760)
        self.run_button.setEnabled(self.plugin.count() > 0)

    def start(self) -> workers.Task | None:
        """Run the validation of the chosen plugin in the background; return the task."""
        pid = self.plugin.currentData()
        if not pid:
            return None
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(tr("Validating…"))
        self.task = workers.start(
            workers.Task(validate_job, self.settings, pid, self.bootstrap.value(),
                         name="validate"),
            on_done=self._on_done, on_error=self._on_error,
            on_progress=lambda f, _m: self.progress.setValue(int(f * 1000)))
        self.task.signals.cancelled.connect(self._on_cancelled)
        return self.task

    def cancel(self) -> None:
        """Stop the running validation at its next chunk of patients."""
        if self.task is not None:
            self.task.cancel()

    def _idle(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.task = None

    def _on_cancelled(self) -> None:
        self._idle()
        self.status.setText(tr("Cancelled."))

    def _on_error(self, exc: BaseException) -> None:
        self._idle()
        self.status.setText(tr("The validation failed:") + " " + str(
            getattr(exc, "message", None) or exc))

    def _on_done(self, report: dict[str, Any]) -> None:
        self._idle()
        self.show_report(report)

    def show_report(self, report: dict[str, Any]) -> None:
        """Show the figures and the plots of a validation report."""
        self.report = report
        self.status.setText(tr("Done in {s} s.").format(s=report.get("duration_s", "?")))
        self.figures.setHtml(report_html(report))
        self._plot_calibration(report)
        self._plot_km(report)

    def _plot_calibration(self, r: dict[str, Any]) -> None:
        p = self.calibration
        p.clear()
        surv = r["outcome"] == "survival"
        groups = r.get("groups_10") or r.get("groups_3") or []
        if not groups:
            return
        pred = np.array([1 - g["predicted"] if surv else g["predicted"] for g in groups])
        obs = np.array([1 - g["observed"] if surv else g["observed"] for g in groups])
        lo = np.array([1 - g["observed_upper"] if surv else g["observed_lower"] for g in groups])
        hi = np.array([1 - g["observed_lower"] if surv else g["observed_upper"] for g in groups])
        top = float(max(np.max(hi), np.max(pred), 0.05)) * 1.05
        p.plot([0, top], [0, top], pen=pg.mkPen(theme.MUTED, style=Qt.PenStyle.DashLine))
        p.addItem(pg.ErrorBarItem(x=pred, y=obs, top=hi - obs, bottom=obs - lo, beam=0.005,
                                  pen=pg.mkPen(theme.ACCENT)))
        p.plot(pred, obs, pen=pg.mkPen(theme.ACCENT, width=2), symbol="o", symbolSize=7,
               symbolBrush=theme.ACCENT)
        p.setXRange(0, top)
        p.setYRange(0, top)
        what = tr("risk by {h:g} months").format(h=r["horizon_months"]) if surv \
            else tr("probability")
        p.setLabel("bottom", tr("predicted") + " " + what)
        p.setLabel("left", tr("observed") + " " + what)

    def _plot_km(self, r: dict[str, Any]) -> None:
        p = self.km
        p.clear()
        groups = r.get("groups_3") or []
        surv = r["outcome"] == "survival"
        self.km.setVisible(surv and bool(groups))
        if not surv:
            return
        names = [tr("low risk"), tr("mid risk"), tr("high risk")]
        h = r["horizon_months"]
        tmax = max([h] + [max(g["km"]["times"] or [0]) for g in groups])
        for i, g in enumerate(groups):
            colour = COLOURS[i % len(COLOURS)]
            t = np.concatenate([[0.0], np.asarray(g["km"]["times"], float), [tmax]])
            s = np.concatenate([[1.0], np.asarray(g["km"]["survival"], float)])
            p.plot(t, s, stepMode="center", pen=pg.mkPen(colour, width=2),
                   name=f"{names[i % 3]} (n={g['n']})")
            p.plot([h], [g["predicted"]], pen=None, symbol="o", symbolSize=9,
                   symbolBrush=None, symbolPen=pg.mkPen(colour, width=2))
        p.setXRange(0, tmax)
        p.setYRange(0, 1.02)

