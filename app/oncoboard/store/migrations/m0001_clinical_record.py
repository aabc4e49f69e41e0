"""The clinical record: patients, cancers, observations, treatments, notes, outcomes, sources.

Every clinical row keeps the identifier it had in its source (``source_id``, e.g. the FHIR
resource id or the CSV row key) so that importing the same file again updates nothing, and the
file it came from (``source_file``). Values are stored in a canonical unit next to the value and
unit as received. JSON columns (``extra``, ``agents``, ``markers``) hold whatever the source said
that has no column, so nothing is dropped.
"""

from typing import Any

import sqlite_utils

SQL = """
CREATE TABLE patients (
    id TEXT PRIMARY KEY,              -- identifier shown to users (hospital patient ID)
    source_system TEXT,               -- identifier system (FHIR Identifier.system) or 'csv'
    source_id TEXT,                   -- resource id in the source
    family_name TEXT,
    given_name TEXT,
    birth_date TEXT,                  -- YYYY-MM-DD
    sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    deceased_date TEXT,
    synthetic INTEGER NOT NULL DEFAULT 0,
    source_file TEXT,
    imported_at TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE conditions (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    is_primary_cancer INTEGER NOT NULL DEFAULT 1,
    code_system TEXT,                 -- e.g. http://hl7.org/fhir/sid/icd-10
    code TEXT,                        -- ICD-10 code, e.g. C50.4
    display TEXT,
    icdo3_site TEXT,                  -- ICD-O-3 topography, e.g. C50.4
    icdo3_morphology TEXT,            -- ICD-O-3 morphology, e.g. 8500/3
    laterality TEXT,
    diagnosis_date TEXT,
    clinical_t TEXT, clinical_n TEXT, clinical_m TEXT, clinical_stage TEXT,
    pathological_t TEXT, pathological_n TEXT, pathological_m TEXT, pathological_stage TEXT,
    grade TEXT,
    er TEXT, pr TEXT, her2 TEXT,      -- 'positive' | 'negative' | 'equivocal' | 'unknown'
    ki67_percent REAL,
    markers TEXT NOT NULL DEFAULT '{}',   -- other tumour markers {name: value}
    status TEXT,
    source_file TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (patient_id, source_id)
);
CREATE INDEX conditions_patient ON conditions(patient_id);

CREATE TABLE observations (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    category TEXT NOT NULL,           -- laboratory | vital-signs | tumor-marker | stage | ecog | other
    code_system TEXT,                 -- http://loinc.org for labs
    code TEXT,
    display TEXT,
    value_num REAL,                   -- in `unit`, the canonical unit for the code
    value_text TEXT,                  -- coded or textual value
    unit TEXT,
    original_value TEXT,
    original_unit TEXT,
    effective TEXT,                   -- ISO date or date-time
    reference_low REAL,
    reference_high REAL,
    condition_id TEXT,
    source_file TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (patient_id, source_id)
);
CREATE INDEX observations_patient_code ON observations(patient_id, code, effective);

CREATE TABLE treatments (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('surgery', 'radiotherapy', 'systemic', 'other')),
    subkind TEXT,                     -- chemotherapy | immunotherapy | endocrine | targeted | ...
    code_system TEXT,
    code TEXT,
    display TEXT,
    regimen TEXT,
    agents TEXT NOT NULL DEFAULT '[]',
    start_date TEXT,
    end_date TEXT,
    dose_gy REAL,
    fractions INTEGER,
    dose_intensity REAL,              -- relative dose intensity, 1.0 = full dose
    cycles INTEGER,
    line INTEGER,
    intent TEXT,
    status TEXT,
    body_site TEXT,
    source_file TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (patient_id, source_id)
);
CREATE INDEX treatments_patient ON treatments(patient_id, start_date);

CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    note_type TEXT,                   -- consultation | nursing | discharge | pathology | radiology | ...
    author_role TEXT,
    date TEXT,
    language TEXT,
    title TEXT,
    text TEXT NOT NULL,
    source_file TEXT,
    UNIQUE (patient_id, source_id)
);
CREATE INDEX notes_patient ON notes(patient_id, date);

CREATE VIRTUAL TABLE notes_fts USING fts5(
    title, text, content='notes', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
END;
CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
    INSERT INTO notes_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;

CREATE TABLE outcomes (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('relapse', 'progression', 'hospitalisation', 'death',
                                       'response', 'toxicity', 'other')),
    date TEXT,
    end_date TEXT,
    unplanned INTEGER,
    detail TEXT,
    source_file TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (patient_id, source_id)
);
CREATE INDEX outcomes_patient ON outcomes(patient_id, date);

CREATE TABLE record_sources (
    sha256 TEXT PRIMARY KEY,          -- content hash of an imported file
    path TEXT NOT NULL,
    format TEXT NOT NULL,             -- fhir | csv
    imported_at TEXT NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    unknown_codes TEXT NOT NULL DEFAULT '[]'
);
"""


def migrate(db: sqlite_utils.Database) -> None:
    """Create the clinical-record tables."""
    for statement in _statements(SQL):
        db.execute(statement)


def _statements(sql: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies whole."""
    out, buf = [], []
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        if not stripped.strip():
            continue
        buf.append(stripped)
        text = "\n".join(buf)
        inside_trigger = text.lstrip().upper().startswith("CREATE TRIGGER")
        if stripped.endswith(";") and (not inside_trigger or stripped.strip().upper() == "END;"):
            out.append(text)
            buf = []
    return out


#: PostgreSQL: accents and case ignored (unaccent, lower), every word indexed as written
#: ('simple') and stemmed in the note's language (French or English), title and text together;
#: the first 256 KiB of a note are indexed (a tsvector holds at most 1 MB).
POSTGRES_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE OR REPLACE FUNCTION oncoboard_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
    $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$""",
    """CREATE OR REPLACE FUNCTION notes_search_vector(title text, body text, lang text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig, x) || CASE
        WHEN lang ILIKE 'fr%' THEN to_tsvector('french'::regconfig, x)
        WHEN lang ILIKE 'en%' THEN to_tsvector('english'::regconfig, x)
        ELSE ''::tsvector END
    FROM (SELECT oncoboard_unaccent(lower(coalesce(title, '') || ' '
                 || left(coalesce(body, ''), 262144))) AS x) s $$""",
    "ALTER TABLE notes ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY",
    "CREATE UNIQUE INDEX notes_rowid ON notes(rowid)",
    "ALTER TABLE notes ADD COLUMN search tsvector "
    "GENERATED ALWAYS AS (notes_search_vector(title, text, language)) STORED",
    "CREATE INDEX notes_search ON notes USING gin (search)",
]


def migrate_postgres(db: Any) -> None:
    """Create the clinical-record tables on PostgreSQL, with the notes' full-text index."""
    from oncoboard.store import dialect_postgres as pg

    for statement in pg.COMPAT_FUNCTIONS:
        db.execute(statement)
    pg.run(db, [s for s in _statements(SQL)
                if "VIRTUAL TABLE" not in s and "CREATE TRIGGER" not in s])
    for statement in POSTGRES_SEARCH:
        db.execute(statement)
