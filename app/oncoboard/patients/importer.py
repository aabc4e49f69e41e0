"""Import patient-record files: one file is one transaction.

A reader (:mod:`.fhir_import`, :mod:`.csv_import`) turns a whole file into a :class:`Batch` of
rows, validating everything first; only then are the rows written, in one
``store.transaction()``. So a file with one bad resource writes nothing. Rows are keyed on
``(patient_id, source_id)`` (the resource or row identifier in the source), and written with an
upsert that only touches rows whose content changed: importing the same data again changes
nothing. A file whose SHA-256 is already in ``record_sources`` is skipped outright.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import RecordImportError
from oncoboard.identity import require
from oncoboard.patients import codes
from oncoboard.patients.limits import MAX_FILE_BYTES, check_batch
from oncoboard.store import feed

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

TABLES = ("patients", "conditions", "observations", "treatments", "notes", "outcomes")
_JSON_DEFAULTS = {"extra": "{}", "markers": "{}", "agents": "[]"}
# Observation code -> condition column it fills (TNM, grade, receptor status, Ki67).
_CONDITION_FIELDS = {
    (c.system, c.code): c.key for c in codes.CODES
    if c.category == "stage" or c.key in ("er", "pr", "her2", "grade")
}
_KI67 = (codes.LOCAL, "ki67")


@dataclass
class Batch:
    """Every row read from one file, ready to be written in one transaction."""

    path: Path
    format: str
    sha256: str
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {t: [] for t in TABLES})
    unknown_codes: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    #: the database reads the rows depend on: (statement, parameters, rows returned)
    reads: list[tuple[str, tuple[Any, ...], list[tuple[Any, ...]]]] = field(default_factory=list)

    def query(self, store: Store, sql: str, params: list[Any] | tuple[Any, ...]
              ) -> list[tuple[Any, ...]]:
        """Run a read of the stored record that this file's rows depend on, and remember it.

        Files read in parallel are read before the files ahead of them are written; the
        writer repeats these reads (:meth:`reads_still_hold`) and reads the file again when
        an answer changed, so the result is always that of reading the files one by one.
        """
        rows = _fetch(store, sql, params)
        self.reads.append((sql, tuple(params), rows))
        return rows

    def reads_still_hold(self, store: Store) -> bool:
        """Return True if every read of :meth:`query` gives the same answer now."""
        return all(_fetch(store, sql, params) == rows for sql, params, rows in self.reads)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Add one row (``_where`` names its resource or line for error messages)."""
        self.rows[table].append(row)

    def unknown(self, system: str | None, code: str | None, display: str | None,
                where: str) -> None:
        """Record a code Oncoboard does not know (the row is kept as it came)."""
        self.unknown_codes.append({"system": system or "", "code": code or "",
                                   "display": display or "", "where": where})

    def patient_ids(self) -> list[str]:
        """Return the IDs of the patients this file touches."""
        ids = {r["patient_id"] for t in TABLES[1:] for r in self.rows[t]}
        ids |= {r["id"] for r in self.rows["patients"]}
        return sorted(ids)


def _fetch(store: Store, sql: str, params: list[Any] | tuple[Any, ...]
           ) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.db.execute(sql, list(params)).fetchall()]


@dataclass
class ImportReport:
    """What importing one file did."""

    path: str
    format: str
    sha256: str
    already_imported: bool
    patients: list[str]
    counts: dict[str, int]          # rows read per table
    written: dict[str, int]         # rows inserted or changed per table (0 on re-import)
    unknown_codes: list[dict[str, str]]
    skipped: dict[str, int]         # resources read but not stored (e.g. Practitioner)
    undated: int = 0                # observations without a date (models never use them)
    warnings: list[str] = field(default_factory=list)  # e.g. a stage contradicting its TNM

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return dict(self.__dict__)

    def describe(self) -> str:
        """Return a few human-readable lines."""
        if self.already_imported:
            return f"{self.path}: already imported (sha256 {self.sha256[:12]}), nothing changed"
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v) or "no records"
        written = sum(self.written.values())
        lines = [f"{self.path}: {len(self.patients)} patient(s), {counts}; "
                 f"{written} row(s) written"]
        if self.unknown_codes:
            shown = ", ".join(f"{u['system'] or '?'}|{u['code']}"
                              for u in self.unknown_codes[:8])
            more = len(self.unknown_codes) - 8
            lines.append(f"  kept {len(self.unknown_codes)} unknown code(s): {shown}"
                         + (f" and {more} more" if more > 0 else ""))
        if self.undated:
            lines.append(f"  warning: {self.undated} fact(s) without a date: models will not "
                         "use them")
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.skipped:
            lines.append("  not stored: " + ", ".join(f"{v} {k}"
                                                      for k, v in self.skipped.items()))
        return "\n".join(lines)


def read_text(path: Path) -> tuple[str, str]:
    """Return (text, sha256) of a file; refuse empty and non-UTF-8 files."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RecordImportError(f"the file is {size / 2**20:,.0f} MiB (limit "
                                    f"{MAX_FILE_BYTES // 2**20} MiB): split it", file=path)
        data = path.read_bytes()
    except OSError as exc:
        raise RecordImportError(f"cannot read: {exc.strerror}", file=path) from exc
    if not data.removeprefix(b"\xef\xbb\xbf").strip():  # nothing, or only a BOM and blanks
        raise RecordImportError("the file is empty", file=path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordImportError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8", file=path) from exc
    return text, hashlib.sha256(data).hexdigest()


def import_file(store: Store, path: str | Path, today: dt.date | None = None) -> ImportReport:
    """Import one FHIR R4 Bundle (JSON) or CSV file, all or nothing.

    `today` is the import day that no clinical fact may follow (default: today; the demo
    passes its board date).

    Raises
    ------
    RecordImportError
        The file or one of its resources/lines cannot be imported; nothing was written.
    """
    require(store, "record.import")
    return write_batch(store, read_file(store, Path(path)), today)


_NOT_DONE = {"cancelled", "entered-in-error", "not-done", "not-taken", "draft", "stopped"}


def _life_dates(store: Store, batch: Batch) -> dict[str, tuple[str | None, str | None]]:
    """Return {patient ID: (birth date, death date)} for every patient the batch touches."""
    dates = {r["id"]: (r.get("birth_date"), r.get("deceased_date"))
             for r in batch.rows["patients"]}
    for pid in set(batch.patient_ids()) - dates.keys():
        row = store.db.execute("SELECT birth_date, deceased_date FROM patients WHERE id = ?",
                               [pid]).fetchone()
        dates[pid] = (row[0], row[1]) if row else (None, None)
    return dates


#: Facts that cannot lie in the future: {table: date column}. Treatments only when done
#: (a planned treatment has a future start), hospital stays not at all (planned admissions).
_PAST_FACTS = {"patients": "deceased_date", "conditions": "diagnosis_date",
               "observations": "effective", "notes": "date", "outcomes": "date",
               "treatments": "start_date"}


def _earliest(date: str) -> str:
    """Return the first day a date may mean: '2021' -> '2021-01-01', '2021-03' -> '2021-03-01'."""
    date = date[:10]
    return date + ("-01-01" if len(date) == 4 else "-01" if len(date) == 7 else "")


def _latest(date: str) -> str:
    """Return the last day a date may mean: '2021' -> '2021-12-31', '2021-02' -> '2021-02-28'."""
    date = date[:10]
    if len(date) == 4:
        return date + "-12-31"
    if len(date) == 7:
        year, month = int(date[:4]), int(date[5:7])
        if 1 <= month <= 12:
            return f"{date}-{calendar.monthrange(year, month)[1]:02d}"
    return date


def _check_future(batch: Batch, today: dt.date) -> None:
    """Refuse a clinical fact dated after the import day (one day of margin: time zones)."""
    limit = (today + dt.timedelta(days=1)).isoformat()
    for table, key in _PAST_FACTS.items():
        for row in batch.rows[table]:
            date = (row.get(key) or "")[:10]
            if _earliest(date) <= limit or (
                    table == "treatments" and row.get("status") != "completed"
                    or table == "outcomes" and row.get("kind") == "hospitalisation"):
                continue
            raise RecordImportError(f"{key.replace('_', ' ')} {date} is in the future (import "
                                    f"day {today.isoformat()})", file=batch.path,
                                    where=row.get("_where"))


def _check_dates(store: Store, batch: Batch, today: dt.date | None = None) -> None:
    """Refuse dates that contradict each other.

    Refused: a birth date or a clinical fact after the import day `today` (default: today);
    death, diagnosis or any event before birth; an end before its start; a treatment given or a
    hospital stay begun after death.
    """
    def fail(reason: str, row: dict[str, Any]) -> RecordImportError:
        return RecordImportError(reason, file=batch.path, where=row.get("_where"))

    life = _life_dates(store, batch)
    today = today or dt.date.today()
    _check_future(batch, today)
    for row in batch.rows["patients"]:
        if row.get("birth_date") and _earliest(row["birth_date"]) > today.isoformat():
            raise fail(f"birth date {row['birth_date'][:10]} is in the future", row)
    checks = {"patients": ("deceased_date", None), "conditions": ("diagnosis_date", None),
              "observations": ("effective", None), "treatments": ("start_date", "end_date"),
              "notes": ("date", None), "outcomes": ("date", "end_date")}
    for table, (start_key, end_key) in checks.items():
        for row in batch.rows[table]:
            pid = row["id"] if table == "patients" else row["patient_id"]
            (birth, death), start = life.get(pid, (None, None)), row.get(start_key)
            end = row.get(end_key) if end_key else None
            # dates may be partial ('2021', '2021-03'): only a certain contradiction counts
            if birth and start and _latest(start) < _earliest(birth):
                raise fail(f"{start_key.replace('_', ' ')} {start[:10]} is before the birth "
                           f"date {birth[:10]} of patient {pid}", row)
            if start and end and _latest(end) < _earliest(start):
                raise fail(f"ends ({end[:10]}) before it starts ({start[:10]})", row)
            if not (death and start and _earliest(start) > _latest(death)):
                continue
            if (table == "treatments" and row.get("status") not in _NOT_DONE
                    or table == "outcomes" and row.get("kind") == "hospitalisation"):
                raise fail(f"starts {start[:10]}, after the death of patient {pid} on "
                           f"{death[:10]}", row)


def _fold_into_conditions(store: Store, batch: Batch) -> None:
    """Copy TNM, grade, receptor and marker observations onto their primary cancer row."""
    primary: dict[str, dict[str, Any]] = {}
    by_id = {r["id"]: r for r in batch.rows["conditions"]}
    for row in sorted(batch.rows["conditions"], key=lambda r: r.get("diagnosis_date") or ""):
        if row.get("is_primary_cancer"):
            primary[row["patient_id"]] = row
    for obs in sorted(batch.rows["observations"], key=lambda r: r.get("effective") or ""):
        key = (obs.get("code_system"), obs.get("code"))
        known = codes.lookup(*key)
        if known is None or known.category not in ("stage", "tumor-marker"):
            continue
        target = by_id.get(obs.get("condition_id") or "") or primary.get(obs["patient_id"])
        if target is None:
            target = _stored_primary(store, obs["patient_id"])
            if target is None:
                continue
            batch.rows["conditions"].append(target)
            primary[obs["patient_id"]] = by_id[target["id"]] = target
        obs["condition_id"] = target["id"]
        if key in _CONDITION_FIELDS:
            target[_CONDITION_FIELDS[key]] = obs.get("value_text") or _num_text(obs)
        elif key == _KI67:
            target["ki67_percent"] = obs.get("value_num")
        else:
            markers = dict(target.get("markers") or {})
            markers[known.key] = obs["value_num"] if obs.get("value_num") is not None \
                else obs.get("value_text")
            target["markers"] = markers


def _num_text(obs: dict[str, Any]) -> str | None:
    v = obs.get("value_num")
    return None if v is None else f"{v:g}"


def _stored_primary(store: Store, patient_id: str) -> dict[str, Any] | None:
    rows = list(store.db.query(
        "SELECT * FROM conditions WHERE patient_id = ? AND is_primary_cancer = 1 "
        "ORDER BY diagnosis_date DESC LIMIT 1", [patient_id]))
    if not rows:
        return None
    row = rows[0]
    for key in ("markers", "extra"):
        row[key] = json.loads(row[key])
    return row


@dataclass(frozen=True)
class _UpsertPlan:
    """How rows of one table are written: the statement and where its special columns are."""

    sql: str
    columns: tuple[str, ...]
    defaults: tuple[tuple[int, str], ...]  # (index, value) for NULLs: JSON columns
    imported_at: int | None
    synthetic: int | None


_plans: weakref.WeakKeyDictionary[Store, dict[str, _UpsertPlan]] = weakref.WeakKeyDictionary()
_encode_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_CONTAINERS = (dict, list)


def _upsert_plan(store: Store, table: str) -> _UpsertPlan:
    plans = _plans.setdefault(store, {})
    plan = plans.get(table)
    if plan is None:
        cols = store.columns(table)
        keep = [c for c in cols if c not in ("id", "imported_at")]
        # the file a row came from is provenance, not content: the same row in another file
        # (e.g. a re-export) leaves the stored row alone
        changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM excluded.{c}" for c in keep
                              if c != "source_file")
        sets = ", ".join(f"{c} = excluded.{c}" for c in keep)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {sets} WHERE {changed}")
        plan = _UpsertPlan(
            sql, cols, tuple((i, _JSON_DEFAULTS[c]) for i, c in enumerate(cols)
                             if c in _JSON_DEFAULTS),
            cols.index("imported_at") if "imported_at" in cols else None,
            cols.index("synthetic") if "synthetic" in cols else None)
        plans[table] = plan
    return plan


def _values(plan: _UpsertPlan, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Return the statement parameters of `rows`, in the plan's column order."""
    cols, defaults = plan.columns, plan.defaults
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    values = []
    for row in rows:
        out = [row.get(c) for c in cols]
        for i, v in enumerate(out):
            if isinstance(v, _CONTAINERS):
                out[i] = _encode_json(v)
        for i, default in defaults:
            if out[i] is None:
                out[i] = default
        if plan.imported_at is not None and out[plan.imported_at] is None:
            out[plan.imported_at] = now
        if plan.synthetic is not None and out[plan.synthetic] is None:
            out[plan.synthetic] = 0
        values.append(out)
    return values


def _upsert(store: Store, table: str, rows: list[dict[str, Any]]) -> int:
    """Insert rows or update those whose content changed; return how many were written."""
    if not rows:
        return 0
    plan = _upsert_plan(store, table)
    cursor = store.conn.executemany(plan.sql, _values(plan, rows))
    return max(int(cursor.rowcount), 0)  # rows inserted or updated, not counting trigger writes


def write_batch(store: Store, batch: Batch, today: dt.date | None = None) -> ImportReport:
    """Check cross-row consistency, then write the batch in one transaction."""
    check_batch(batch)
    _check_dates(store, batch, today)
    _fold_into_conditions(store, batch)
    counts = {t: len(batch.rows[t]) for t in TABLES}
    written = dict.fromkeys(TABLES, 0)
    already = False
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM record_sources WHERE sha256 = ?",
                      [batch.sha256]).fetchone():
            already = True
        else:
            for table in TABLES:
                written[table] = _upsert(store, table, batch.rows[table])
            db.execute(
                "INSERT INTO record_sources (sha256, path, format, imported_at, counts, "
                "unknown_codes) VALUES (?, ?, ?, ?, ?, ?)",
                [batch.sha256, str(batch.path), batch.format,
                 dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                 json.dumps(counts), json.dumps(batch.unknown_codes, ensure_ascii=False)])
            feed.note_record_change(store, batch.patient_ids(), "record")
    log.info("imported %s (%s): %s written%s", batch.path.name, batch.sha256[:12], written,
             " (already imported)" if already else "")
    return ImportReport(str(batch.path), batch.format, batch.sha256, already,
                        batch.patient_ids(), counts, written, batch.unknown_codes,
                        dict(batch.skipped),
                        sum(not r.get("effective") for r in batch.rows["observations"]),
                        stage_warnings(batch.rows["conditions"]))


#: ICD-10 prefixes of the sites whose AJCC 8th stage groups are computed (patients.staging).
_STAGED_SITES = {"C34": "lung", "C50": "breast"}


def stage_warnings(conditions: list[dict[str, Any]]) -> list[str]:
    """Return a warning for each primary cancer whose recorded stage group contradicts its
    recorded T, N and M (AJCC 8th, lung and breast), clinical and pathological alike."""
    from oncoboard.patients.staging import stage_conflict

    out = []
    for row in conditions:
        site = _STAGED_SITES.get((row.get("code") or "").upper()[:3])
        if not row.get("is_primary_cancer") or site is None:
            continue
        for kind in ("clinical", "pathological"):
            flag = stage_conflict(site, row.get(f"{kind}_t"), row.get(f"{kind}_n"),
                                  row.get(f"{kind}_m"), row.get(f"{kind}_stage"))
            if flag:
                out.append(f"patient {row['patient_id']}: {kind} {flag}; check the record")
    return out


def read_file(store: Store, path: Path) -> Batch:
    """Read and validate one file into a Batch without writing anything."""
    from oncoboard.patients.file_kind import record_format

    kind = record_format(path)  # refuses a README, PDF, image... as what it is
    text, sha = read_text(path)
    if kind == "csv":
        from oncoboard.patients.csv_import import read_csv

        return read_csv(store, path, text, sha)
    from oncoboard.patients.fhir_import import read_bundle

    return read_bundle(store, path, text, sha)
