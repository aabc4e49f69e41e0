"""The predictions view: run the plugins on the patient, read each result, open its model card.

A run's predictions come back from the engine as stored and are shown as they are; opening a
patient reads the latest prediction of each plugin in one query.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QCoreApplication, QDate, Qt, Signal
from PySide6.QtGui import QAction, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import workers
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.prediction_widgets import PredictionCardWidget

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.inference.prediction import Prediction
    from oncoboard.store import Store

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the predictions view's context."""
    return QCoreApplication.translate("PredictionsView", text)


def predict_job(task: workers.Task, db_path: Any, settings: Settings, patient_id: str, day: str,
                plugin_ids: list[str] | None, own: Any = None) -> list[Prediction]:
    """Run the plugins on the patient and store the results (pool thread, own store).

    `own`: told the change-feed number of the stored results before they commit (the screen's
    watcher then does not report this screen's own run back to it).
    """
    from oncoboard.inference import runtime
    from oncoboard.inference.engine import predict_patient
    from oncoboard.store import open_store
    from oncoboard.store.feed import written_to

    job = runtime.Job(1)
    task.cancel_hooks.append(job.cancel)
    task.progress(0.05, tr("Running the models"))
    store = open_store(db_path)
    try:
        with written_to(own):
            return predict_patient(store, settings, patient_id, date=day,
                                   plugin_ids=plugin_ids, job=job)
    finally:
        store.close()


def contributions_of(prediction: Prediction, manifest: Any = None
                     ) -> tuple[list[tuple[str, float]], str]:
    """Return (label, contribution) pairs of a prediction and their scale."""
    expl = prediction.explanation
    if expl is None:
        return [], ""
    labels = {}
    if manifest is not None:
        labels = {i.name: (i.label or i.name) for i in manifest.inputs}
    pairs = [(f"{labels.get(c.input, c.input)} = {_short(c.value)}", float(c.contribution))
             for c in expl.contributions if c.contribution is not None]
    return pairs, expl.scale


def evidence_of(prediction: Prediction, notes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Return the sentences a text model relied on, by note id (from note-relative offsets)."""
    texts = {n["id"]: n.get("text") or "" for n in notes}
    out: dict[str, list[str]] = {}
    for s in prediction.explanation.sentences if prediction.explanation else ():
        text = texts.get(s.note_id)
        if text is None or s.note_id is None:
            continue
        out.setdefault(s.note_id, []).append(text[s.start:s.end])
    return out


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def default_reference_date(store: Store, patient_id: str) -> dt.date:
    """Return the date of the next planned board with the patient on its agenda, else today."""
    today = dt.date.today()
    try:
        from oncoboard.board.meetings import list_cases, list_meetings

        dates = sorted(m.date for m in list_meetings(store, status="planned")
                       if m.date >= today.isoformat()
                       and any(c.patient_id == patient_id for c in list_cases(store, m.id)))
    except Exception:  # noqa: BLE001 - no board tables: the default is today
        return today
    return dt.date.fromisoformat(dates[0]) if dates else today


class ModelCardDialog(QDialog):
    """A plugin's MODEL_CARD.md, rendered."""

    def __init__(self, plugin: Any, parent: QWidget | None = None):
        super().__init__(parent)
        manifest = plugin.manifest
        self.setWindowTitle(tr("Model card: {name}").format(name=manifest.name if manifest
                                                            else plugin.id))
        self.resize(1000, 800)
        self.browser = QTextBrowser(objectName="modelCard")
        self.browser.setOpenExternalLinks(False)
        path = plugin.folder / (manifest.model_card if manifest else "MODEL_CARD.md")
        try:
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.browser.setPlainText(tr("The model card cannot be read: {f}: {e}").format(
                f=path, e=exc.strerror))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)


class PredictionsView(QWidget):
    """Run the applicable plugins (all or one) and show each stored result.

    Signals
    -------
    predictions_finished(int)
        A run ended; this many results were stored.
    predictions_shown(int)
        The view now shows this many predictions.
    plugins_loaded(int)
        Plugin discovery ended; this many plugins were found (enabled or not).
    """

    predictions_finished = Signal(int)
    predictions_shown = Signal(int)
    plugins_loaded = Signal(int)

    def __init__(self, app_context: Any, main_window: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.main, self.store = app_context, main_window, app_context.store
        self.patient_id: str | None = None
        self.plugins: list[Any] = []
        self.cards: list[PredictionCardWidget] = []
        self.shown: dict[str, Prediction] = {}  # by prediction id
        self._labelled = False  # whether the cards on show were made with the manifests
        self.title = QLabel(tr("Predictions"), objectName="title")
        self.patient_label = QLabel(tr("Open a patient first."), objectName="subtitle")
        self.date = QDateEdit(QDate.currentDate(), objectName="referenceDate")
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.plugin_box = QComboBox(objectName="pluginChoice")
        # long model names shorten to fit rather than widen the window past 1280 px
        self.plugin_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.plugin_box.setMinimumContentsLength(16)
        self.run_button = QPushButton(tr("Run models"), objectName="primary")
        self.calc_button = QPushButton(tr("Calculator…"), objectName="calculatorButton")
        self.card_button = QPushButton(tr("Model card"), objectName="modelCardTop")
        self.note = QLabel(objectName="muted")
        self.note.setWordWrap(True)
        self.list_box = QVBoxLayout()
        self.list_box.addStretch(1)
        holder = QWidget()
        holder.setLayout(self.list_box)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(holder)
        bar = QHBoxLayout()
        bar.addWidget(QLabel(tr("Reference date")))
        bar.addWidget(self.date)
        bar.addWidget(self.plugin_box, 1)
        bar.addWidget(self.run_button)
        bar.addWidget(self.card_button)
        bar.addWidget(self.calc_button)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.patient_label, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(bar)
        lay.addWidget(self.note)
        lay.addWidget(self.scroll_area, 1)
        self.run_button.clicked.connect(lambda: self.run())
        self.calc_button.clicked.connect(self._on_calculator_clicked)
        self.card_button.clicked.connect(self._on_model_card_clicked)
        self._load_plugins()
        self.plugin_box.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self._update_buttons()

    def _load_plugins(self) -> None:
        """Discover the plugins in the background (the first run hashes and checks each model)."""
        from oncoboard.inference.discovery import discover_plugins

        self.plugin_box.clear()
        self.plugin_box.addItem(tr("Looking for plugins"), None)
        self.plugin_box.setEnabled(False)
        task = workers.Task(lambda _t, s=self.ctx.settings: discover_plugins(s), name="plugins")
        workers.start(task, on_done=self._on_plugins_found,
                      on_error=lambda exc: ErrorBoundary.report(exc, self,
                                                                tr("Looking for plugins")))

    def _on_plugins_found(self, plugins: list[Any]) -> None:
        self.plugins = list(plugins)
        self.plugin_box.clear()
        self.plugin_box.setEnabled(True)
        self.plugin_box.addItem(tr("All applicable models"), None)
        for p in self.plugins:
            name = p.manifest.name if p.manifest else p.id
            if p.enabled:
                self.plugin_box.addItem(name, p.id)
            else:
                self.plugin_box.addItem(tr("{name} (disabled: {why})").format(
                    name=name, why="; ".join(p.problems)[:80]), p.id)
                # a QComboBox's own model is a QStandardItemModel
                model = cast(QStandardItemModel, self.plugin_box.model())
                model.item(self.plugin_box.count() - 1).setEnabled(False)
        self._update_buttons()
        if self.patient_id is not None:
            self.show_stored()  # input labels come from the manifests
        self.plugins_loaded.emit(len(self.plugins))

    def plugin(self, plugin_id: str) -> Any:
        """Return the discovered plugin `plugin_id`."""
        for p in self.plugins:
            if p.id == plugin_id:
                return p
        raise KeyError(plugin_id)

    def _update_buttons(self) -> None:
        self.run_button.setEnabled(self.patient_id is not None)
        # with "All applicable models" it offers the card of each model (a menu)
        self.card_button.setEnabled(any(p.manifest for p in self.plugins))
        self.calc_button.setEnabled(any(p.enabled for p in self.plugins))

    def set_patient(self, patient_id: str) -> None:
        """Show the stored predictions of `patient_id`; the reference date follows its board."""
        self.patient_id = patient_id
        self.patient_label.setText(patient_id)
        day = default_reference_date(self.store, patient_id)
        if day == dt.date.today():  # not on a board: keep the date of the stored predictions
            from oncoboard.ui import records

            stored = [e["date"] for e in records.prediction_events(self.store, patient_id)
                      if e.get("date")]
            if stored:
                day = dt.date.fromisoformat(max(stored)[:10])
        self.date.setDate(QDate(day.year, day.month, day.day))
        self._update_buttons()
        self.show_stored()

    def show_stored(self) -> int:
        """Show the latest stored prediction of each plugin for the patient; return the count."""
        from oncoboard.inference.prediction_store import latest_for_patient

        return self._show([] if self.patient_id is None
                          else latest_for_patient(self.store, self.patient_id))

    def apply_stored(self, patient_id: str, predictions: list[Prediction]) -> bool:
        """Show `predictions` (the open patient's, read again after a change made elsewhere),
        keeping the scroll position; return False when it is another patient's."""
        if patient_id != self.patient_id:
            return False
        bar = self.scroll_area.verticalScrollBar()
        where = bar.value()
        self._show(predictions)
        bar.setValue(where)
        return True

    def _show(self, predictions: list[Prediction]) -> int:
        """Show one card per prediction (ordered by plugin id, refusals last)."""
        from oncoboard.board.prediction_view import view_of

        # results first, refusals after them
        shown = sorted(predictions, key=lambda p: (not p.ok, p.plugin.id))
        ids = [str(p.id) for p in shown]
        # a card already on show for the same stored prediction is kept (a refresh after a
        # change elsewhere rebuilds only the new results; a card costs tens of milliseconds)
        old = {str(c.view.id): c for c in self.cards
               if self._labelled and str(c.view.id) in ids}
        for card in self.cards:
            self.list_box.removeWidget(card)
            if card not in old.values():
                card.deleteLater()
        self.cards = []
        self.shown = {str(p.id): p for p in shown}
        for prediction in shown:
            card = old.get(str(prediction.id)) or self._card(prediction, view_of(prediction))
            self.list_box.insertWidget(self.list_box.count() - 1, card)
            self.cards.append(card)
        self._labelled = bool(self.plugins)  # input labels come with the manifests
        self.note.setText("" if shown else tr("No prediction stored for this patient yet: "
                                              "choose a reference date and run the models."))
        self.predictions_shown.emit(len(shown))
        return len(shown)

    def _card(self, prediction: Prediction, view: Any) -> PredictionCardWidget:
        pairs, scale = contributions_of(prediction, self._manifest(prediction.plugin.id))
        card = PredictionCardWidget(
            view, pairs, scale,
            has_evidence=bool(prediction.explanation and prediction.explanation.sentences))
        card.model_card_requested.connect(self.show_model_card)
        card.evidence_requested.connect(self.show_evidence)
        return card

    def _manifest(self, plugin_id: str) -> Any:
        try:
            return self.plugin(plugin_id).manifest
        except KeyError:
            return None

    def run(self, plugin_id: str | None = None) -> workers.Task | None:
        """Run the chosen plugin (or all applicable ones) in the background."""
        if self.patient_id is None:
            return None
        chosen = plugin_id or self.plugin_box.currentData()
        day = self.date.date().toString("yyyy-MM-dd")
        watcher = getattr(self.main, "watcher", None)
        task = workers.Task(predict_job, self.ctx.settings.store_target, self.ctx.settings,
                            self.patient_id, day, [chosen] if chosen else None,
                            watcher.own if watcher is not None else None, name="predict")
        self.run_button.setEnabled(False)
        task.signals.finished.connect(self._update_buttons)
        if self.main is not None:
            self.main.run_task(task, tr("Running the models"), on_done=self._on_predicted,
                               action=tr("Running the models"))
        else:
            workers.start(task, on_done=self._on_predicted,
                          on_error=lambda exc: ErrorBoundary.report(exc, self, tr("Predictions")))
        return task

    def _on_predicted(self, predictions: list[Prediction]) -> None:
        refresher = getattr(self.main, "patient_refresher", None)
        if refresher is not None:  # a read for a change elsewhere may predate this run
            refresher.invalidate()
        if predictions and all(p.patient_id == self.patient_id for p in predictions):
            # the run's own results replace their plugins' cards: nothing is read again
            latest = {p.plugin.id: p for p in self.shown.values()}
            latest.update({p.plugin.id: p for p in predictions})
            self._show(list(latest.values()))
        else:
            self.show_stored()
        if not predictions:
            self.note.setText(tr("No model applies to this patient on this date."))
        self.predictions_finished.emit(len(predictions))
        if self.main is not None:
            self.main.refresh_patient_timeline()

    def show_model_card(self, plugin_id: str) -> ModelCardDialog:
        """Open the model card of `plugin_id` (non-modal) and return the dialog."""
        dialog = ModelCardDialog(self.plugin(plugin_id), self)
        dialog.open()
        return dialog

    def _on_model_card_clicked(self) -> None:
        if self.plugin_box.currentData():
            self.show_model_card(self.plugin_box.currentData())
        else:
            self.model_card_menu().popup(self.card_button.mapToGlobal(
                self.card_button.rect().bottomLeft()))

    def _on_model_card_chosen(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.show_model_card(action.data())

    def model_card_menu(self) -> QMenu:
        """Return a menu of the models' cards, those with results on screen first."""
        shown = {c.view.plugin_id for c in self.cards}
        menu = QMenu(self)
        for p in sorted((p for p in self.plugins if p.manifest),
                        key=lambda p: (p.id not in shown, p.manifest.name)):
            action = menu.addAction(p.manifest.name)
            action.setData(p.id)
            action.triggered.connect(self._on_model_card_chosen)
        return menu

    def show_evidence(self, prediction_id: str) -> dict[str, list[str]]:
        """Highlight the sentences a text model relied on, in the patient's notes."""
        from oncoboard.ui import records

        if self.patient_id is None:
            return {}
        evidence = evidence_of(self.shown[prediction_id],
                               records.notes(self.store, self.patient_id))
        if self.main is not None and evidence:
            pv = self.main.patient_view
            pv.notes.set_highlights(evidence)
            pv.notes.show_note(next(iter(evidence)))
            self.main.show_view("patient")
        return evidence

    def _on_calculator_clicked(self) -> None:
        from oncoboard.ui.calculator import CalculatorDialog

        chosen = self.plugin_box.currentData()
        plugins = [p for p in self.plugins if p.enabled and (chosen is None or p.id == chosen)]
        if plugins:
            CalculatorDialog(plugins, self.ctx.settings, self).open()
