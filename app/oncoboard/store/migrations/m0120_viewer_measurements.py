"""Distances and ROIs made in the viewer, kept per patient and series.

One row per kept measurement: the series, study, instance (when the measurement lies on one
acquired slice) and frame of reference, the points in voxel indices (slice, row, column) and in
patient LPS millimetres, the length (a distance) or the mean, SD and area (an ROI). Rows are
never changed: moving a kept measurement withdraws it (a new row with status ``withdrawn``
naming it) and keeps the new one. Each row is written in one transaction with its audit entry,
whose ``content_sha256`` vouches for the row.

Portable SQL (SQLite and PostgreSQL): a text primary key (a UUID), no AUTOINCREMENT, no triggers.
"""

import sqlite_utils

STATEMENTS = [
    """
    CREATE TABLE viewer_measurements (
        uid TEXT PRIMARY KEY,                    -- a UUID
        patient_id TEXT NOT NULL,
        series_uid TEXT NOT NULL,
        study_uid TEXT NOT NULL DEFAULT '',
        sop_uid TEXT NOT NULL DEFAULT '',         -- '' when the points span several slices
        frame_number INTEGER,                     -- of a multi-frame instance
        frame_of_reference_uid TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL CHECK (kind IN ('distance', 'roi')),
        label TEXT NOT NULL,
        points_index TEXT NOT NULL,               -- JSON [[slice, row, column], ...]
        points_lps TEXT NOT NULL,                 -- JSON [[x, y, z], ...] mm
        length_mm REAL,
        mean REAL,
        sd REAL,
        area_mm2 REAL,
        unit TEXT NOT NULL DEFAULT '',            -- of mean and SD: HU for CT
        status TEXT NOT NULL CHECK (status IN ('kept', 'withdrawn')),
        withdraws TEXT NOT NULL DEFAULT '',       -- uid of the measurement withdrawn
        reason TEXT NOT NULL DEFAULT '',
        measured_at TEXT NOT NULL,
        measured_by TEXT NOT NULL,
        audit_hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX viewer_measurements_series ON viewer_measurements(series_uid)",
    "CREATE INDEX viewer_measurements_patient ON viewer_measurements(patient_id)",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the table of measurements kept from the viewer."""
    for statement in STATEMENTS:
        db.execute(statement)
