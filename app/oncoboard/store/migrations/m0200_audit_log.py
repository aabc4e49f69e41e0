"""The append-only, hash-chained audit log (see oncoboard.audit).

Each entry's ``hash`` is the sha256 of the canonical JSON of the entry and its predecessor's hash
(``prev_hash``), so an edited, deleted, reordered or inserted entry breaks the chain. Triggers make
the table append-only at the SQL level: UPDATE and DELETE raise, and an INSERT must continue the
chain (next ``seq``, ``prev_hash`` equal to the last entry's ``hash``). Someone with write access
to the file can still drop the triggers; `oncoboard audit verify` then finds what they changed.
"""

from typing import Any

import sqlite_utils

STATEMENTS = [
    """CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,          -- 1, 2, 3 ... in append order
        time TEXT NOT NULL,               -- UTC ISO-8601 with microseconds
        event_type TEXT NOT NULL,         -- e.g. prediction.created, board.decision.recorded
        actor TEXT,                       -- OS user (or the user named by the caller)
        app_version TEXT NOT NULL,
        payload TEXT NOT NULL,            -- canonical JSON
        prev_hash TEXT NOT NULL,          -- hash of entry seq-1; 64 zeros for the first
        hash TEXT NOT NULL UNIQUE
    )""",
    "CREATE INDEX audit_log_event ON audit_log(event_type)",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
    END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
    END""",
    """CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
      OR NEW.prev_hash IS NOT COALESCE(
            (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
            '0000000000000000000000000000000000000000000000000000000000000000')
    BEGIN
        SELECT RAISE(ABORT, 'audit_log insert does not continue the chain');
    END""",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the audit_log table and its append-only triggers."""
    for statement in STATEMENTS:
        db.execute(statement)


def migrate_postgres(db: Any) -> None:
    """Create the audit log on PostgreSQL: append-only, each insert continuing the chain."""
    from oncoboard.store import dialect_postgres as pg

    pg.run(db, [s for s in STATEMENTS if "TRIGGER" not in s])
    for statement in pg.append_only("audit_log", "audit_log is append-only: UPDATE refused",
                                    "audit_log is append-only: DELETE refused"):
        db.execute(statement)
    db.execute("""CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE last_seq bigint; last_hash text;
    BEGIN
        SELECT seq, hash INTO last_seq, last_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
        IF NEW.seq IS DISTINCT FROM coalesce(last_seq, 0) + 1
           OR NEW.prev_hash IS DISTINCT FROM coalesce(last_hash, repeat('0', 64)) THEN
            RAISE EXCEPTION USING ERRCODE = '23000',
                MESSAGE = 'audit_log insert does not continue the chain';
        END IF;
        RETURN NEW;
    END $$""")
    db.execute("CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION audit_log_chain()")
