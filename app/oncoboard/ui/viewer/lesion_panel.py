"""The viewer's lesion bar: turn a distance into a lesion measurement, re-measure on follow-up.

The radiologist draws a distance on the axial plane (or clicks the lesion and presses "Propose"
for a region-grown long axis, still editable), chooses a lesion (or "New lesion" with its kind,
site and node flag) and records the reading: `oncoboard.imaging.lesions` stores and audits it.
When a lesion is chosen, its previous reading (size and date) follows the mouse on the axial
plane, so the follow-up is measured against it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QPointF, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from oncoboard.ui import theme
from oncoboard.ui.errors import ErrorBoundary

log = logging.getLogger(__name__)
KINDS = ("target", "non_target", "new")


def tr(text: str) -> str:
    """Translate `text` in the lesion bar's context."""
    return QCoreApplication.translate("LesionPanel", text)


def kind_text(kind: str) -> str:
    """Return the shown name of a lesion kind."""
    return {"target": tr("Target"), "non_target": tr("Non-target"),
            "new": tr("New lesion")}.get(kind, kind)


class LesionPanel(QWidget):
    """Lesion choice, kind, site, node flag, "Propose" and "Record"; the prior reading.

    Signals
    -------
    recorded(object)
        A measurement was stored (the `oncoboard.imaging.lesions.Measurement`).
    """

    recorded = Signal(object)

    def __init__(self, app_context: Any, state: Any, axial: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.state, self.axial = app_context, state, axial
        self.patient_id: str | None = None
        self.series_date: str | None = None
        self.distance: dict[str, Any] | None = None
        self.prior: Any = None
        self.choice = QComboBox(objectName="lesionChoice")
        self.choice.setMinimumWidth(180)
        self.kind = QComboBox(objectName="lesionKind")
        for key in KINDS:
            self.kind.addItem(kind_text(key), key)
        self.label = QLineEdit(objectName="lesionLabel", placeholderText=tr("site, e.g. lung RUL"))
        self.node = QCheckBox(tr("Node"), objectName="lesionNode")
        self.propose = QPushButton(tr("Propose"), objectName="proposeAxis")
        self.propose.setToolTip(tr("Grow a region from the cursor and propose the long axis"))
        self.record = QPushButton(tr("Record lesion"), objectName="recordLesion")
        self.prior_label = QLabel(objectName="priorMeasurement")
        # the previous reading may be long: it gives way (full text in the cursor label)
        self.prior_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cursor_text = pg.TextItem(color=theme.ACCENT, anchor=(-0.1, 1.2),
                                       fill=pg.mkBrush(27, 32, 39, 200))
        self.cursor_text.setZValue(30)
        self.cursor_text.hide()
        axial.vb.addItem(self.cursor_text, ignoreBounds=True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel(tr("Lesion")))
        for w in (self.choice, self.kind, self.label, self.node, self.propose, self.record):
            lay.addWidget(w)
        lay.addWidget(self.prior_label, 1)
        self.choice.currentIndexChanged.connect(self._on_choice_changed)
        self.propose.clicked.connect(self.propose_axis)
        self.record.clicked.connect(self.record_measurement)
        state.hovered.connect(self._on_hovered)
        state.volume_changed.connect(self._on_volume_changed)
        self._update_enabled()

    # --- patient, series, lesions --------------------------------------------------------------
    def set_patient(self, patient_id: str | None) -> None:
        """List the lesions of `patient_id`."""
        self.patient_id = patient_id
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """Reload the lesion list (keeping or choosing `select`, a lesion uid)."""
        from oncoboard.imaging import lesions

        keep = select or self.choice.currentData()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem(tr("New lesion…"), None)
        if self.patient_id:
            for les in lesions.lesions_for_patient(self.ctx.store, self.patient_id):
                self.choice.addItem(f"#{les.number} {les.label} ({kind_text(les.kind)})",
                                    les.uid)
        index = self.choice.findData(keep) if keep else 0
        self.choice.setCurrentIndex(max(index, 0))
        self.choice.blockSignals(False)
        self._on_choice_changed()

    def _on_volume_changed(self) -> None:
        self.distance = None
        volume = self.state.volume
        self.series_date = None
        if volume is not None and volume.series_uid:
            try:
                from oncoboard.imaging import get_series

                self.series_date = get_series(self.ctx.store, volume.series_uid).study_date
            except Exception as exc:  # noqa: BLE001 - a series not indexed (opened from files)
                log.info("no study date for %s: %s", volume.series_uid, exc)
        self._on_choice_changed()

    def _on_choice_changed(self, _index: int = 0) -> None:
        from oncoboard.imaging import lesions

        uid = self.choice.currentData()
        new = uid is None
        for w in (self.kind, self.label, self.node):
            w.setVisible(new)
        self.prior = None
        if uid and self.patient_id:
            self.prior = lesions.previous_measurement(self.ctx.store, self.patient_id, uid,
                                                      before=self.series_date)
        self.prior_label.setText(self.prior_text())
        self._update_enabled()

    def prior_text(self) -> str:
        """Return the chosen lesion's previous reading as shown beside the cursor ('' if none)."""
        m = self.prior
        if m is None:
            return ""
        if m.status != "measured":
            return f"{tr('previous')}: {m.status.replace('_', ' ')} ({m.timepoint})"
        size = m.short_axis_mm if m.is_node else m.long_axis_mm
        axis = tr("short axis") if m.is_node else tr("long axis")
        return f"{tr('previous')}: {axis} {size:.1f} mm ({m.timepoint}, slice {m.slice_index})"

    def _on_hovered(self, idx: Any) -> None:
        text = self.prior_text()
        if idx is None or not text or self.state.volume is None:
            self.cursor_text.hide()
            return
        _k, r, c = idx
        sy, sx = self.axial.spacing
        m = self.prior
        size = m.short_axis_mm if m.is_node else m.long_axis_mm
        short = (f"#{m.lesion_number} {size:.1f} mm ({m.timepoint})" if size is not None
                 else f"#{m.lesion_number} {m.status.replace('_', ' ')} ({m.timepoint})")
        self.cursor_text.setText(short)
        self.cursor_text.setPos(QPointF((c + 0.5) * sx, (r + 0.5) * sy))
        self.cursor_text.show()

    # --- measuring ----------------------------------------------------------------------------
    def set_distance(self, m: dict[str, Any]) -> None:
        """Keep the latest distance measurement (its ends as voxel indices)."""
        self.distance = m if m.get("axis") == 0 else None
        self._update_enabled()

    def _update_enabled(self) -> None:
        ready = self.patient_id is not None and self.state.volume is not None
        self.propose.setEnabled(ready)
        self.record.setEnabled(ready and self.distance is not None)
        self.record.setToolTip("" if self.distance is not None else
                               tr("Draw a distance on the axial plane first"))

    def propose_axis(self) -> dict[str, Any] | None:
        """Propose the long axis of the lesion under the cursor; add it as an editable distance."""
        from oncoboard.imaging.lesion_axis import propose_axes

        volume = self.state.volume
        if volume is None:
            return None
        k, r, c = self.state.cursor
        if not self.state.slice_ready(k):
            self.prior_label.setText(tr("This slice is still loading"))
            return None
        proposal = propose_axes(np.asarray(volume.voxels[k]), (r, c),
                                (volume.spacing[1], volume.spacing[2]))
        if proposal is None:
            self.prior_label.setText(tr("No lesion found at the cursor"))
            return None
        sy, sx = self.axial.spacing
        (r1, c1), (r2, c2) = proposal.long_ends
        m: dict[str, Any] = self.axial.add_distance(QPointF((c1 + 0.5) * sx, (r1 + 0.5) * sy),
                                                    QPointF((c2 + 0.5) * sx, (r2 + 0.5) * sy))
        if proposal.leaked:
            self.prior_label.setText(tr("The region reached its bounds: check the proposal"))
        return m

    def record_measurement(self) -> Any:
        """Store the latest axial distance as a reading of the chosen (or a new) lesion."""
        from oncoboard.imaging import lesions

        volume, m = self.state.volume, self.distance
        if volume is None or m is None or self.patient_id is None:
            return None
        ends = m["ends"]
        k = int(round(ends[0][0]))
        if not self.state.slice_ready(k):
            self.prior_label.setText(tr("This slice is still loading"))
            return None
        axis = ((ends[0][1], ends[0][2]), (ends[1][1], ends[1][2]))
        try:
            uid = self.choice.currentData()
            if uid is None:
                les = lesions.define_lesion(self.ctx.store, self.patient_id,
                                            kind=self.kind.currentData(),
                                            label=self.label.text(), is_node=self.node.isChecked())
                uid = les.uid
            is_node = lesions.get_lesion(self.ctx.store, self.patient_id, uid).is_node
            measurement = lesions.record_on_series(
                self.ctx.store, self.patient_id, uid, series_uid=volume.series_uid,
                slice_index=k, volume=volume, long_axis=None if is_node else axis,
                short_axis=axis if is_node else None)
        except Exception as exc:  # noqa: BLE001 - shown to the user by the error boundary
            ErrorBoundary.report(exc, self, tr("Recording the lesion"))
            return None
        self.label.clear()
        self.refresh(select=uid)
        self.recorded.emit(measurement)
        return measurement
