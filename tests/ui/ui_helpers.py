"""Helpers of the UI tests: screenshots that must not be blank, visible texts, demo facts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def demo_reference_date(data_dir: Path) -> str | None:
    """Return the reference date recorded when the demo folder was built."""
    ready = data_dir / "READY"
    try:
        return json.loads(ready.read_text()).get("reference_date")
    except (OSError, ValueError):
        return None


def save_and_check(widget, path: Path, min_std: float = 12.0) -> np.ndarray:  # noqa: ANN001
    """Save a screenshot of `widget` to `path`; assert it is not blank; return its pixels."""
    from PySide6.QtGui import QImage

    pixmap = widget.grab()
    assert pixmap.save(str(path)), path
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    arr = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(h, stride)[:, :3 * w]
    assert arr.std() > min_std, f"{path.name} looks blank (pixel sd {arr.std():.1f})"
    return arr.reshape(h, w, 3)


def visible_texts(widget) -> str:  # noqa: ANN001
    """Return the text of every visible label, button and text view under `widget`."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QTextBrowser

    def shown(child) -> bool:  # noqa: ANN001 - not hidden on purpose (a pending show counts)
        while child is not None and child is not widget:
            explicit = child.testAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide)
            if child.isHidden() and explicit:
                return False
            child = child.parentWidget()
        return True

    parts = []
    for child in widget.findChildren(QLabel):
        if shown(child):
            parts.append(child.text())
    for child in widget.findChildren(QAbstractButton):
        if shown(child):
            parts.append(child.text())
    for child in widget.findChildren(QGroupBox):
        if shown(child):
            parts.append(child.title())
    for child in widget.findChildren(QTextBrowser):
        parts.append(child.toPlainText())
    return "\n".join(parts)


def clipped_texts(window) -> list[str]:  # noqa: ANN001
    """Return a line for each visible label, button or combo box whose text does not fit.

    A label's text wider (or, word-wrapped, taller) than its contents, a button narrower than
    its size hint, a combo box whose current text is wider than its edit field, and a widget
    reaching past the window's right or bottom edge all count. Text elided on purpose ("…")
    and widgets inside a scroll area's hidden part do not.
    """
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractScrollArea,
        QComboBox,
        QLabel,
        QStyle,
        QStyleOptionComboBox,
    )

    found = []

    def shown(w) -> bool:  # noqa: ANN001
        return w.isVisible() and w.width() > 0 and w.height() > 0

    def in_scroll_area(w) -> bool:  # noqa: ANN001
        parent = w.parentWidget()
        while parent is not None and parent is not window:
            if isinstance(parent, QAbstractScrollArea):
                return True
            parent = parent.parentWidget()
        return False

    def name(w, text: str) -> str:  # noqa: ANN001
        return f"{type(w).__name__} {w.objectName() or ''} {text[:60]!r}"

    frame = QRect(QPoint(0, 0), window.size())
    for w in window.findChildren(QLabel):
        text = w.text()
        if not shown(w) or not text or w.pixmap() is not None and not w.pixmap().isNull():
            continue
        rich = w.textFormat() == Qt.TextFormat.RichText or (
            w.textFormat() == Qt.TextFormat.AutoText and "<" in text and ">" in text)
        if rich:
            continue
        room = w.contentsRect().adjusted(w.margin(), w.margin(), -w.margin(), -w.margin())
        fm = w.fontMetrics()
        if w.wordWrap():
            if w.heightForWidth(w.width()) > w.height() + 2:
                found.append(name(w, text) + f": needs {w.heightForWidth(w.width())} px "
                                              f"of height, has {w.height()}")
        else:
            wide = max(fm.horizontalAdvance(line) for line in text.split("\n"))
            if wide > room.width() + 1:
                found.append(name(w, text) + f": {wide} px in {room.width()}")
    for w in window.findChildren(QAbstractButton):
        if shown(w) and w.text() and w.width() + 1 < w.sizeHint().width():
            found.append(name(w, w.text()) + f": {w.width()} px, needs {w.sizeHint().width()}")
    for w in window.findChildren(QComboBox):
        if not shown(w) or not w.currentText():
            continue
        opt = QStyleOptionComboBox()
        w.initStyleOption(opt)
        field = w.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                         QStyle.SubControl.SC_ComboBoxEditField, w)
        wide = w.fontMetrics().horizontalAdvance(w.currentText())
        if wide > field.width() + 1:
            found.append(name(w, w.currentText()) + f": {wide} px in {field.width()}")
    every = [*window.findChildren(QLabel), *window.findChildren(QAbstractButton),
             *window.findChildren(QComboBox)]
    for w in every:
        if shown(w) and not in_scroll_area(w):
            rect = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
            if not frame.contains(rect):
                found.append(name(w, getattr(w, "text", lambda: "")() or "")
                             + f": outside the window ({rect.right()}, {rect.bottom()})")
    return found
