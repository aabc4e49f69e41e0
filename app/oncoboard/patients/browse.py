"""Browsing many patients: filtered counts and pages, each answered from an index.

The patient browser asks for "how many match" and "the next page after this ID" on every
keystroke and every scroll, whatever the size of the hospital's record. A query of three
characters or more matches any part of a patient's ID, names, or a primary cancer's code or
label, through the trigram index of migration 2 (``patient_search``); a shorter one matches the
start of an ID, a given or family name, or a primary cancer's code, through case-insensitive
indexes. Pages are read by key (``id > last``, ordered by ID), so the thousandth page costs what
the first does.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

#: Rows a page holds by default (what a screen shows several times over).
PAGE = 200
TRIGRAM = 3  # characters from which the trigram index answers

_ROW_SQL = """
SELECT p.id, p.given_name, p.family_name, p.sex, p.birth_date, p.synthetic,
       c.code, c.display
FROM patients p
LEFT JOIN conditions c ON c.id = (
    SELECT id FROM conditions WHERE patient_id = p.id AND is_primary_cancer = 1
    ORDER BY diagnosis_date DESC LIMIT 1)
"""


@dataclass(frozen=True, slots=True)
class PatientRow:
    """What a line of the patient browser shows."""

    id: str
    given_name: str | None
    family_name: str | None
    sex: str | None
    birth_date: str | None
    synthetic: bool
    diagnosis: str | None
    diagnosis_display: str | None

    @property
    def name(self) -> str:
        """Return 'Given FAMILY' as stored (either part may be missing)."""
        return " ".join(p for p in (self.given_name, self.family_name) if p)


def _connection(store_or_conn: Any) -> sqlite3.Connection:
    return store_or_conn if isinstance(store_or_conn, sqlite3.Connection) else store_or_conn.conn


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def where_clause(query: str | None) -> tuple[str, list[Any]]:
    """Return the SQL condition on the patients table aliased ``p``, and its parameters."""
    text = (query or "").strip()
    if not text:
        return "1", []
    if len(text) >= TRIGRAM:
        phrase = '"' + text.replace('"', '""') + '"'
        return ("p.id IN (SELECT k.patient_id FROM patient_search s "
                "JOIN patient_search_keys k ON k.key = s.rowid "
                "WHERE patient_search MATCH ?)", [phrase])
    like = _like_prefix(text)
    return ("(p.id LIKE ? ESCAPE '\\' OR p.family_name LIKE ? ESCAPE '\\' "
            "OR p.given_name LIKE ? ESCAPE '\\' OR p.id IN (SELECT patient_id FROM conditions "
            "WHERE is_primary_cancer = 1 AND code LIKE ? ESCAPE '\\'))", [like] * 4)


def count_patients(store: Any, query: str | None = None) -> int:
    """Return how many patients match `query` (all patients when it is empty)."""
    where, params = where_clause(query)
    sql = f"SELECT count(*) FROM patients p WHERE {where}"
    return int(_connection(store).execute(sql, params).fetchone()[0])


def patient_page(store: Any, query: str | None = None, *, after: str | None = None,
                 limit: int = PAGE) -> list[PatientRow]:
    """Return up to `limit` patients matching `query`, by ID, after the ID `after`."""
    where, params = where_clause(query)
    sql = _ROW_SQL + f" WHERE {where}"
    if after is not None:
        sql += " AND p.id > ?"
        params = [*params, after]
    sql += " ORDER BY p.id LIMIT ?"
    rows = _connection(store).execute(sql, [*params, int(limit)]).fetchall()
    return [PatientRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7]) for r in rows]


def matching_ids(store: Any, query: str | None) -> list[str]:
    """Return the IDs of every patient matching `query`, sorted."""
    where, params = where_clause(query)
    sql = f"SELECT p.id FROM patients p WHERE {where} ORDER BY p.id"
    return [r[0] for r in _connection(store).execute(sql, params)]
