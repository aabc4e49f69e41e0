"""Tracked lesions and their measurements per time point (RECIST 1.1).

A lesion belongs to a patient: its kind as recorded (target, non-target, new), its site label,
the organ it counts in and whether it is a lymph node. Each measurement is one reading of one
lesion on one series: the slice, both ends of the long axis (and of the short axis) in patient
LPS millimetres and in voxel indices (slice, row, column), the diameters, and a status for what
is not a measurement (too small to measure, gone, merged, not assessed, present, unequivocal
progression). Both tables are append-only (triggers): a re-measurement supersedes the previous
reading and a withdrawn reading is a new row with status ``withdrawn``; every row is written in
the same transaction as its audit entry, whose ``content_sha256`` vouches for the row.
"""

from typing import Any

import sqlite_utils

STATEMENTS = [
    """
    CREATE TABLE lesions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uid TEXT NOT NULL UNIQUE,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        number INTEGER NOT NULL,                -- 1, 2, 3... per patient (what users type)
        kind TEXT NOT NULL CHECK (kind IN ('target', 'non_target', 'new')),
        label TEXT NOT NULL,                    -- site, e.g. 'lung RUL'
        organ TEXT NOT NULL,                    -- for the 2-per-organ rule, e.g. 'lung'
        is_node INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        audit_hash TEXT,
        UNIQUE (patient_id, number)
    )
    """,
    "CREATE INDEX lesions_patient ON lesions(patient_id)",
    """
    CREATE TABLE lesion_measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lesion_id INTEGER NOT NULL REFERENCES lesions(id),
        timepoint TEXT NOT NULL,                -- YYYY-MM-DD: the study date
        status TEXT NOT NULL,
        series_uid TEXT,
        study_uid TEXT,
        sop_uid TEXT,                           -- the instance of the measured slice
        frame_of_reference_uid TEXT,
        slice_index INTEGER,
        long_axis_mm REAL,
        short_axis_mm REAL,
        long_axis_lps TEXT,                     -- JSON [[x, y, z], [x, y, z]]
        long_axis_index TEXT,                   -- JSON [[slice, row, col], [...]]
        short_axis_lps TEXT,
        short_axis_index TEXT,
        equivocal INTEGER NOT NULL DEFAULT 0,
        supersedes INTEGER REFERENCES lesion_measurements(id),
        method TEXT NOT NULL DEFAULT 'manual',  -- manual | proposed (region grown, then kept)
        note TEXT NOT NULL DEFAULT '',
        measured_at TEXT NOT NULL,
        measured_by TEXT NOT NULL,
        audit_hash TEXT
    )
    """,
    "CREATE INDEX lesion_measurements_lesion ON lesion_measurements(lesion_id, timepoint)",
    """
    CREATE TRIGGER lesions_no_update BEFORE UPDATE ON lesions
    BEGIN SELECT RAISE(ABORT, 'lesions are append-only'); END
    """,
    """
    CREATE TRIGGER lesions_no_delete BEFORE DELETE ON lesions
    BEGIN SELECT RAISE(ABORT, 'lesions are append-only'); END
    """,
    """
    CREATE TRIGGER lesion_measurements_no_update BEFORE UPDATE ON lesion_measurements
    BEGIN SELECT RAISE(ABORT, 'lesion measurements are append-only: measure again'); END
    """,
    """
    CREATE TRIGGER lesion_measurements_no_delete BEFORE DELETE ON lesion_measurements
    BEGIN SELECT RAISE(ABORT, 'lesion measurements are append-only: withdraw instead'); END
    """,
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the lesion tables."""
    for statement in STATEMENTS:
        db.execute(statement)


def migrate_postgres(db: Any) -> None:
    """Create the lesion tables on PostgreSQL, append-only by trigger functions."""
    from oncoboard.store import dialect_postgres as pg

    pg.run(db, [s for s in STATEMENTS if "TRIGGER" not in s])
    for statement in [
            *pg.append_only("lesions", "lesions are append-only", "lesions are append-only"),
            *pg.append_only("lesion_measurements",
                            "lesion measurements are append-only: measure again",
                            "lesion measurements are append-only: withdraw instead")]:
        db.execute(statement)
