"""Copy a SQLite database's write-ahead log back into it off the writer's thread.

In WAL mode a commit appends the changed pages to ``oncoboard.db-wal``; SQLite's automatic
checkpoint then copies them into the database file, on the thread that committed, whenever the
log has grown past 1,000 pages. A board's predictions write some 650 pages (documents, their
indexes, the audit entries): every other board paid a checkpoint of the pages of two (10 ms on
the measuring machine, half the cost of storing the board), in the time the board took.

:func:`checkpoint_soon` asks a background thread for a passive checkpoint of the database
instead, right after such a write: on its own short-lived connection (the writer's connection
stays on its thread), never waiting for a lock (a passive checkpoint copies what no reader still
needs and leaves the rest to the next one), requests for the same file coalesced. The log is then
rewound by the next write, and the writer's automatic checkpoint, which stays on, is only reached
when the background one has not kept up. A checkpoint interrupted by the end of the process is
safe (the log stays valid); the thread is stopped and waited for at exit all the same.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class _Checkpointer:
    """One daemon thread doing the passive checkpoints asked for, each file once per wake-up."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._pending: dict[str, None] = {}  # files to checkpoint, in the order asked
        self._running = False  # a checkpoint is being made
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.done = 0  # checkpoints made

    def ask(self, path: Path) -> None:
        with self._lock:
            if self._stopping:
                return
            self._pending[str(path)] = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="oncoboard-wal",
                                                daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                path = next(iter(self._pending))
                del self._pending[path]
                self._running = True
            try:
                _checkpoint(path)
            finally:
                with self._lock:
                    self._running = False
                    self.done += 1
                    self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._running,
                                       timeout)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._pending.clear()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)


def _checkpoint(path: str) -> None:
    try:
        # no busy wait: a passive checkpoint never blocks the writers, and a locked file is
        # checkpointed by the next request or by SQLite's own automatic checkpoint
        # read-write, never created: a file removed meanwhile is not made again, empty
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=rw", uri=True, timeout=0,
                               isolation_level=None)
        try:
            busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            log.debug("checkpoint of %s: %s of %s log pages in the database%s", path, copied,
                      logged, " (busy)" if busy else "")
        finally:
            conn.close()
    except sqlite3.Error as exc:  # the file went away, or is locked: the next write asks again
        log.debug("checkpoint of %s skipped: %s", path, exc)


_CHECKPOINTER = _Checkpointer()
atexit.register(_CHECKPOINTER.stop)


def checkpoint_soon(store: object) -> None:
    """Ask for a background checkpoint of `store`'s database file (SQLite files only; an
    in-memory database or a site database has no write-ahead log of ours)."""
    path = getattr(store, "path", None)
    if path is not None and getattr(store, "url", None) is None:
        _CHECKPOINTER.ask(Path(path))


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait for the checkpoints asked for (tests, benchmarks); return False on timeout."""
    return _CHECKPOINTER.wait_idle(timeout)
