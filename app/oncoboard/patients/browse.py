"""Browsing many patients: filtered counts and pages, each answered from an index.

The patient browser asks for "how many match" and "the next page after this ID" on every keystroke
and every scroll, whatever the size of the hospital's record. A query of three characters or more
matches any part of a patient's ID, names, or a primary cancer's code or label, through the trigram
index of migration 2 (``patient_search``); a shorter one matches the start of an ID, a given or
family name, or a primary cancer's code, through case-insensitive indexes (on a PostgreSQL site
database: a pg_trgm index on the same terms, and indexes on ``lower(...)``). Pages are read by key
(``id > last``, ordered by ID), so the thousandth page costs what the first does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.store import Store

#: Rows a page holds by default (what a screen shows several times over).
PAGE = 200
TRIGRAM = 3  # characters from which the trigram index answers
#: Matches the patient browser counts at most: beyond, it shows "1000+" (a page holds 200).
COUNT_CAP = 1000
#: Seconds a short filter walks the patients in ID order before the indexes answer instead.
DENSE_BUDGET_S = 0.012

_ROW_SQL = """
SELECT p.id, p.given_name, p.family_name, p.sex, p.birth_date, p.synthetic,
       c.code, c.display
FROM patients p
LEFT JOIN conditions c ON c.id = (
    SELECT id FROM conditions WHERE patient_id = p.id AND is_primary_cancer = 1
    ORDER BY diagnosis_date DESC LIMIT 1)
"""

#: The same on PostgreSQL: each patient's latest primary cancer read beside it (LATERAL), where
#: the join on a subquery's result let the planner read every condition for a page.
_ROW_SQL_PG = """
SELECT p.id, p.given_name, p.family_name, p.sex, p.birth_date, p.synthetic,
       c.code, c.display
FROM patients p
LEFT JOIN LATERAL (
    SELECT code, display FROM conditions WHERE patient_id = p.id AND is_primary_cancer = 1
    ORDER BY diagnosis_date DESC LIMIT 1) AS c ON TRUE
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


def _connection(store_or_conn: Store | sqlite3.Connection) -> Any:
    return store_or_conn if isinstance(store_or_conn, sqlite3.Connection) else store_or_conn.conn


def _backend(conn: Any) -> str:
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


def _like_contains(text: str) -> str:
    return "%" + _like_prefix(text)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def where_clause(query: str | None, backend: str = "sqlite") -> tuple[str, list[Any]]:
    """Return the SQL condition on the patients table aliased ``p``, and its parameters.

    `backend` is the store's (``store.backend``): ``sqlite`` or ``postgresql``.
    """
    text = (query or "").strip()
    if not text:
        return "1 = 1", []
    if backend == "postgresql":
        # `~~` is LIKE: the query translation leaves it alone (LIKE becomes ILIKE), and the
        # lower(...) text_pattern_ops indexes answer a prefix given in lower case
        if len(text) >= TRIGRAM:
            return ("p.id IN (SELECT patient_id FROM patient_search WHERE terms ILIKE ?)",
                    [_like_contains(text)])
        like = _like_prefix(text.lower())
        return ("(lower(p.id) ~~ ? OR lower(p.family_name) ~~ ? OR lower(p.given_name) ~~ ? "
                "OR p.id IN (SELECT patient_id FROM conditions WHERE is_primary_cancer = 1 "
                "AND lower(code) ~~ ?))", [like] * 4)
    if len(text) >= TRIGRAM:
        phrase = '"' + text.replace('"', '""') + '"'
        return ("p.id IN (SELECT k.patient_id FROM patient_search s "
                "JOIN patient_search_keys k ON k.key = s.rowid "
                "WHERE patient_search MATCH ?)", [phrase])
    like = _like_prefix(text)
    return ("(p.id LIKE ? ESCAPE '\\' OR p.family_name LIKE ? ESCAPE '\\' "
            "OR p.given_name LIKE ? ESCAPE '\\' OR p.id IN (SELECT patient_id FROM conditions "
            "WHERE is_primary_cancer = 1 AND code LIKE ? ESCAPE '\\'))", [like] * 4)


class Cancelled(Exception):
    """A query was stopped because a newer one replaces it."""


@contextmanager
def _watch(conn: sqlite3.Connection, *, budget_s: float | None = None,
           cancelled: Callable[[], bool] | None = None) -> Iterator[list[bool]]:
    """Stop the statements run inside when `cancelled()` or after `budget_s` seconds.

    Yields a one-item list that holds True when the budget ran out (the statement then raises
    sqlite3.OperationalError "interrupted"); a cancellation raises :class:`Cancelled`.
    """
    if (budget_s is None and cancelled is None) or not isinstance(conn, sqlite3.Connection):
        yield [False]
        return
    deadline = time.perf_counter() + budget_s if budget_s is not None else None
    state = [False, False]  # over budget, cancelled

    def check() -> int:
        if cancelled is not None and cancelled():
            state[1] = True
            return 1
        if deadline is not None and time.perf_counter() > deadline:
            state[0] = True
            return 1
        return 0

    conn.set_progress_handler(check, 2000)
    try:
        yield state
    except sqlite3.OperationalError:
        if state[1]:
            raise Cancelled() from None
        if not state[0]:
            raise
    finally:
        conn.set_progress_handler(None, 0)


def count_patients(store: Store | sqlite3.Connection, query: str | None = None, *,
                   cancelled: Callable[[], bool] | None = None, cap: int | None = None) -> int:
    """Return how many patients match `query` (all patients when it is empty).

    With `cap`, a filter's count stops once more than `cap` patients are found: a result above
    `cap` (``cap + 1``) means "more than `cap`" (the browser shows "1000+"); every patient (no
    filter) is counted in full, from the smallest index (a few milliseconds at 100,000).
    Counting every match of a one-letter filter took 0.1-0.25 s at 100,000 patients; capped,
    each part of the filter (ID, family name, given name, diagnosis code) counts at most
    ``cap + 1`` rows from its index, and only when none of them is over `cap` are their matches
    counted together.

    `cancelled` is polled while counting; when it returns True the count stops with
    :class:`Cancelled`.
    """
    text = (query or "").strip()
    conn = _connection(store)
    postgres = _backend(conn) == "postgresql"
    where, params = where_clause(query, _backend(conn))
    sql = f"SELECT count(*) FROM patients p WHERE {where}"
    if len(text) >= TRIGRAM and postgres:
        sql = "SELECT count(*) FROM patient_search WHERE terms ILIKE ?"
    elif len(text) >= TRIGRAM:
        # the search index holds one row per patient (migration 2's triggers): count its
        # matches without joining them to the patients (5 ms instead of 35 for 100,000)
        sql = "SELECT count(*) FROM patient_search WHERE patient_search MATCH ?"
    with _watch(conn, cancelled=cancelled):
        if cap is not None and text:  # every patient (no filter) is counted from an index
            if len(text) >= TRIGRAM:
                match = "terms ILIKE ?" if postgres else "patient_search MATCH ?"
                sql = (f"SELECT count(*) FROM (SELECT 1 FROM patient_search WHERE "
                       f"{match} LIMIT {int(cap) + 1}) AS m")
            elif _one_part_over(conn, text, int(cap)):
                return int(cap) + 1
        if postgres and 0 < len(text) < TRIGRAM:
            sql, params = _UNION_COUNT_PG, [_like_prefix(text.lower())] * 4
        return int(conn.execute(sql, params).fetchone()[0])


#: Each part of a short filter alone (patients a part matches, at most the cap + 1).
_PARTS = (
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE id LIKE ? ESCAPE '\\' LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE family_name LIKE ? ESCAPE '\\' "
    "LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE given_name LIKE ? ESCAPE '\\' "
    "LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT DISTINCT patient_id FROM conditions WHERE is_primary_cancer "
    "= 1 AND code LIKE ? ESCAPE '\\' LIMIT ?) AS m",
)


#: The same on PostgreSQL: `~~` is LIKE (the query translation leaves it alone) on lower(...),
#: which the ``text_pattern_ops`` indexes answer for a prefix given in lower case.
_PARTS_PG = (
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE lower(id) ~~ ? LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE lower(family_name) ~~ ? LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT 1 FROM patients WHERE lower(given_name) ~~ ? LIMIT ?) AS m",
    "SELECT count(*) FROM (SELECT DISTINCT patient_id FROM conditions WHERE is_primary_cancer "
    "= 1 AND lower(code) ~~ ? LIMIT ?) AS m",
)

#: PostgreSQL: the matches of a short filter counted together, each part from its index
#: (the filter's OR over the patients would read every patient).
_UNION_COUNT_PG = (
    "SELECT count(*) FROM (SELECT id FROM patients WHERE lower(id) ~~ ? "
    "UNION SELECT id FROM patients WHERE lower(family_name) ~~ ? "
    "UNION SELECT id FROM patients WHERE lower(given_name) ~~ ? "
    "UNION SELECT patient_id FROM conditions WHERE is_primary_cancer = 1 "
    "AND lower(code) ~~ ?) AS m")


def _one_part_over(conn: Any, text: str, cap: int) -> bool:
    """Return True when one part of a short filter alone matches more than `cap` patients."""
    postgres = _backend(conn) == "postgresql"
    like = _like_prefix(text.lower() if postgres else text)
    return any(conn.execute(sql, [like, cap + 1]).fetchone()[0] > cap
               for sql in (_PARTS_PG if postgres else _PARTS))


def _dense_ids(conn: Any, text: str, after: str | None, limit: int,
               cancelled: Callable[[], bool] | None) -> list[str] | None:
    """Return the page's IDs by walking the patients in ID order, or None past the budget.

    A one- or two-character filter usually matches a large share of the patients: walking the
    ID index and testing each patient finds a page at once, where collecting every match from
    the name and code indexes and sorting them took 0.15-0.3 s at 100,000 patients. When the
    matches are rare the walk runs out of its budget and the indexes answer instead. On
    PostgreSQL each part walks or reads its own index (:data:`_SHORT_PAGE_PG`), never None.
    """
    if not isinstance(conn, sqlite3.Connection):
        return _short_ids_postgres(conn, text, after, limit)
    like = _like_prefix(text)
    sql = ("SELECT p.id FROM patients p INDEXED BY sqlite_autoindex_patients_1 "
           "WHERE (p.id LIKE ? ESCAPE '\\' OR p.family_name LIKE ? ESCAPE '\\' "
           "OR p.given_name LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM conditions c "
           "WHERE c.patient_id = p.id AND c.is_primary_cancer = 1 "
           "AND c.code LIKE ? ESCAPE '\\')) AND p.id > ? ORDER BY p.id LIMIT ?")
    ids: list[str] = []
    try:
        with _watch(conn, budget_s=DENSE_BUDGET_S, cancelled=cancelled) as state:
            ids = [r[0] for r in conn.execute(sql, [like] * 4 + [after or "", int(limit)])]
    except sqlite3.OperationalError:  # no such index (a foreign schema): use the other plan
        return None
    return None if state[0] else ids


#: PostgreSQL: a short filter's page as the first IDs of each part in ID order, merged; the
#: planner walks the primary key (or conditions_patient) for a part that matches many
#: patients and reads the lower(...) index then sorts for one that matches few. A single query
#: with the filter's OR built every match first (0.1-0.2 s for `C` at 100,000 patients).
_SHORT_PAGE_PG = """
SELECT id FROM (
    (SELECT id FROM patients WHERE lower(id) ~~ ? AND id > ? ORDER BY id LIMIT ?)
    UNION (SELECT id FROM patients WHERE lower(family_name) ~~ ? AND id > ? ORDER BY id LIMIT ?)
    UNION (SELECT id FROM patients WHERE lower(given_name) ~~ ? AND id > ? ORDER BY id LIMIT ?)
    UNION (SELECT DISTINCT patient_id FROM conditions WHERE is_primary_cancer = 1
           AND lower(code) ~~ ? AND patient_id > ? ORDER BY patient_id LIMIT ?)
) AS m ORDER BY id LIMIT ?
"""


def _short_ids_postgres(conn: Any, text: str, after: str | None, limit: int) -> list[str]:
    like, n = _like_prefix(text.lower()), int(limit)
    return [r[0] for r in conn.execute(_SHORT_PAGE_PG, [like, after or "", n] * 4 + [n])]


def patient_page(store: Store | sqlite3.Connection, query: str | None = None, *,
                 after: str | None = None, limit: int = PAGE,
                 cancelled: Callable[[], bool] | None = None) -> list[PatientRow]:
    """Return up to `limit` patients matching `query`, by ID, after the ID `after`.

    The page's IDs are found first, then only those rows are read with their primary cancer.
    `cancelled` as for :func:`count_patients`.
    """
    conn = _connection(store)
    text = (query or "").strip()
    ids = _dense_ids(conn, text, after, limit, cancelled) if 0 < len(text) < TRIGRAM else None
    if ids is None:
        where, params = where_clause(query, _backend(conn))
        sql = f"SELECT p.id FROM patients p WHERE {where}"
        if len(text) >= TRIGRAM and _backend(conn) == "postgresql":  # one row per patient
            sql = ("SELECT p.id FROM (SELECT patient_id AS id, terms FROM patient_search) AS p "
                   "WHERE p.terms ILIKE ?")
        if after is not None:
            sql += " AND p.id > ?"
            params = [*params, after]
        sql += " ORDER BY p.id LIMIT ?"
        with _watch(conn, cancelled=cancelled):
            ids = [r[0] for r in conn.execute(sql, [*params, int(limit)])]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    with _watch(conn, cancelled=cancelled):
        rows = conn.execute((_ROW_SQL if _backend(conn) == "sqlite" else _ROW_SQL_PG)
                            + f" WHERE p.id IN ({marks}) ORDER BY p.id", ids).fetchall()
    return [PatientRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7]) for r in rows]


def matching_ids(store: Store | sqlite3.Connection, query: str | None) -> list[str]:
    """Return the IDs of every patient matching `query`, sorted."""
    conn = _connection(store)
    where, params = where_clause(query, _backend(conn))
    sql = f"SELECT p.id FROM patients p WHERE {where} ORDER BY p.id"
    return [r[0] for r in conn.execute(sql, params)]
