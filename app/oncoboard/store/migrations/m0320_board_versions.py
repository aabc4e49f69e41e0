"""Concurrent work on the board: a version on every meeting and case, and the change feed.

Each write to a meeting or case states the version it read and is a conditional
``UPDATE ... SET version = version + 1 ... WHERE id = ? AND version = ?``: no row updated means
someone else wrote first, and the write is refused instead of overwriting theirs. Decisions are
append-only rows that already carry their own ``version`` (1, then amendments); the case keeps the
latest one in ``decision_version`` so that recording or amending is the same conditional UPDATE.

``board_changes`` is the change feed: row 0 holds a counter bumped by every board write, in the
same transaction, and each meeting's row the counter value of its last change, so a workstation
asks "what changed since N" with one indexed read.

Portable SQL only (SQLite >= 3.24 and PostgreSQL): ADD COLUMN with a constant default, a
correlated subquery, plain types.
"""

import sqlite_utils

STATEMENTS = [
    "ALTER TABLE board_meetings ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE board_meetings ADD COLUMN updated_by TEXT NOT NULL DEFAULT ''",
    "UPDATE board_meetings SET updated_by = created_by",
    "ALTER TABLE board_cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE board_cases ADD COLUMN updated_by TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE board_cases ADD COLUMN updated_at TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE board_cases ADD COLUMN decision_version INTEGER NOT NULL DEFAULT 0",
    "UPDATE board_cases SET updated_by = added_by, updated_at = added_at",
    """UPDATE board_cases SET decision_version = COALESCE(
        (SELECT MAX(d.version) FROM board_decisions d WHERE d.case_id = board_cases.id), 0)""",
    """CREATE TABLE board_changes (
        meeting_id INTEGER PRIMARY KEY,   -- 0: the feed's head (every meeting)
        seq INTEGER NOT NULL,             -- head: last change number; meeting: its last change
        changed_at TEXT NOT NULL,         -- UTC ISO-8601
        changed_by TEXT NOT NULL          -- login
    )""",
    "CREATE INDEX board_changes_seq ON board_changes(seq)",
    "INSERT INTO board_changes (meeting_id, seq, changed_at, changed_by) VALUES (0, 0, '', '')",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Add versions to meetings and cases; create the change feed."""
    for statement in STATEMENTS:
        db.execute(statement)
