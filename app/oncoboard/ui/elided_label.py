"""A one-line label that shortens its text with "…" when narrow and shows it whole as a tooltip."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A QLabel whose text ends in "…" where its whole text does not fit (never cut mid-letter).

    ``full_text()`` is the whole text; ``text()`` is what is on screen. The label asks for its
    whole text's width but accepts `min_chars` characters' width.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_chars: int = 8,
                 **kwargs: Any):
        super().__init__(parent, **kwargs)
        self._full = ""
        self._min_chars = min_chars
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        """Show `text`, shortened to the label's width."""
        self._full = text
        self._elide()
        self.updateGeometry()

    def full_text(self) -> str:
        """Return the whole text (the tooltip)."""
        return self._full

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._full) + margins.left() + margins.right()
        return QSize(width + 2, hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = self.fontMetrics().averageCharWidth() * self._min_chars
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        if shown != self.text():
            QLabel.setText(self, shown)
        self.setToolTip(self._full if shown != self._full else "")
