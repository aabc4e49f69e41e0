"""The access log: who opened which patient's record, when, from which workstation, by which route.

French health-data rules require that every access to a patient's record can be traced. One row
per opening: the login, the workstation's host name, the route (``gui.patient``,
``cli.patients.show``, ``board.case``, ``export``) and the patient's identifier, never a name. Rows
are chained like the audit trail (``hash`` = sha256 of the row and ``prev_hash``), so an edited,
deleted or inserted row shows; on a site database, roles.sql grants INSERT and SELECT only.

Portable SQL only (SQLite and PostgreSQL); ``user_name``, not ``user`` (a PostgreSQL keyword).
"""

import sqlite_utils

STATEMENTS = [
    """CREATE TABLE access_log (
        seq INTEGER PRIMARY KEY,          -- 1, 2, 3 ... in write order
        time TEXT NOT NULL,               -- UTC ISO-8601 with microseconds
        user_name TEXT NOT NULL,          -- login (OS user, or the site database login)
        workstation TEXT NOT NULL,        -- host name
        route TEXT NOT NULL,              -- gui.patient | cli.patients.show | board.case | export
        patient_id TEXT NOT NULL,         -- identifier only, never a name
        prev_hash TEXT NOT NULL,          -- hash of row seq-1; 64 zeros for the first
        hash TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX access_log_patient ON access_log(patient_id, seq)",
    "CREATE INDEX access_log_user ON access_log(user_name, seq)",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the access log."""
    for statement in STATEMENTS:
        db.execute(statement)
