"""The change feed: what changed since a token, for views open on other workstations.

Every write a view shows notes itself here **inside its own transaction**: the feed's head
(``board_changes`` row 0) is bumped, and the row of what changed is set to the new number, so
the feed moves exactly when the write commits (a rolled-back write never shows). Two kinds of
rows, one counter:

- a meeting (``board_changes``, by meeting id): its agenda, cases or decisions
  (:func:`oncoboard.board.changes.note_change`);
- a patient's record, by kind (``record_changes``, by patient and :data:`KINDS`): predictions
  stored (the GUI, ``oncoboard predict``, ``board predict``), measurements and lesions,
  the imaging index, an imported record, a board decision (:func:`note_record_change`).

A view keeps the token it last saw and asks :func:`changes_since` (one primary-key read while
nothing moved) or blocks in :func:`wait_for_change` on a background thread. Backend hook: a store
may define ``notify(channel, payload)`` (called inside the transaction; PostgreSQL's ``NOTIFY``
is delivered at commit) and ``wait_notify(channel, timeout_s) -> bool`` (PostgreSQL's
``LISTEN``); with them :func:`wait_for_change` sleeps until a notification, without them
(SQLite) it polls the head row. Either way the answer comes from the tables, so a missed
notification costs one interval, never a missed change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

CHANNEL = "oncoboard_board"

#: What a patient's row in the feed says changed.
KINDS = ("predictions", "measurements", "imaging", "record", "decision")


@dataclass(frozen=True)
class Change:
    """One row of the feed: a meeting (``patient_id`` None) or one kind of a patient's record."""

    seq: int
    meeting_id: int | None
    patient_id: str | None
    kind: str
    by: str
    at: str


@dataclass(frozen=True)
class Changes:
    """What changed since a token: the new token and the rows of the feed past it."""

    token: int
    entries: tuple[Change, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def meetings(self) -> dict[int, tuple[str, str]]:
        """Return the meetings changed, with who changed each last and when."""
        return {e.meeting_id: (e.by, e.at) for e in sorted(self.entries, key=lambda e: e.seq)
                if e.meeting_id is not None}

    @property
    def patients(self) -> dict[str, dict[str, tuple[str, str]]]:
        """Return the patients whose record changed: kind -> (by, at), per patient."""
        out: dict[str, dict[str, tuple[str, str]]] = {}
        for e in sorted(self.entries, key=lambda e: e.seq):
            if e.patient_id is not None:
                out.setdefault(e.patient_id, {})[e.kind] = (e.by, e.at)
        return out

    def after(self, token: int) -> Changes:
        """Return only the rows past `token` (what a view that saw `token` has not seen)."""
        return Changes(max(self.token, token), tuple(e for e in self.entries if e.seq > token))

    def touches(self, meeting_id: int | None, patient_ids: Iterable[str]) -> bool:
        """Return whether a view of `meeting_id` showing `patient_ids` must read again."""
        if meeting_id is not None and meeting_id in self.meetings:
            return True
        return bool(set(self.patients) & set(patient_ids))

    def agenda_changed(self, meeting_id: int | None) -> bool:
        """Return whether the meeting itself changed (its agenda, a case, its status), not only
        a decision on one of its cases (a decision notes the meeting and the patient under one
        number)."""
        decided = {e.seq for e in self.entries if e.patient_id is not None}
        return any(e.meeting_id == meeting_id and e.seq not in decided for e in self.entries)

    def latest(self) -> Change | None:
        """Return the newest row (who made the last change, and when)."""
        return max(self.entries, key=lambda e: e.seq) if self.entries else None


def now_utc() -> str:
    """Return the current UTC time as an ISO string (seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_sinks = threading.local()


@contextlib.contextmanager
def written_to(sink: Callable[[int], Any] | None) -> Iterator[None]:
    """Tell `sink` the number of each change this thread notes in the block.

    A screen that writes (a decision, a model run on a pool thread) passes its watcher's
    ``own``: the numbers are known before the write commits, so the watcher never reports the
    screen's own change back to it, however fast the notification comes.
    """
    stack = _sinks.__dict__.setdefault("stack", [])
    if sink is not None:
        stack.append(sink)
    try:
        yield
    finally:
        if sink is not None:
            stack.remove(sink)


def bump(store: Any, user: str, at: str) -> int:
    """Move the feed's head in the caller's transaction; return the new number."""
    conn = store.conn
    # the head row (0) is made by a migration; an upsert also makes it again where a table
    # was emptied by hand (a restored or reset database)
    conn.execute("INSERT INTO board_changes (meeting_id, seq, changed_at, changed_by) "
                 "VALUES (0, 1, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET "
                 "seq = board_changes.seq + 1, changed_at = excluded.changed_at, "
                 "changed_by = excluded.changed_by", [at, user])
    seq = int(conn.execute("SELECT seq FROM board_changes WHERE meeting_id = 0").fetchone()[0])
    for sink in getattr(_sinks, "stack", ()):
        sink(seq)
    return seq


def announce(store: Any, payload: str) -> None:
    """Wake the listeners at commit (PostgreSQL's NOTIFY; nothing on SQLite)."""
    notify = getattr(store, "notify", None)
    if callable(notify):
        notify(CHANNEL, payload)


def note_record_change(store: Any, patient_ids: Iterable[str], kind: str, user: str = "",
                       at: str = "") -> int:
    """Record that `kind` of each patient's record changed, in the caller's transaction.

    Returns the feed's new number (the head is bumped once for all of them); 0 when
    `patient_ids` is empty. `user` defaults to the store's signed-in user, `at` to now.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    pids = sorted({str(p) for p in patient_ids if p})
    if not pids:
        return 0
    if not user:
        from oncoboard.identity import user_of

        user = user_of(store).login
    at = at or now_utc()
    seq = bump(store, user, at)
    note_patients(store, pids, kind, seq, user, at)
    announce(store, f"p:{seq}")
    return seq


def note_patients(store: Any, patient_ids: Iterable[str], kind: str, seq: int, user: str,
                  at: str) -> None:
    """Set the patients' rows of `kind` to change `seq` (already bumped by the caller)."""
    store.conn.executemany(
        "INSERT INTO record_changes (patient_id, kind, seq, changed_at, changed_by) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_id, kind) DO UPDATE SET "
        "seq = excluded.seq, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
        [[str(p), kind, seq, at, user] for p in patient_ids])


def note_meetings(store: Any, meeting_ids: Iterable[int], seq: int, user: str, at: str) -> None:
    """Set the meetings' rows to change `seq` (already bumped by the caller)."""
    store.conn.executemany(
        "INSERT INTO board_changes (meeting_id, seq, changed_at, changed_by) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (meeting_id) DO UPDATE SET "
        "seq = excluded.seq, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
        [[int(m), seq, at, user] for m in meeting_ids])


def change_token(store: Any) -> int:
    """Return the feed's current head (0 before any change)."""
    row = store.conn.execute("SELECT seq FROM board_changes WHERE meeting_id = 0").fetchone()
    return int(row[0]) if row else 0


def changes_since(store: Any, token: int) -> Changes:
    """Return what changed after `token`, with the new token."""
    head = change_token(store)
    if head == token:
        return Changes(token)
    meetings = store.conn.execute(
        "SELECT seq, meeting_id, changed_by, changed_at FROM board_changes "
        "WHERE seq > ? AND meeting_id <> 0", [int(token)]).fetchall()
    records = store.conn.execute(
        "SELECT seq, patient_id, kind, changed_by, changed_at FROM record_changes "
        "WHERE seq > ?", [int(token)]).fetchall()
    entries = [Change(int(r[0]), int(r[1]), None, "meeting", r[2], r[3]) for r in meetings]
    entries += [Change(int(r[0]), None, r[1], r[2], r[3], r[4]) for r in records]
    return Changes(head, tuple(sorted(entries, key=lambda e: e.seq)))


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
