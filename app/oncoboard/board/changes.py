"""The board's change feed: which meetings changed since a token, for views open elsewhere.

Every board write (meeting, agenda, case, decision, prediction run) calls :func:`note_change`
inside its own transaction: the feed's head (``board_changes`` row 0) is bumped and the meeting's
row set to the new number, so the feed moves exactly when the write commits. A view keeps the
token it last saw and asks :func:`changes_since` (one indexed read) or blocks in
:func:`wait_for_change` on a background thread.

Backend hook: a store may define ``notify(channel, payload)`` (called by :func:`note_change`
inside the transaction; PostgreSQL's ``NOTIFY`` is delivered at commit) and
``wait_notify(channel, timeout_s) -> bool`` (PostgreSQL's ``LISTEN``); the PostgreSQL store has
both (:mod:`oncoboard.store.pg`). With them
:func:`wait_for_change` sleeps until a notification instead of polling; without them (SQLite) it
polls the head row every `interval_s`. Either way the answer comes from the table, so a missed
notification costs one interval, never a missed change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

CHANNEL = "oncoboard_board"


@dataclass(frozen=True)
class Changes:
    """What changed since a token: the new token and, per meeting, who changed it and when."""

    token: int
    meetings: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (by, at)

    def __bool__(self) -> bool:
        return bool(self.meetings)


def note_change(store: Any, meeting_id: int, user: str, at: str) -> int:
    """Record a change of `meeting_id` in the caller's transaction; return its number."""
    conn = store.conn
    # the head row (0) is made by the migration; an upsert also makes it again where a table
    # was emptied by hand (a restored or reset database)
    conn.execute("INSERT INTO board_changes (meeting_id, seq, changed_at, changed_by) "
                 "VALUES (0, 1, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET "
                 "seq = board_changes.seq + 1, changed_at = excluded.changed_at, "
                 "changed_by = excluded.changed_by", [at, user])
    seq = int(conn.execute("SELECT seq FROM board_changes WHERE meeting_id = 0").fetchone()[0])
    conn.execute("INSERT INTO board_changes (meeting_id, seq, changed_at, changed_by) "
                 "VALUES (?, ?, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET seq = excluded.seq,"
                 " changed_at = excluded.changed_at, changed_by = excluded.changed_by",
                 [int(meeting_id), seq, at, user])
    notify = getattr(store, "notify", None)
    if callable(notify):
        notify(CHANNEL, f"{int(meeting_id)}:{seq}")
    return seq


def change_token(store: Any) -> int:
    """Return the feed's current head (0 before any change)."""
    row = store.conn.execute("SELECT seq FROM board_changes WHERE meeting_id = 0").fetchone()
    return int(row[0]) if row else 0


def changes_since(store: Any, token: int) -> Changes:
    """Return the meetings changed after `token`, with the new token."""
    head = change_token(store)
    if head == token:
        return Changes(token)
    rows = store.conn.execute(
        "SELECT meeting_id, changed_by, changed_at FROM board_changes "
        "WHERE seq > ? AND meeting_id <> 0", [int(token)]).fetchall()
    return Changes(head, {int(r[0]): (r[1], r[2]) for r in rows})


def wait_for_change(store: Any, token: int, timeout_s: float, *, interval_s: float = 1.0,
                    stop: Any = None) -> Changes:
    """Return the changes after `token` as soon as there are some, or empty after `timeout_s`.

    `stop` (a ``threading.Event``) ends the wait early.
    """
    deadline = time.monotonic() + timeout_s
    wait_notify = getattr(store, "wait_notify", None)
    while True:
        found = changes_since(store, token)
        left = deadline - time.monotonic()
        if found or left <= 0 or (stop is not None and stop.is_set()):
            return found
        pause = min(interval_s, left)
        if callable(wait_notify):
            wait_notify(CHANNEL, pause)
        elif stop is not None:
            stop.wait(pause)
        else:
            time.sleep(pause)
