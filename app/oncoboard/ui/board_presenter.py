"""The presenter screen of a tumour board: one case per screen, large type, D to decide."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from oncoboard.dates import local_time
from oncoboard.ui import theme
from oncoboard.ui.fitting import FitImage, ShrinkingScroll
from oncoboard.ui.prediction_widgets import PredictionCardWidget


def tr(text: str) -> str:
    """Translate `text` in the board view's context."""
    return QCoreApplication.translate("BoardView", text)


def rgb_pixmap(rgb: Any, aspect: float = 1.0) -> QPixmap:
    """Return a QPixmap of an (rows, columns, 3) uint8 image, pixels drawn at true shape."""
    h, w, _ = rgb.shape
    image = QImage(bytes(rgb.tobytes()), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    if abs(aspect - 1.0) > 1e-3:
        pixmap = pixmap.scaled(w, round(h * aspect), Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


def _scrolled(widget: QWidget, name: str) -> QScrollArea:
    """Return `widget` in a vertical scroll area (shown only when the screen is too small)."""
    scroll = QScrollArea(objectName=name)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(widget)
    return scroll


class CasePanel(QWidget):
    """One case as presented: identity, question, summary, key image, predictions, decision."""

    def __init__(self, view: Any, large: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.type_scale = 1.0
        self._typed: list[tuple[QLabel, int, str]] = []
        size = theme.PRESENTER_POINT_SIZE if large else theme.BASE_POINT_SIZE + 2
        ident = view.identity
        head = QLabel(f"{tr('Case')} {view.case.position}/{view.total_cases} · "
                      f"<b>{ident['id']}</b> · {ident.get('age') or '?'} {tr('y')} · "
                      f"{ident.get('sex') or ''}", objectName="presenterHeader")
        self._typeset(head, size)
        question = QLabel(view.case.question, objectName="presenterQuestion")
        question.setWordWrap(True)
        self._typeset(question, size - 2, f"color: {theme.ACCENT};")
        response = _response_widgets(view)
        if response is not None:
            self._typeset(response[0], size - 8, "font-weight: bold; color: "
                          f"{response[0].property('colour')};")
        summary = QLabel("<br>".join(f"<span style='color:{theme.MUTED}'>{k}</span>  {v}"
                                     for k, v in view.summary_lines), objectName="presenterSummary")
        summary.setWordWrap(True)
        self._typeset(summary, size - 8)
        image: QWidget
        if view.key_image is not None:
            image = FitImage(rgb_pixmap(view.key_image.rgb, view.key_image.pixel_aspect))
            image.setObjectName("presenterImage")
            image.setToolTip(view.key_image.caption())
        else:
            note = QLabel(view.image_note, objectName="muted")
            note.setWordWrap(True)
            image = note
        caption = QLabel(view.key_image.caption() if view.key_image else "", objectName="muted")
        caption.setWordWrap(True)
        preds = QVBoxLayout()
        # results first, refusals after them: the board reads what the models did say
        for p in sorted(view.predictions, key=lambda p: getattr(p, "status", "ok") != "ok"):
            preds.addWidget(PredictionCardWidget(p, compact=True))
        if not view.predictions:
            note = QLabel(view.predictions_note, objectName="muted")
            note.setWordWrap(True)
            preds.addWidget(note)
        preds.addStretch(1)
        pred_box = QWidget()
        pred_box.setLayout(preds)
        scroll = _scrolled(pred_box, "presenterPredictions")
        self.prediction_scroll = scroll
        decision = QLabel(objectName="presenterDecision")
        self.decision = decision
        decision.setWordWrap(True)
        self._typeset(decision, size - 8)
        if view.decision is not None:
            d = view.decision
            text = f"<b>{tr('Decision')}:</b> {d.plan}<br>{tr('Rationale')}: {d.rationale}"
            if d.departs_from_model:
                text += f"<br><b>{tr('Departs from model')}:</b> {d.departure_reason}"
            decision.setText(text)
        else:
            decision.setText(tr("No decision recorded yet (press D)."))
        left_box = QWidget()
        left = QVBoxLayout(left_box)
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(summary)
        left.addWidget(image, 1)
        left.addWidget(caption)
        for widget in response or ():
            left.addWidget(widget)
        self.case_scroll = ShrinkingScroll(left_box, "presenterCase")
        self.case_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QHBoxLayout()
        body.addWidget(self.case_scroll, 1)
        body.addWidget(scroll, 1)
        lay = QVBoxLayout(self)
        if view.synthetic:
            flag = QLabel(tr("SYNTHETIC - DEMONSTRATION ONLY"), objectName="danger")
            lay.addWidget(flag)
        lay.addWidget(head)
        lay.addWidget(question)
        lay.addLayout(body, 1)
        lay.addWidget(decision)

    def _typeset(self, label: QLabel, points: int, style: str = "") -> None:
        """Give `label` `points` (times the panel's type scale) and `style`; keep it for
        :meth:`set_type_scale`."""
        self._typed.append((label, points, style))
        label.setStyleSheet(f"font-size: {self._points(points)}pt; {style}")

    def _points(self, points: int) -> int:
        return max(9, round(points * self.type_scale))

    def set_type_scale(self, scale: float) -> None:
        """Set the text's size to `scale` times the presenter's (a small screen: less than 1)."""
        if abs(scale - self.type_scale) < 0.01:
            return
        self.type_scale = scale
        for label, points, style in self._typed:
            label.setStyleSheet(f"font-size: {self._points(points)}pt; {style}")


def _response_widgets(view: Any) -> tuple[QLabel, QWidget] | None:
    """Return the RECIST category line and plot of a case (None without measurements)."""
    from oncoboard.ui.response_plot import ResponsePlotWidget, category_colour

    response = getattr(view, "response", None)
    if response is None or not response.has_data:
        return None
    category = QLabel(response.headline(), objectName="presenterResponse")
    category.setWordWrap(True)
    category.setProperty("colour", category_colour(response.latest_category))  # CasePanel's style
    plot = ResponsePlotWidget()
    plot.set_response(response)
    plot.headline.hide()  # the category line above says it in the presenter's size
    plot.setMinimumHeight(170)
    plot.setMaximumHeight(240)  # the key image above takes the height a large screen leaves
    return category, plot


class PresenterWindow(QWidget):
    """Full screen, one case per screen; ←/→ (or PageUp/PageDown, Space) move, D decides, Esc.

    :meth:`set_views` shows the cases read again (a change made on another workstation) in
    place: the same case stays on screen, scrolled as it was, and a line says who changed what.

    Signals
    -------
    case_shown(int)
        The case at this index (0-based) is on screen.
    decision_requested(str)
        The user pressed D on this patient's case.
    """

    case_shown = Signal(int)
    decision_requested = Signal(str)

    def __init__(self, views: list[Any], parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(tr("Oncoboard — presenter"))
        self.stack = QStackedWidget()
        self.views: list[Any] = []
        self.notice = QLabel(objectName="presenterNotice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(f"font-size: {theme.BASE_POINT_SIZE + 4}pt; "
                                  f"color: {theme.WARNING};")
        self.notice.hide()
        hint = QLabel(tr("← previous   → next   D decision   Esc leave"), objectName="muted")
        lay = QVBoxLayout(self)
        lay.addWidget(self.notice)
        lay.addWidget(self.stack, 1)
        lay.addWidget(hint)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.index = 0
        self.type_scale = 1.0
        self._fill(views)

    def _fill(self, views: list[Any]) -> None:
        """Show one panel per view; a view already on show (the same object) keeps its panel."""
        old = [w for i in range(self.stack.count()) if (w := self.stack.widget(i)) is not None]
        by_view = {id(w.view): w for w in old if isinstance(w, CasePanel)}
        self.views = list(views)
        new: list[QWidget] = [by_view.get(id(v)) or CasePanel(v) for v in self.views]
        for w in new:
            if isinstance(w, CasePanel):
                w.set_type_scale(self.type_scale)
        if not new:
            new = [QLabel(tr("This meeting has no cases."), objectName="title")]
        for w in old:
            if not any(w is n for n in new):
                self.stack.removeWidget(w)
                w.deleteLater()
        for i, w in enumerate(new):
            if self.stack.indexOf(w) != i:
                if self.stack.indexOf(w) >= 0:
                    self.stack.removeWidget(w)
                self.stack.insertWidget(i, w)

    @property
    def patient_ids(self) -> list[str]:
        """Return the patients of the cases presented, in order."""
        return [v.case.patient_id for v in self.views]

    def current_panel(self) -> CasePanel | None:
        """Return the case on screen (None when the meeting has no cases)."""
        panel = self.stack.currentWidget()
        return panel if isinstance(panel, CasePanel) else None

    def set_views(self, views: list[Any], notice: str = "") -> None:
        """Show `views` (the cases read again) keeping the case on screen and its scroll.

        The case on screen stays by patient (a case added or moved elsewhere shifts the
        others); a case removed elsewhere leaves its neighbour on screen. `notice`, if any, is
        shown above the case.
        """
        shown = self.views[self.index].case.patient_id if self.views else None
        panel = self.current_panel()
        scrolled = panel.prediction_scroll.verticalScrollBar().value() if panel is not None else 0
        ids = [v.case.patient_id for v in views]
        index = ids.index(shown) if shown in ids else min(self.index, max(len(ids) - 1, 0))
        self.setUpdatesEnabled(False)
        try:
            self._fill(views)
            self.index = index
            self.stack.setCurrentIndex(index)
        finally:
            self.setUpdatesEnabled(True)
        panel = self.current_panel()
        if panel is not None and shown in ids:
            panel.prediction_scroll.verticalScrollBar().setValue(scrolled)
        if notice:
            self.notice.setText(notice)
            self.notice.show()
        self.case_shown.emit(self.index)

    def show_case(self, index: int) -> None:
        """Show case `index` (clipped)."""
        self.index = max(0, min(index, self.stack.count() - 1))
        self.stack.setCurrentIndex(self.index)
        self.case_shown.emit(self.index)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Size the text to the screen: the presenter's type on 1050 pixels of height and more,
        down to 0.65 of it (a 1280x720 projector: 0.69), so a case fits without scrolling."""
        super().resizeEvent(event)
        scale = min(1.0, max(0.65, self.height() / 1050))
        if abs(scale - self.type_scale) >= 0.01:
            self.type_scale = scale
            for i in range(self.stack.count()):
                panel = self.stack.widget(i)
                if isinstance(panel, CasePanel):
                    panel.set_type_scale(scale)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown, Qt.Key.Key_Space, Qt.Key.Key_Down):
            self.show_case(self.index + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp, Qt.Key.Key_Up, Qt.Key.Key_Backspace):
            self.show_case(self.index - 1)
        elif key == Qt.Key.Key_Home:
            self.show_case(0)
        elif key == Qt.Key.Key_End:
            self.show_case(self.stack.count() - 1)
        elif key == Qt.Key.Key_D and self.views:
            self.decision_requested.emit(self.views[self.index].case.patient_id)
        elif key == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)


def case_html(view: Any) -> str:
    """Return the case detail shown beside the agenda."""
    ident = view.identity
    parts = [f"<h2>{ident['id']} · {ident.get('age') or '?'} {tr('y')} · "
             f"{ident.get('sex') or ''}</h2>",
             f"<p style='color:{theme.ACCENT}; font-size:14pt'>{view.case.question}</p>",
             "<table cellpadding=4>" + "".join(
                 f"<tr><td style='color:{theme.MUTED}'>{k}</td><td>{v}</td></tr>"
                 for k, v in view.summary_lines) + "</table>"]
    response = getattr(view, "response", None)
    if response is not None and response.has_data:
        parts.append(f"<p><b>{html.escape(response.headline())}</b></p>")
    if view.predictions:
        parts.append(f"<h3>{tr('Predictions')}</h3><ul>" + "".join(
            f"<li>{r.text()}</li>" for p in view.predictions for r in p.results) + "</ul>")
        notes = [n for p in view.predictions for n in p.uncertainty_notes()]
        parts += [f"<p style='color:{theme.MUTED}'>{n}</p>" for n in dict.fromkeys(notes)]
    else:
        parts.append(f"<p style='color:{theme.MUTED}'>{view.predictions_note}</p>")
    if view.decision is not None:
        d = view.decision
        parts.append(f"<h3>{tr('Decision')}</h3><p><b>{d.plan}</b></p><p>{d.rationale}</p>")
        if d.options:
            parts.append("<ul>" + "".join(f"<li>{o}</li>" for o in d.options) + "</ul>")
        if d.departs_from_model:
            parts.append(f"<p style='color:{theme.WARNING}'>{tr('Departs from model')}: "
                         f"{d.departure_reason}</p>")
        parts.append(f"<p style='color:{theme.MUTED}'>"
                     f"{', '.join(a.label() for a in d.attendees)} · "
                     f"{local_time(d.decided_at)}</p>")
    return "".join(parts)
