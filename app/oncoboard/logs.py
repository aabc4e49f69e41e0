"""Logging to a rotating file in the data folder.

Logs carry identifiers (patient ID, series UID, plugin id), never names or note text.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def setup_logging(log_dir: Path | None, level: str = "INFO") -> Path | None:
    """Send log records to ``log_dir/oncoboard.log`` (rotating, 5 x 5 MB); return its path.

    Logs hold patient identifiers, so they are written in the data folder only: when it cannot
    be written, no log file is kept (None is returned) and only errors reach stderr, rather
    than a log in a shared temporary folder.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_oncoboard", False):
            root.removeHandler(old)
            old.close()
    root.setLevel(level.upper())
    path: Path | None = None
    handler: logging.Handler
    try:
        if log_dir is None:
            raise OSError("no data folder")
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = log_dir / "oncoboard.log"
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
    except OSError:
        path = None
        handler = logging.StreamHandler()  # stderr: internal errors only
        handler.setLevel(logging.ERROR)
    handler.setFormatter(logging.Formatter(_FORMAT))
    setattr(handler, "_oncoboard", True)  # noqa: B010 - marks the handlers this module owns
    root.addHandler(handler)
    return path
