"""The DICOM index: studies, series and instances (files) with what loading needs.

Only metadata is stored; the pixels stay in the files. ``dicom_instances.record`` is the JSON of
`oncoboard.imaging.headers.InstanceRecord`: pixel format, the file offset of the pixel data and
per-frame geometry, so a series loads without parsing its headers again. ``size`` and
``mtime_ns`` tell when a file changed since it was indexed. A study is linked to a patient of
the clinical record (``patient_id``) by PatientID (and birth date, per ``dicom.patient_match``);
``dicom_patient_id`` keeps the DICOM value whether or not a patient matched.
"""

import sqlite_utils

STATEMENTS = [
    """CREATE TABLE dicom_studies (
        study_uid TEXT PRIMARY KEY,
        patient_id TEXT REFERENCES patients(id) ON DELETE SET NULL,
        dicom_patient_id TEXT NOT NULL DEFAULT '',
        patient_name TEXT,
        birth_date TEXT,
        sex TEXT,
        study_date TEXT,
        study_time TEXT,
        description TEXT,
        accession_number TEXT,
        indexed_at TEXT NOT NULL
    )""",
    "CREATE INDEX dicom_studies_patient ON dicom_studies(patient_id)",
    "CREATE INDEX dicom_studies_dicom_patient ON dicom_studies(dicom_patient_id)",
    """CREATE TABLE dicom_series (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT NOT NULL REFERENCES dicom_studies(study_uid) ON DELETE CASCADE,
        modality TEXT,
        description TEXT,
        series_number INTEGER,
        body_part TEXT,
        frame_of_reference_uid TEXT,
        n_instances INTEGER NOT NULL DEFAULT 0,
        n_frames INTEGER NOT NULL DEFAULT 0,
        stacks TEXT NOT NULL DEFAULT '[]',
        referenced_series_uids TEXT NOT NULL DEFAULT '[]',
        indexed_at TEXT NOT NULL
    )""",
    "CREATE INDEX dicom_series_study ON dicom_series(study_uid)",
    """CREATE TABLE dicom_instances (
        sop_uid TEXT PRIMARY KEY,
        series_uid TEXT NOT NULL REFERENCES dicom_series(series_uid) ON DELETE CASCADE,
        sop_class_uid TEXT,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        transfer_syntax TEXT,
        instance_number INTEGER,
        n_frames INTEGER NOT NULL DEFAULT 0,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX dicom_instances_series ON dicom_instances(series_uid)",
    "CREATE INDEX dicom_instances_path ON dicom_instances(path)",
]


def migrate(db: sqlite_utils.Database) -> None:
    """Create the DICOM index tables."""
    for statement in STATEMENTS:
        db.execute(statement)
