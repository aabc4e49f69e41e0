"""Stored predictions with their provenance (see oncoboard.inference.prediction_store).

One row per run of a plugin on a patient: plugin id, version and model sha256, app version,
execution provider, reference date, the input snapshot and its sha256, outputs, scenarios,
warnings, explanation, OS user and time. ``record_sha256`` hashes the whole prediction document;
the audit entry written in the same transaction (``audit_seq``, ``audit_hash``) carries it, so an
edited prediction is found by `oncoboard audit verify`. Rows are append-only (triggers).
"""

from typing import Any

import sqlite_utils

STATEMENTS = [
    """CREATE TABLE predictions (
        id TEXT PRIMARY KEY,
        patient_id TEXT,                  -- no foreign key: predictions outlive record edits
        plugin_id TEXT NOT NULL,
        plugin_version TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        app_version TEXT NOT NULL,
        provider TEXT,                    -- execution provider that ran it (NULL if refused)
        providers_requested TEXT NOT NULL DEFAULT '[]',  -- JSON: the configured order
        provider_notes TEXT NOT NULL DEFAULT '[]',       -- JSON: requested but not installed
        reference_date TEXT,
        status TEXT NOT NULL CHECK (status IN ('ok', 'refused', 'cancelled')),
        outside_intended_use INTEGER NOT NULL DEFAULT 0,
        synthetic INTEGER NOT NULL DEFAULT 0,
        synthetic_label TEXT,
        plugin TEXT NOT NULL,             -- JSON: id, name, version, task, hashes, origin...
        population TEXT NOT NULL,         -- JSON: checked, in_population, reasons
        inputs TEXT NOT NULL,             -- JSON input snapshot
        input_sha256 TEXT NOT NULL,
        outputs TEXT NOT NULL,            -- JSON
        scenarios TEXT NOT NULL,          -- JSON
        explanation TEXT,                 -- JSON
        warnings TEXT NOT NULL,           -- JSON list of {code, message, input}
        refusal TEXT NOT NULL,            -- JSON list of reasons
        os_user TEXT NOT NULL,
        created_at TEXT NOT NULL,
        duration_ms REAL,
        record_sha256 TEXT NOT NULL,
        audit_seq INTEGER NOT NULL,
        audit_hash TEXT NOT NULL
    )""",
    "CREATE INDEX predictions_patient ON predictions(patient_id, plugin_id, created_at)",
    """CREATE TRIGGER predictions_no_update BEFORE UPDATE ON predictions BEGIN
        SELECT RAISE(ABORT, 'predictions are append-only: UPDATE refused');
    END""",
    """CREATE TRIGGER predictions_no_delete BEFORE DELETE ON predictions BEGIN
        SELECT RAISE(ABORT, 'predictions are append-only: DELETE refused');
    END""",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the predictions table and its append-only triggers."""
    for statement in STATEMENTS:
        db.execute(statement)


def migrate_postgres(db: Any) -> None:
    """Create the predictions table on PostgreSQL (a ``rowid`` keeps insertion order)."""
    from oncoboard.store import dialect_postgres as pg

    pg.run(db, [s for s in STATEMENTS if "TRIGGER" not in s])
    db.execute("ALTER TABLE predictions ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY")
    for statement in pg.append_only("predictions", "predictions are append-only: UPDATE refused",
                                    "predictions are append-only: DELETE refused"):
        db.execute(statement)
