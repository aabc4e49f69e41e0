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
