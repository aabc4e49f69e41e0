"""Notice board changes made on other workstations (or by other processes) and say so.

:class:`BoardWatcher` asks the board's change feed (:func:`oncoboard.board.changes.changes_since`)
what changed since the token it last saw, every :data:`POLL_MS` milliseconds, from a QTimer. On
SQLite the question is one primary-key read of ``board_changes`` on the GUI's own connection: a
WAL reader never waits for a writer, and the read costs microseconds (``tests/bench/
bench_board_poll.py`` prints it), so it stays on the screen thread.

Hook for a site database: a store whose reads can block (a server across the network) should be
asked from a worker thread holding its own connection, blocking in
:func:`oncoboard.board.changes.wait_for_change` (``LISTEN``/``NOTIFY`` through the store's
``wait_notify``) and emitting :attr:`BoardWatcher.changed` as a queued signal; the slots stay
the same.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

#: How often the feed is asked (the GUI shows another workstation's change within this).
POLL_MS = 1500


class BoardWatcher(QObject):
    """Emit ``changed(Changes)`` when a board write committed elsewhere moves the feed.

    Parameters
    ----------
    store
        The GUI's store.
    interval_ms
        The polling period.
    """

    changed = Signal(object)

    def __init__(self, store: Any, parent: QObject | None = None, interval_ms: int = POLL_MS):
        super().__init__(parent)
        from oncoboard.board.changes import change_token

        self.store = store
        self.token = change_token(store)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def seen(self) -> None:
        """Take the feed's head as seen (after this view's own write and reload)."""
        from oncoboard.board.changes import change_token

        self.token = change_token(self.store)

    def poll(self) -> None:
        """Ask the feed once; emit `changed` if it moved."""
        from oncoboard.board.changes import changes_since

        try:
            found = changes_since(self.store, self.token)
        except Exception as exc:  # noqa: BLE001 - a database briefly unreadable: next tick
            log.warning("board change feed not readable: %s", exc)
            return
        self.token = found.token
        if found:
            self.changed.emit(found)

    def stop(self) -> None:
        """Stop asking."""
        self.timer.stop()
