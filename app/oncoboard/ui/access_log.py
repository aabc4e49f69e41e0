"""Access-log rows written off the screen thread (see :mod:`oncoboard.audit.access`).

Opening a record on screen must not wait for another workstation's write transaction, so the
row is written by one background thread, in order, on a short-lived connection of its own (the
GUI's SQLite connection belongs to the GUI thread; opening one costs about a millisecond, see
``tests/bench/bench_access_log.py``). The user's role is checked at once, on the
screen thread: a user without ``record.read`` is refused before anything is shown. An in-memory
store (tests) is written at once on its own connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from oncoboard.identity import User, user_of

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def record(store: Any, patient_ids: Iterable[str], route: str) -> Future[Any]:
    """Write that the store's user opened these records by `route`; return the pending write.

    Raises RoleError at once when the user may not open records.
    """
    from oncoboard.audit.access import record_accesses

    user = user_of(store)
    user.require("record.read")
    ids = list(patient_ids)
    where = getattr(store, "location", None)  # the SQLite file, or the site database's URL
    if where is None:  # an in-memory store: written here
        done: Future[Any] = Future()
        done.set_result(record_accesses(store, ids, route))
        return done
    return _executor().submit(_write, str(where), user, ids, route)


def flush(timeout_s: float = 10.0) -> None:
    """Wait until every access row asked for so far is written."""
    _executor().submit(lambda: None).result(timeout_s)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="access-log")
        return _pool


def _write(path: str, user: User, ids: list[str], route: str) -> Any:
    from oncoboard.audit.access import record_accesses
    from oncoboard.errors import OncoboardError
    from oncoboard.store import open_store

    try:
        store: Any = open_store(path, migrate=False)
    except OncoboardError as exc:
        log.error("access log not written (%s, %d record(s)): %s", route, len(ids), exc.message)
        return []
    try:
        store.user = user
        return record_accesses(store, ids, route)
    except OncoboardError as exc:  # the record is on screen; say loudly the row is missing
        log.error("access log not written (%s, %d record(s)): %s", route, len(ids), exc.message)
        return []
    finally:
        store.close()
