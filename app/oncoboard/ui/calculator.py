"""Calculator mode: type a plugin's inputs and run it without a patient (nothing is stored)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from oncoboard.ui import workers
from oncoboard.ui.errors import ErrorBoundary
from oncoboard.ui.prediction_widgets import PredictionCardWidget

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.inference.prediction import Prediction


def tr(text: str) -> str:
    """Translate `text` in the calculator's context."""
    return QCoreApplication.translate("CalculatorDialog", text)


def calculate_job(task: workers.Task, plugin: Any, given: dict[str, Any], settings: Settings
                  ) -> Prediction:
    """Run `plugin` on typed values (pool thread)."""
    from oncoboard.inference import runtime
    from oncoboard.inference.engine import run_plugin

    job = runtime.Job(1)
    task.cancel_hooks.append(job.cancel)
    return run_plugin(plugin, given, settings, job=job)


class CalculatorDialog(QDialog):
    """One form per plugin: its declared inputs with unit, valid range and categories.

    Signals
    -------
    calculated(Prediction)
        A result came back (the engine's prediction, not stored).
    """

    calculated = Signal(object)

    def __init__(self, plugins: list[Any], settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("Calculator"))
        self.resize(1500, 900)
        self.plugins, self.settings = plugins, settings
        self.choice = QComboBox(objectName="calculatorPlugin")
        for p in plugins:
            self.choice.addItem(p.manifest.name, p.id)
        self.form_holder = QWidget()
        self.form = QFormLayout(self.form_holder)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, Any] = {}
        self.result_box = QVBoxLayout()
        result_holder = QWidget()
        result_holder.setLayout(self.result_box)
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form_holder)
        result_scroll = QScrollArea()
        result_scroll.setWidgetResizable(True)
        result_scroll.setWidget(result_holder)
        self.result_box.addStretch(1)
        scroll = QSplitter(Qt.Orientation.Horizontal)
        scroll.addWidget(form_scroll)
        scroll.addWidget(result_scroll)
        scroll.setStretchFactor(0, 2)
        scroll.setStretchFactor(1, 3)
        self.run_button = QPushButton(tr("Calculate"), objectName="primary")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        foot = QHBoxLayout()
        foot.addWidget(QLabel(tr("Values are checked as record values are; nothing is stored."),
                              objectName="muted"), 1)
        foot.addWidget(self.run_button)
        foot.addWidget(buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(self.choice)
        lay.addWidget(scroll, 1)
        lay.addLayout(foot)
        self.choice.currentIndexChanged.connect(self._on_plugin_changed)
        self.run_button.clicked.connect(lambda: self.calculate())
        self._on_plugin_changed(0)

    @property
    def plugin(self) -> Any:
        """Return the plugin whose form is shown."""
        return self.plugins[self.choice.currentIndex()]

    def _on_plugin_changed(self, _index: int) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}
        for spec in self.plugin.manifest.inputs:
            widget = self._field(spec)
            if widget is None:
                continue
            label = spec.label or spec.name
            unit = f" ({spec.unit})" if getattr(spec, "unit", None) else ""
            self.form.addRow(f"{label}{unit}", widget)
            self.fields[spec.name] = widget
        self._clear_result()

    def _field(self, spec: Any) -> QWidget | None:
        if spec.kind == "text":
            text: QPlainTextEdit = QPlainTextEdit(objectName=f"input_{spec.name}")
            text.setFixedHeight(90)
            return text
        if spec.kind != "clinical":
            return None  # image inputs need a series: run them on a patient
        if spec.categories:
            box: QComboBox = QComboBox(objectName=f"input_{spec.name}")
            box.addItem(tr("(missing)"), None)
            for c in spec.categories:
                box.addItem(c.label, c.label)
            return box
        edit: QLineEdit = QLineEdit(objectName=f"input_{spec.name}")
        hint = []
        if spec.valid_range:
            hint.append(f"{spec.valid_range[0]:g} – {spec.valid_range[1]:g}")
        if not spec.required or spec.missing == "default":
            hint.append(tr("default {d}").format(d=spec.default))
        edit.setPlaceholderText(", ".join(hint))
        return edit

    def values(self) -> dict[str, Any]:
        """Return the typed values by input name (blank fields are left out: missing)."""
        given: dict[str, Any] = {}
        for name, widget in self.fields.items():
            if isinstance(widget, QComboBox):
                value = widget.currentData()
            elif isinstance(widget, QPlainTextEdit):
                value = widget.toPlainText().strip() or None
            else:
                text = widget.text().strip().replace(",", ".")
                value = None
                if text:
                    try:
                        value = float(text)
                    except ValueError:
                        value = text  # the engine says why it is not a number
            if value is not None:
                given[name] = value
        return given

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the form (tests, or a golden case)."""
        for name, value in values.items():
            widget = self.fields[name]
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(max(0, widget.findData(str(value))))
            elif isinstance(widget, QPlainTextEdit):
                widget.setPlainText(str(value))
            else:
                widget.setText(str(value))

    def calculate(self) -> workers.Task:
        """Run the plugin on the form's values in the background."""
        task = workers.Task(calculate_job, self.plugin, self.values(), self.settings,
                            name="calculate")
        self.run_button.setEnabled(False)
        task.signals.finished.connect(self._on_task_finished)  # a bound method: see workers
        workers.start(task, on_done=self._on_calculated, on_error=self._on_error)
        return task

    def _on_task_finished(self) -> None:
        self.run_button.setEnabled(True)

    def _on_error(self, exc: BaseException) -> None:
        ErrorBoundary.report(exc, self, tr("Calculator"))

    def _clear_result(self) -> None:
        while self.result_box.count():
            item = self.result_box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def _on_calculated(self, prediction: Prediction) -> None:
        from dataclasses import replace

        from oncoboard.board.prediction_view import view_of
        from oncoboard.ui.predictions_view import contributions_of

        self._clear_result()
        pairs, scale = contributions_of(prediction, self.plugin.manifest)
        view = view_of(replace(prediction, id=prediction.id or "calculator"))
        card = PredictionCardWidget(view, pairs, scale, compact=False)
        card.setObjectName("calculatorResult")
        self.result_box.insertWidget(0, card)
        self.calculated.emit(prediction)
