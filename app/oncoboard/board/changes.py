"""The board's side of the change feed (:mod:`oncoboard.store.feed`): meetings that changed.

Every board write (meeting, agenda, case, decision) calls :func:`note_change` inside its own
transaction: the feed's head is bumped and the meeting's row set to the new number, so the feed
moves exactly when the write commits. A decision also notes its patient (kind ``decision``), so
the patient's own screen follows it. Views ask :func:`changes_since` or block in
:func:`wait_for_change` (both from :mod:`oncoboard.store.feed`, which says how PostgreSQL's
``LISTEN``/``NOTIFY`` and SQLite's polling answer them).
"""

from __future__ import annotations

from typing import Any

from oncoboard.store.feed import (
    CHANNEL,
    Change,
    Changes,
    announce,
    bump,
    change_token,
    changes_since,
    note_meetings,
    note_patients,
    wait_for_change,
)

__all__ = ["CHANNEL", "Change", "Changes", "change_token", "changes_since", "note_change",
           "wait_for_change"]


def note_change(store: Any, meeting_id: int, user: str, at: str,
                patient_id: str | None = None) -> int:
    """Record a change of `meeting_id` in the caller's transaction; return its number.

    With `patient_id` (a decision), the patient's record is noted as changed too.
    """
    seq = bump(store, user, at)
    note_meetings(store, [meeting_id], seq, user, at)
    if patient_id is not None:  # under the same number: a decision, not an agenda change
        note_patients(store, [patient_id], "decision", seq, user, at)
    announce(store, f"{int(meeting_id)}:{seq}")
    return seq
