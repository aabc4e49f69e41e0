"""The change feed follows each patient's record, not only the board's meetings.

``record_changes`` holds, per patient and kind of change (predictions, measurements, imaging,
record, decision), the feed's number of its last change: the same counter as ``board_changes``
(its row 0 is the head), bumped in the transaction of the write. An open patient screen or
presenter window asks "what changed since N" with one indexed read
(:mod:`oncoboard.store.feed`).
"""

import sqlite_utils

STATEMENTS = [
    """CREATE TABLE record_changes (
        patient_id TEXT NOT NULL,
        kind TEXT NOT NULL,               -- predictions | measurements | imaging | record | ...
        seq INTEGER NOT NULL,             -- the feed's number of its last change
        changed_at TEXT NOT NULL,         -- UTC ISO-8601
        changed_by TEXT NOT NULL,         -- login
        PRIMARY KEY (patient_id, kind)
    )""",
    "CREATE INDEX record_changes_seq ON record_changes(seq)",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the per-patient rows of the change feed."""
    for statement in STATEMENTS:
        db.execute(statement)
