"""Tumour-board meetings, their ordered case lists and the board's decisions.

Decisions are append-only: an amendment is a new row with the next ``version`` for the same case
(``supersedes`` names the row it replaces) and triggers refuse any UPDATE or DELETE of a decision,
so nothing the board decided can be overwritten silently. A case that has a decision cannot be
removed from its meeting for the same reason (the foreign key has no cascade).
"""

from typing import Any

import sqlite_utils

STATEMENTS = [
    """
    CREATE TABLE board_meetings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- short number users type (board show 3)
        uid TEXT NOT NULL UNIQUE,               -- globally unique, carried by exports
        date TEXT NOT NULL,                     -- YYYY-MM-DD
        specialty TEXT NOT NULL,                -- sein | thorax | digestif | ...
        title TEXT NOT NULL,
        location TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'held', 'closed')),
        attendees TEXT NOT NULL DEFAULT '[]',   -- JSON [{"name": ..., "role": ...}]
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX board_meetings_date ON board_meetings(date)",
    """
    CREATE TABLE board_cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        meeting_id INTEGER NOT NULL REFERENCES board_meetings(id),
        patient_id TEXT NOT NULL REFERENCES patients(id),
        position INTEGER NOT NULL,              -- 1-based order of presentation
        question TEXT NOT NULL,                 -- the question asked of the board
        presenter TEXT NOT NULL DEFAULT '',     -- presenting physician
        added_at TEXT NOT NULL,
        added_by TEXT NOT NULL,
        UNIQUE (meeting_id, patient_id)
    )
    """,
    "CREATE INDEX board_cases_meeting ON board_cases(meeting_id, position)",
    """
    CREATE TABLE board_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES board_cases(id),
        version INTEGER NOT NULL,               -- 1, then 2, 3... for amendments
        supersedes INTEGER REFERENCES board_decisions(id),
        amendment_reason TEXT,
        options TEXT NOT NULL DEFAULT '[]',     -- JSON list of options discussed
        plan TEXT NOT NULL,                     -- chosen plan
        rationale TEXT NOT NULL,
        attendees TEXT NOT NULL DEFAULT '[]',   -- JSON [{"name": ..., "role": ...}]
        prediction_ids TEXT NOT NULL DEFAULT '[]',  -- JSON ids of the predictions shown
        departs_from_model INTEGER NOT NULL DEFAULT 0,
        departure_reason TEXT,
        decided_at TEXT NOT NULL,               -- ISO date-time, UTC
        recorded_by TEXT NOT NULL,              -- OS user
        audit_hash TEXT,                        -- hash of the audit entry written with it
        UNIQUE (case_id, version)
    )
    """,
    """
    CREATE TRIGGER board_decisions_no_update BEFORE UPDATE ON board_decisions
    BEGIN SELECT RAISE(ABORT, 'board decisions are append-only: record an amendment'); END
    """,
    """
    CREATE TRIGGER board_decisions_no_delete BEFORE DELETE ON board_decisions
    BEGIN SELECT RAISE(ABORT, 'board decisions are append-only: they cannot be deleted'); END
    """,
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the tumour-board tables."""
    for statement in STATEMENTS:
        db.execute(statement)


def migrate_postgres(db: Any) -> None:
    """Create the tumour-board tables on PostgreSQL, decisions append-only."""
    from oncoboard.store import dialect_postgres as pg

    pg.run(db, [s for s in STATEMENTS if "TRIGGER" not in s])
    for statement in pg.append_only(
            "board_decisions", "board decisions are append-only: record an amendment",
            "board decisions are append-only: they cannot be deleted"):
        db.execute(statement)
