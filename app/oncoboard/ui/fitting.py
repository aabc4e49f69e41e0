"""Widgets that fit what a screen leaves them: an image drawn as large as its space allows, and a
scroll area that shrinks its content down to the content's minimum before it scrolls.

Qt's own :class:`QScrollArea` (``widgetResizable``) gives a widget whose text wraps its
*preferred* height for the width and scrolls beyond it: an expanding image then keeps its
preferred size and the rest scrolls, even where shrinking the image would have shown everything.
:class:`ShrinkingScroll` gives it the view's height, down to its layout's *minimum* height for
the width, and scrolls only below that.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QWidget


class FitImage(QWidget):
    """An image drawn whole, at its true shape, as large as its space allows; it asks for
    `preferred` pixels (its longer side) and takes any height its layout leaves it."""

    def __init__(self, pixmap: QPixmap, preferred: int = 160, parent: QWidget | None = None):
        super().__init__(parent)
        self.pixmap = pixmap
        self.preferred = preferred
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return self.pixmap.size().scaled(self.preferred, self.preferred,
                                         Qt.AspectRatioMode.KeepAspectRatio)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(80, 80)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        size = self.pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(QRect((self.width() - size.width()) // 2,
                                 (self.height() - size.height()) // 2,
                                 size.width(), size.height()), self.pixmap)
        painter.end()


class ShrinkingScroll(QScrollArea):
    """A vertical scroll area whose widget is as tall as the view, or as its layout's minimum
    for the width when that is taller (then it scrolls); never wider than the view."""

    def __init__(self, widget: QWidget, name: str = "", parent: QWidget | None = None):
        super().__init__(parent, objectName=name)
        self.setWidgetResizable(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(widget)
        widget.installEventFilter(self)

    def _minimum_height(self, inner: QWidget, width: int) -> int:
        layout = inner.layout()
        if layout is None:
            return inner.minimumSizeHint().height()
        if layout.hasHeightForWidth():
            return int(layout.totalMinimumHeightForWidth(width))
        return int(layout.totalMinimumSize().height())

    def fit(self) -> None:
        """Size the widget to the view (the layout's minimum height at the least)."""
        inner = self.widget()
        if inner is None:
            return
        room = self.maximumViewportSize()  # the view without scroll bars
        width = room.width()
        need = self._minimum_height(inner, width)
        if need > room.height():  # it will scroll: the bar takes some of the width
            width -= self.verticalScrollBar().sizeHint().width()
            need = self._minimum_height(inner, width)
        if inner.size() != QSize(width, max(room.height(), need)):
            inner.resize(width, max(room.height(), need))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit()  # its content changed (a font, a text): fit again
        return super().eventFilter(watched, event)
