"""Patient search that stays fast at hospital scale: a trigram index and prefix indexes.

The patient browser filters on every keystroke by ID, name or diagnosis. A leading-wildcard
``LIKE '%x%'`` reads every patient (400 ms at 50,000 patients); here each patient has one row of
search terms (ID, given and family names, the primary cancers' codes and labels) in an FTS5 table
with the trigram tokenizer, so any substring of three characters or more is found through the
index, case ignored. Shorter queries match the start of an ID, a name or a code, through
case-insensitive indexes. Triggers keep the terms in step with ``patients`` and ``conditions``.

``patient_search_keys.key`` is the search row's rowid: an INTEGER PRIMARY KEY, which VACUUM keeps
(the implicit rowid of ``patients``, whose key is its text ID, may change).
"""

import sqlite3
from typing import Any

import sqlite_utils

_REFRESH = """
    DELETE FROM patient_search
    WHERE rowid = (SELECT key FROM patient_search_keys WHERE patient_id = {pid});
    INSERT INTO patient_search (rowid, terms)
    SELECT key, terms FROM patient_search_terms WHERE patient_id = {pid};
"""

SCRIPT = f"""
CREATE TABLE patient_search_keys (
    key INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE patient_search USING fts5(terms, tokenize = 'trigram');

CREATE VIEW patient_search_terms AS
SELECT k.key AS key, p.id AS patient_id,
       p.id || ' ' || coalesce(p.given_name, '') || ' ' || coalesce(p.family_name, '') || ' '
       || coalesce((SELECT group_concat(coalesce(c.code, '') || ' ' || coalesce(c.display, ''),
                                        ' ')
                    FROM conditions c
                    WHERE c.patient_id = p.id AND c.is_primary_cancer = 1), '') AS terms
FROM patients p JOIN patient_search_keys k ON k.patient_id = p.id;

CREATE TRIGGER patient_search_patient_insert AFTER INSERT ON patients BEGIN
    INSERT INTO patient_search_keys (patient_id) VALUES (new.id);
    INSERT INTO patient_search (rowid, terms)
    SELECT key, terms FROM patient_search_terms WHERE patient_id = new.id;
END;
CREATE TRIGGER patient_search_patient_update
AFTER UPDATE OF id, given_name, family_name ON patients BEGIN
    DELETE FROM patient_search
    WHERE rowid = (SELECT key FROM patient_search_keys WHERE patient_id = old.id);
    UPDATE patient_search_keys SET patient_id = new.id WHERE patient_id = old.id;
    INSERT INTO patient_search (rowid, terms)
    SELECT key, terms FROM patient_search_terms WHERE patient_id = new.id;
END;
CREATE TRIGGER patient_search_patient_delete AFTER DELETE ON patients BEGIN
    DELETE FROM patient_search
    WHERE rowid = (SELECT key FROM patient_search_keys WHERE patient_id = old.id);
    DELETE FROM patient_search_keys WHERE patient_id = old.id;
END;
CREATE TRIGGER patient_search_condition_insert AFTER INSERT ON conditions
WHEN new.is_primary_cancer = 1 BEGIN
    {_REFRESH.format(pid="new.patient_id")}
END;
CREATE TRIGGER patient_search_condition_update
AFTER UPDATE OF patient_id, is_primary_cancer, code, display ON conditions BEGIN
    {_REFRESH.format(pid="old.patient_id")}
    {_REFRESH.format(pid="new.patient_id")}
END;
CREATE TRIGGER patient_search_condition_delete AFTER DELETE ON conditions
WHEN old.is_primary_cancer = 1 BEGIN
    {_REFRESH.format(pid="old.patient_id")}
END;

CREATE INDEX patients_id_nocase ON patients (id COLLATE NOCASE);
CREATE INDEX patients_family_nocase ON patients (family_name COLLATE NOCASE);
CREATE INDEX patients_given_nocase ON patients (given_name COLLATE NOCASE);
CREATE INDEX conditions_code_nocase ON conditions (code COLLATE NOCASE, patient_id);

INSERT INTO patient_search_keys (patient_id) SELECT id FROM patients ORDER BY id;
INSERT INTO patient_search (rowid, terms) SELECT key, terms FROM patient_search_terms;
"""


def migrate(db: sqlite_utils.Database) -> None:
    """Create the search table, its triggers and indexes, and fill it for stored patients."""
    for statement in _statements(SCRIPT):
        db.execute(statement)


def _statements(script: str) -> list[str]:
    """Split `script` into statements (a trigger body's semicolons stay inside its statement)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


#: PostgreSQL: one row of search terms per patient (``patient_search``) kept by triggers, with a
#: pg_trgm GIN index answering ``ILIKE '%x%'``; prefix indexes on lower(...) for short queries.
POSTGRES = [
    """CREATE TABLE patient_search (
        patient_id TEXT PRIMARY KEY REFERENCES patients(id) ON DELETE CASCADE ON UPDATE CASCADE,
        terms TEXT NOT NULL
    )""",
    """CREATE FUNCTION patient_search_terms(pid text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT p.id || ' ' || coalesce(p.given_name, '') || ' ' || coalesce(p.family_name, '') || ' '
           || coalesce((SELECT string_agg(coalesce(c.code, '') || ' ' || coalesce(c.display, ''),
                                          ' ')
                        FROM conditions c
                        WHERE c.patient_id = p.id AND c.is_primary_cancer = 1), '')
    FROM patients p WHERE p.id = pid $$""",
    """CREATE FUNCTION patient_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'patients' THEN
            INSERT INTO patient_search (patient_id, terms)
            VALUES (NEW.id, patient_search_terms(NEW.id))
            ON CONFLICT (patient_id) DO UPDATE SET terms = EXCLUDED.terms;
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE patient_search SET terms = patient_search_terms(OLD.patient_id)
            WHERE patient_id = OLD.patient_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            UPDATE patient_search SET terms = patient_search_terms(NEW.patient_id)
            WHERE patient_id = NEW.patient_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER patient_search_patients
    AFTER INSERT OR UPDATE OF id, given_name, family_name ON patients
    FOR EACH ROW EXECUTE FUNCTION patient_search_refresh()""",
    """CREATE TRIGGER patient_search_conditions
    AFTER INSERT OR DELETE OR UPDATE OF patient_id, is_primary_cancer, code, display
    ON conditions FOR EACH ROW EXECUTE FUNCTION patient_search_refresh()""",
    "CREATE INDEX patient_search_trgm ON patient_search USING gin (terms gin_trgm_ops)",
    "CREATE INDEX patients_id_lower ON patients (lower(id) text_pattern_ops)",
    "CREATE INDEX patients_family_lower ON patients (lower(family_name) text_pattern_ops)",
    "CREATE INDEX patients_given_lower ON patients (lower(given_name) text_pattern_ops)",
    "CREATE INDEX conditions_code_lower ON conditions (lower(code) text_pattern_ops, patient_id)",
    "INSERT INTO patient_search (patient_id, terms) "
    "SELECT id, patient_search_terms(id) FROM patients",
]


def migrate_postgres(db: Any) -> None:
    """Create the patient search table, its triggers and indexes on PostgreSQL."""
    for statement in POSTGRES:
        db.execute(statement)
