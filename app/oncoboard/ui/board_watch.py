"""Notice board changes made on other workstations (or by other processes) and say so.

:class:`BoardWatcher` emits :attr:`BoardWatcher.changed` when the board's change feed
(:mod:`oncoboard.board.changes`) moves past the token it last saw. Two ways, by backend:

- **SQLite** (the default): a QTimer asks :func:`~oncoboard.board.changes.changes_since` every
  :data:`POLL_MS` milliseconds on the GUI's own connection. The question is one primary-key read
  of ``board_changes``: a WAL reader never waits for a writer, and the read costs microseconds
  (``tests/bench/bench_board_sync.py`` prints it), so it stays on the screen thread.
- **PostgreSQL** (a site database, a server across the network whose reads can block): a worker
  thread holding **its own connection** blocks in :func:`~oncoboard.board.changes.wait_for_change`,
  which sleeps in ``LISTEN`` until a board write's ``NOTIFY`` is delivered at its commit (the
  store's ``wait_notify``), then reads the feed and emits `changed`; Qt queues the signal to the
  screen thread, so the slots are the same. Another workstation's decision shows within a
  fraction of a second. The worker re-reads the feed at least every :data:`LISTEN_CHECK_S`
  seconds (a notification lost with a dropped connection costs that, never a change), and a
  server that is unreachable is retried every few seconds without a message box.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

#: How often the feed is asked on SQLite (the GUI shows another workstation's change within this).
POLL_MS = 1500
#: On PostgreSQL, the longest the worker waits in LISTEN before it reads the feed anyway (and
#: the longest `stop` waits for it).
LISTEN_CHECK_S = 0.5


class BoardWatcher(QObject):
    """Emit ``changed(Changes)`` when a board write committed elsewhere moves the feed.

    Parameters
    ----------
    store
        The GUI's store.
    interval_ms
        The polling period (SQLite).
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
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._own: set[int] = set()  # changes this view made itself: never reported back
        from oncoboard.identity import user_of

        # a number written by a write that then rolled back may be another's next change:
        # only a row by this user with one of this view's numbers is its own
        self._login = user_of(store).login
        self.worker: threading.Thread | None = None
        if callable(getattr(store, "wait_notify", None)):
            self.worker = threading.Thread(target=self._listen, name="board-watch", daemon=True)
            self.worker.start()
            if parent is not None:  # the view goes: the worker ends (and closes its connection)
                parent.destroyed.connect(self._stop.set)
        else:
            self.timer.start()

    @property
    def listening(self) -> bool:
        """Return whether changes come from a LISTEN worker (PostgreSQL) rather than polling."""
        return self.worker is not None

    def own(self, seq: int) -> None:
        """Take change `seq` as this view's own (thread-safe; see ``feed.written_to``)."""
        with self._lock:
            self._own.add(int(seq))

    def _others(self, found: Any) -> Any:
        """Return `found` without this view's own changes."""
        from oncoboard.board.changes import Changes

        with self._lock:
            if not self._own:
                return found
            mine = {e.seq for e in found.entries if e.by == self._login} & self._own
            self._own -= {s for s in self._own if s <= found.token}
        return Changes(found.token, tuple(e for e in found.entries if e.seq not in mine))

    def seen(self) -> None:
        """Take the feed's head as seen (after this view's own write and reload)."""
        from oncoboard.board.changes import change_token

        with self._lock:
            self.token = max(self.token, change_token(self.store))

    def poll(self) -> None:
        """Ask the feed once; emit `changed` if it moved."""
        from oncoboard.board.changes import changes_since

        try:
            found = changes_since(self.store, self.token)
        except Exception as exc:  # noqa: BLE001 - a database briefly unreadable: next tick
            log.warning("board change feed not readable: %s", exc)
            return
        self.token = found.token
        found = self._others(found)
        if found:
            self.changed.emit(found)

    def _listen(self) -> None:
        """The worker (PostgreSQL): wait on its own connection, emit what changed."""
        from oncoboard.board.changes import wait_for_change

        own = None
        while not self._stop.is_set():
            try:
                if own is None:
                    own = self.store.another_connection()
                with self._lock:
                    token = self.token
                found = wait_for_change(own, token, LISTEN_CHECK_S * 4,
                                        interval_s=LISTEN_CHECK_S, stop=self._stop)
            except Exception as exc:  # noqa: BLE001 - server unreachable: retry, quietly
                log.warning("board change feed not readable: %s", exc)
                if own is not None:
                    own.close()
                    own = None
                self._stop.wait(3.0)
                continue
            with self._lock:
                fresh = found.token > self.token  # not already taken as seen by this view
                self.token = max(self.token, found.token)
            found = self._others(found)
            if found and fresh and not self._stop.is_set():
                try:
                    self.changed.emit(found)
                except RuntimeError:  # the watcher was deleted with its view meanwhile
                    break
        if own is not None:
            own.close()

    def stop(self) -> None:
        """Stop asking (the worker ends within LISTEN_CHECK_S)."""
        self.timer.stop()
        self._stop.set()
        if self.worker is not None:
            self.worker.join(LISTEN_CHECK_S * 4)
