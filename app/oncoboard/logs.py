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

    When the folder cannot be written, records go to stderr at WARNING and above only.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_oncoboard", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level.upper())
    path: Path | None = None
    handler: logging.Handler
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            path = log_dir / "oncoboard.log"
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
        except OSError:
            path = None
    if path is None:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._oncoboard = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return path
