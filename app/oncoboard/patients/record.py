"""Read the clinical record: the query API the plugins, the UI and the board report use.

Every function takes an open :class:`~oncoboard.store.Store` and returns plain frozen
dataclasses (JSON columns already decoded, dates as ISO strings). Values of coded observations
are in the canonical unit of :mod:`oncoboard.patients.codes`. Unknown patient IDs raise
:class:`~oncoboard.errors.NotFoundError`.

Example
-------
>>> from oncoboard.patients import record
>>> s = record.get_summary(store, "DEMO-LU-001")
>>> ldh = record.latest_observation(store, "DEMO-LU-001", codes.LOINC, "2532-0",
...                                 before="2024-03-01", within_days=30)
>>> ldh.value_num, ldh.reference_high
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from oncoboard.dates import age_at
from oncoboard.errors import NotFoundError
from oncoboard.patients import codes
from oncoboard.patients.note_search import NoteHit as NoteHit
from oncoboard.patients.note_search import search_notes as search_notes
from oncoboard.store import Store

DateLike = str | dt.date | dt.datetime | None


@dataclass(frozen=True)
class Patient:
    """One patient as listed in the patient browser."""

    id: str
    family_name: str | None
    given_name: str | None
    birth_date: str | None
    sex: str | None
    deceased_date: str | None
    synthetic: bool
    diagnosis: str | None = None          # ICD-10 code of the primary cancer
    diagnosis_display: str | None = None

    @property
    def name(self) -> str:
        """Return "FAMILY, Given" (or the ID when no name is recorded)."""
        parts = [p for p in ((self.family_name or "").upper(), self.given_name) if p]
        return ", ".join(parts) if parts else self.id

    def to_dict(self) -> dict[str, Any]:
        """Return the patient as a JSON-ready dict."""
        return {**asdict(self), "name": self.name}


@dataclass(frozen=True)
class Condition:
    """A diagnosis; the primary cancer carries site, morphology, TNM, grade and markers."""

    id: str
    patient_id: str
    source_id: str
    is_primary_cancer: bool
    code_system: str | None
    code: str | None
    display: str | None
    icdo3_site: str | None
    icdo3_morphology: str | None
    laterality: str | None
    diagnosis_date: str | None
    clinical_t: str | None
    clinical_n: str | None
    clinical_m: str | None
    clinical_stage: str | None
    pathological_t: str | None
    pathological_n: str | None
    pathological_m: str | None
    pathological_stage: str | None
    grade: str | None
    er: str | None
    pr: str | None
    her2: str | None
    ki67_percent: float | None
    markers: dict[str, Any]
    status: str | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class Observation:
    """A lab value, vital sign, score, stage category or tumour marker."""

    id: str
    patient_id: str
    source_id: str
    category: str
    code_system: str | None
    code: str | None
    display: str | None
    value_num: float | None       # in `unit` (the canonical unit for known codes)
    value_text: str | None
    unit: str | None
    original_value: str | None
    original_unit: str | None
    effective: str | None
    reference_low: float | None   # in `unit`
    reference_high: float | None  # in `unit`; the ULN for labs
    condition_id: str | None
    extra: dict[str, Any]

    @property
    def value(self) -> float | str | None:
        """Return the numeric value if there is one, else the text value."""
        return self.value_num if self.value_num is not None else self.value_text


@dataclass(frozen=True)
class Treatment:
    """A surgery, radiotherapy course or systemic therapy (regimen of one or more agents)."""

    id: str
    patient_id: str
    source_id: str
    kind: str                     # surgery | radiotherapy | systemic | other
    subkind: str | None           # chemotherapy | immunotherapy | endocrine | targeted | ...
    code_system: str | None
    code: str | None
    display: str | None
    regimen: str | None
    agents: list[str]
    start_date: str | None
    end_date: str | None
    dose_gy: float | None
    fractions: int | None
    dose_intensity: float | None  # relative dose intensity, 1.0 = full dose
    cycles: int | None
    line: int | None
    intent: str | None
    status: str | None
    body_site: str | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class Note:
    """A clinical note (consultation, nursing, phone call, report...)."""

    id: str
    patient_id: str
    source_id: str
    note_type: str | None
    author_role: str | None
    date: str | None
    language: str | None
    title: str | None
    text: str


@dataclass(frozen=True)
class Outcome:
    """A relapse, progression, hospitalisation, death, response or toxicity event."""

    id: str
    patient_id: str
    source_id: str
    kind: str
    date: str | None
    end_date: str | None
    unplanned: bool | None
    detail: str | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """What the board needs on one line per patient: the headline facts of the record."""

    patient: Patient
    age: int | None                       # today (or at `at`), in whole years
    age_at_diagnosis: int | None
    primary_cancer: Condition | None
    stage: str | None                     # pathological stage group, else clinical
    tnm: str | None                       # e.g. "pT2 pN1 M0" or "cT3 cN2 cM0"
    markers: dict[str, Any]               # er, pr, her2, ki67_percent, grade, + other markers
    latest_ecog: Observation | None
    current_treatments: list[Treatment]
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        d = asdict(self)
        d["patient"] = self.patient.to_dict()
        return d


def _ts(value: DateLike) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _end_of(value: DateLike) -> str | None:
    """Return a bound that includes the whole day when `value` is a bare date."""
    s = _ts(value)
    if s is not None and len(s) == 10:
        return s + "T23:59:59.999999"
    return s


def _loads(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        if key in row and isinstance(row[key], str):
            row[key] = json.loads(row[key])
    return row


def _build(cls: type, row: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in row.items() if k in names})


def _require_patient(store: Store, patient_id: str) -> dict[str, Any]:
    rows = list(store.db.query("SELECT * FROM patients WHERE id = ?", [patient_id]))
    if not rows:
        raise NotFoundError(f"no patient with ID {patient_id!r}")
    return rows[0]


def _patient(row: dict[str, Any]) -> Patient:
    row = dict(row)
    row["synthetic"] = bool(row.get("synthetic"))
    patient: Patient = _build(Patient, row)
    return patient


_LIST_SQL = """
SELECT p.*, c.code AS diagnosis, c.display AS diagnosis_display
FROM patients p
LEFT JOIN conditions c ON c.id = (
    SELECT id FROM conditions WHERE patient_id = p.id AND is_primary_cancer = 1
    ORDER BY diagnosis_date DESC LIMIT 1)
"""


def list_patients(store: Store, query: str | None = None) -> list[Patient]:
    """Return the patients, sorted by ID, optionally filtered.

    Parameters
    ----------
    query
        Case-insensitive text: from three characters, any part of the ID, the given and family
        names, or a primary cancer's ICD-10 code or label (``"C50"`` lists breast cancers,
        ``"dupont"`` a name); shorter, the start of one of them (`oncoboard.patients.browse`).
    """
    from oncoboard.patients.browse import where_clause

    where, params = where_clause(query, store.backend)
    sql = _LIST_SQL + f" WHERE {where} ORDER BY p.id"
    return [_patient(r) for r in store.db.query(sql, params)]


def get_patient(store: Store, patient_id: str) -> Patient:
    """Return one patient; raise NotFoundError for an unknown ID."""
    _require_patient(store, patient_id)
    rows = list(store.db.query(_LIST_SQL + " WHERE p.id = ?", [patient_id]))
    return _patient(rows[0])


def conditions(store: Store, patient_id: str) -> list[Condition]:
    """Return the patient's conditions, primary cancers first, most recent diagnosis first."""
    _require_patient(store, patient_id)
    rows = store.db.query(
        "SELECT * FROM conditions WHERE patient_id = ? "
        "ORDER BY is_primary_cancer DESC, diagnosis_date DESC, id", [patient_id])
    out = []
    for r in rows:
        _loads(r, "markers", "extra")
        r["is_primary_cancer"] = bool(r["is_primary_cancer"])
        out.append(_build(Condition, r))
    return out


def primary_cancer(store: Store, patient_id: str) -> Condition | None:
    """Return the most recently diagnosed primary cancer, or None."""
    found = [c for c in conditions(store, patient_id) if c.is_primary_cancer]
    return found[0] if found else None


def observations(store: Store, patient_id: str, code: str | None = None,
                 system: str | None = None, before: DateLike = None,
                 category: str | None = None) -> list[Observation]:
    """Return the patient's observations, oldest first.

    Parameters
    ----------
    code, system
        Keep only this code (and code system, e.g. :data:`codes.LOINC`).
    before
        Keep only observations effective on or before this date (a bare date includes that day).
    category
        Keep only this category (laboratory, vital-signs, tumor-marker, stage, ecog, survey...).
    """
    _require_patient(store, patient_id)
    sql = "SELECT * FROM observations WHERE patient_id = ?"
    params: list[Any] = [patient_id]
    for column, value in (("code", code), ("code_system", system), ("category", category)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if before is not None:
        sql += " AND effective <= ?"
        params.append(_end_of(before))
    # in time, not as text: '2021-01-01T23:00-05:00' is after '2021-01-02T01:00Z'; a partial
    # date ('2021-03') counts from its first day
    sql += (" ORDER BY coalesce(julianday(effective), "
            "julianday(substr(effective || '-01-01', 1, 10))), id")
    return [_build(Observation, _loads(r, "extra")) for r in store.db.query(sql, params)]


def latest_observation(store: Store, patient_id: str, system: str, code: str,
                       before: DateLike = None,
                       within_days: int | None = None) -> Observation | None:
    """Return the most recent observation of a code, or None.

    Parameters
    ----------
    before
        Only observations effective on or before this date (default: no limit).
    within_days
        With `before`: only observations at most this many days before `before`
        (e.g. labs within 30 days before the planned start of treatment).
    """
    found = observations(store, patient_id, code=code, system=system, before=before)
    if within_days is not None and before is not None:
        start = _ts(before)
        assert start is not None
        floor = (dt.date.fromisoformat(start[:10]) - dt.timedelta(days=within_days)).isoformat()
        found = [o for o in found if o.effective is not None and o.effective[:10] >= floor]
    # an undated value has no place in time: never "the latest" (the import report warns)
    found = [o for o in found if o.effective is not None]
    return found[-1] if found else None


def latest_by_key(store: Store, patient_id: str, key: str, before: DateLike = None,
                  within_days: int | None = None) -> Observation | None:
    """Return the latest observation of the code named `key` in :data:`codes.BY_KEY`."""
    c = codes.BY_KEY[key]
    return latest_observation(store, patient_id, c.system, c.code, before, within_days)


def treatments(store: Store, patient_id: str, kind: str | None = None) -> list[Treatment]:
    """Return the patient's treatments (optionally of one kind), by start date."""
    _require_patient(store, patient_id)
    sql = "SELECT * FROM treatments WHERE patient_id = ?"
    params: list[Any] = [patient_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    sql += " ORDER BY start_date, id"
    return [_build(Treatment, _loads(r, "agents", "extra")) for r in store.db.query(sql, params)]


def notes(store: Store, patient_id: str) -> list[Note]:
    """Return the patient's clinical notes, oldest first."""
    _require_patient(store, patient_id)
    rows = store.db.query("SELECT * FROM notes WHERE patient_id = ? ORDER BY date, id",
                          [patient_id])
    return [_build(Note, r) for r in rows]


def outcomes(store: Store, patient_id: str, kind: str | None = None) -> list[Outcome]:
    """Return the patient's outcomes (relapse, progression, hospitalisation, death...), by date."""
    _require_patient(store, patient_id)
    sql = "SELECT * FROM outcomes WHERE patient_id = ?"
    params: list[Any] = [patient_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    sql += " ORDER BY date, id"
    out = []
    for r in store.db.query(sql, params):
        _loads(r, "extra")
        r["unplanned"] = None if r["unplanned"] is None else bool(r["unplanned"])
        out.append(_build(Outcome, r))
    return out


_ENDED = {"completed", "stopped", "cancelled", "entered-in-error", "not-done"}


def _tnm(c: Condition) -> str | None:
    for prefix, t, n, m in (("p", c.pathological_t, c.pathological_n, c.pathological_m),
                            ("c", c.clinical_t, c.clinical_n, c.clinical_m)):
        parts = [v if v[:1] in "cpyr" else prefix + v for v in (t, n, m) if v]
        if parts:
            return " ".join(parts)
    return None


def get_summary(store: Store, patient_id: str, at: DateLike = None) -> Summary:
    """Return the headline facts of one patient's record.

    Parameters
    ----------
    at
        The date the summary is for (age, latest ECOG, current treatments); default today.
    """
    patient = get_patient(store, patient_id)
    when = _ts(at) or dt.date.today().isoformat()
    cancer = primary_cancer(store, patient_id)
    markers: dict[str, Any] = {}
    if cancer is not None:
        for key in ("er", "pr", "her2", "ki67_percent", "grade"):
            if getattr(cancer, key) is not None:
                markers[key] = getattr(cancer, key)
        markers.update(cancer.markers)
    current = [t for t in treatments(store, patient_id)
               if (t.status or "") not in _ENDED and (t.end_date is None or t.end_date >= when)]
    counts = {table: store.db.execute(
        f"SELECT count(*) FROM {table} WHERE patient_id = ?", [patient_id]).fetchone()[0]
        for table in ("conditions", "observations", "treatments", "notes", "outcomes")}
    return Summary(
        patient=patient,
        age=age_at(patient.birth_date, patient.deceased_date or when),
        age_at_diagnosis=age_at(patient.birth_date, cancer.diagnosis_date if cancer else None),
        primary_cancer=cancer,
        stage=(cancer.pathological_stage or cancer.clinical_stage) if cancer else None,
        tnm=_tnm(cancer) if cancer else None,
        markers=markers,
        latest_ecog=latest_observation(store, patient_id, codes.LOINC, "89247-1", before=when),
        current_treatments=current,
        counts=counts,
    )
