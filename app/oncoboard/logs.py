"""Logging to a rotating file in the data folder.

Logs carry identifiers (patient ID, series UID, plugin id), never names or note text.
"""

from __future__ import annotations

import getpass
import logging
import logging.handlers
import os
import tempfile
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def setup_logging(log_dir: Path | None, level: str = "INFO") -> Path | None:
    """Send log records to ``log_dir/oncoboard.log`` (rotating, 5 x 5 MB); return its path.

    When the folder cannot be written, records go to ``$TMPDIR/oncoboard-<user>/`` instead.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_oncoboard", False):
            root.removeHandler(old)
            old.close()
    root.setLevel(level.upper())
    path: Path | None = None
    handler: logging.Handler | None = None
    # When the data folder cannot hold logs (e.g. it is not writable), log to the temp folder
    # rather than to the terminal: users get one-line messages, tracebacks stay in a file.
    fallback = Path(tempfile.gettempdir()) / f"oncoboard-{_user()}"
    for folder in ([log_dir] if log_dir is not None else []) + [fallback]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "oncoboard.log"
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
            break
        except OSError:
            path = None
    if handler is None:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._oncoboard = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return path
