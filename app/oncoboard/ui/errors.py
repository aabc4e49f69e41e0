"""The UI's error boundary: errors become readable dialogs, details go to the log file.

An :class:`~oncoboard.errors.OncoboardError` carries a message meant for the user (file, item,
reason) and is shown as is. Anything else is a bug: its traceback goes to the log and the user
reads a short "internal error" message that says where the details are. No traceback is ever
shown in a dialog.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from oncoboard.errors import OncoboardError

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the error boundary's context."""
    return QCoreApplication.translate("ErrorBoundary", text)


class ErrorBoundary:
    """Turn exceptions into dialogs; remember the last message (for tests and the status bar)."""

    log_file: Path | None = None
    last_message: str | None = None
    #: Dialogs are shown without blocking so that background signals keep flowing.
    dialogs: list[QMessageBox] = []

    @classmethod
    def message_for(cls, exc: BaseException, action: str = "") -> str:
        """Return the text a user reads for `exc`."""
        prefix = f"{action}: " if action else ""
        if isinstance(exc, OncoboardError):
            return prefix + exc.message
        where = str(cls.log_file) if cls.log_file else tr("the log file")
        return prefix + tr("Internal error ({kind}). The details are in {where}.").format(
            kind=type(exc).__name__, where=where)

    @classmethod
    def report(cls, exc: BaseException, parent: QWidget | None = None, action: str = "") -> str:
        """Log `exc` and show it in a dialog; return the message shown."""
        if isinstance(exc, OncoboardError):
            log.warning("%s%s", f"{action}: " if action else "", exc.message)
        else:
            log.error("internal error%s", f" during {action}" if action else "",
                      exc_info=(type(exc), exc, exc.__traceback__))
        text = cls.message_for(exc, action)
        cls.last_message = text
        box = QMessageBox(QMessageBox.Icon.Warning, tr("Oncoboard"), text,
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("errorDialog")
        box.finished.connect(lambda _r, b=box: cls.dialogs.remove(b) if b in cls.dialogs else None)
        cls.dialogs.append(box)
        box.open()
        return text

    @classmethod
    def install(cls, log_file: Path | None) -> None:
        """Route uncaught exceptions (e.g. in slots) to :meth:`report` instead of aborting."""
        cls.log_file = log_file

        def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            if issubclass(kind, KeyboardInterrupt):
                sys.__excepthook__(kind, exc, tb)
                return
            log.debug("uncaught: %s", "".join(traceback.format_exception(kind, exc, tb)))
            cls.report(exc)

        sys.excepthook = hook
