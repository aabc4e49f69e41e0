"""What is particular to the embedded SQLite backend (the default: one file, nothing to set up).

Queries are written in SQLite's dialect (``?`` placeholders, ``INSERT OR REPLACE``, FTS5), so on
SQLite they run as written; this module holds the few statements the store itself issues that
differ on PostgreSQL (see :mod:`oncoboard.store.dialect_postgres`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

NAME = "sqlite"
#: Errors a statement raises (what a caller may catch around one statement).
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
OperationalError = sqlite3.OperationalError
#: Starts a write transaction holding the write lock (other writers wait for it).
BEGIN_WRITE = "BEGIN IMMEDIATE"


#: A patient (``patients`` row) whose ``extra.identifiers`` JSON list holds (value, system):
#: parameters value, system, system (a None system matches any).
PATIENT_HAS_IDENTIFIER = (
    "EXISTS (SELECT 1 FROM json_each(patients.extra, '$.identifiers') AS i WHERE "
    "json_extract(i.value, '$.value') = ? AND (? IS NULL OR json_extract(i.value, "
    "'$.system') IS NULL OR json_extract(i.value, '$.system') = ?))")


def translate(sql: str) -> str:
    """Return `sql` as this backend runs it: SQLite runs the queries as written."""
    return sql


def schema_version(db: Any) -> int:
    """Return the schema version the database records (``PRAGMA user_version``)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def set_schema_version(db: Any, version: int) -> None:
    """Record `version` as the schema version."""
    db.execute(f"PRAGMA user_version = {int(version)}")


def columns(db: Any, table: str) -> tuple[str, ...]:
    """Return the column names of `table`, in order."""
    return tuple(r[1] for r in db.execute(f"PRAGMA table_info({table})"))


def integrity_check(db: Any) -> list[str]:
    """Return SQLite's integrity-check findings (``["ok"]`` when healthy)."""
    return [r[0] for r in db.execute("PRAGMA integrity_check")]
