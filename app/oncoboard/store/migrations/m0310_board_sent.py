"""What the board sent to a PACS, per case and item: sent (with its UIDs) or not sent and why.

One row per attempt; the latest row of (case, item, node) is the item's status. An item is sent
again only when its latest row there is not ``sent``.
"""

import sqlite_utils

STATEMENTS = [
    """
    CREATE TABLE board_sent (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES board_cases(id),
        item TEXT NOT NULL,          -- report-pdf:v2 | model-sr:<prediction id> | key-image-ko:...
        kind TEXT NOT NULL,          -- encapsulated-pdf | comprehensive-sr | key-object-selection
        node TEXT NOT NULL,          -- PACS node name
        status TEXT NOT NULL CHECK (status IN ('sent', 'not sent')),
        reason TEXT NOT NULL DEFAULT '',
        study_uid TEXT NOT NULL DEFAULT '',
        series_uid TEXT NOT NULL DEFAULT '',
        sop_uid TEXT NOT NULL DEFAULT '',
        sent_at TEXT NOT NULL,       -- ISO date-time, UTC
        sent_by TEXT NOT NULL        -- OS user
    )
    """,
    "CREATE INDEX board_sent_case ON board_sent(case_id, item, node)",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the table of results sent to a PACS."""
    for statement in STATEMENTS:
        db.execute(statement)
