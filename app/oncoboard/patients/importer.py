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
import os
import select
import signal
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import OncoboardError, RecordImportError
from oncoboard.patients import codes
from oncoboard.patients.limits import MAX_FILE_BYTES, check_batch

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


_worker_store: Store | None = None


#: Import files here while the pool starts (tests turn it off to exercise the pool).
_READ_WHILE_STARTING = True
#: Files read ahead of the writer, per reading process (bounds memory, absorbs jitter).
_IN_FLIGHT_PER_WORKER = 4
#: Files queued per pool process: this process, between its writes, only reads what the pool
#: has not started (2 queued per process left the pool idle while this one read: 20 % slower).
_QUEUED_PER_WORKER = 4


def _store_in_worker(db_path: str) -> Store:
    global _worker_store
    if _worker_store is None:
        from typing import cast

        from oncoboard.patients.import_worker import ReadOnlyRecord

        # reading needs a few SELECTs, never a write: a read-only connection, without the
        # store's library (its imports cost each process half a second)
        _worker_store = cast("Store", ReadOnlyRecord(db_path))
    return _worker_store


def _worker_ready(db_path: str) -> bool:
    """Open the store in a pool process; its result means the pool has started."""
    return _store_in_worker(db_path) is not None


def _die_with_parent(parent: int) -> None:
    """Make this pool process exit when the importing process `parent` ends, even by kill -9.

    The pool's processes are forked by the fork server, not by `parent`, and each keeps the
    fork server and the resource tracker alive: without this, all of them outlived a killed
    import. Once the readers exit, the fork server and the tracker see their pipes close and
    exit too (the tracker removing the semaphores left in /dev/shm).
    """
    if sys.platform == "win32":  # no fork server there; the pool's own checks apply
        return
    try:  # SIGKILL from the kernel when the fork server dies (Linux)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    try:
        fd: int | None = os.pidfd_open(parent)  # readable once `parent` has ended
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # not Linux 5.3+: poll
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(parent):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="watch-importer", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the number
        return False
    return True


def _start_pool(pool: Any, db_path: str, ready: Any) -> None:
    """Start the pool's processes; set `ready` when one has opened the store."""
    try:
        ready.set_result(pool.submit(_worker_ready, db_path).result())
    except Exception as exc:  # noqa: BLE001 - handed to the importing thread
        ready.set_exception(exc)


def _read_in_worker(db_path: str, path: str) -> Batch | None:
    """Read one file in a pool process; None means "read it again in the writer"."""
    return _read_here(_store_in_worker(db_path), Path(path))


#: Below this many files a pool costs more than it saves (its start-up and shut-down). Measured
#: on 2 CPUs with bundles of 50 resources (tests/bench/bench_import.py --breakeven): 50 files
#: 0.40x the speed without it, 100 files 0.92-1.04x, 200 files 1.21-1.36x, 800 files 1.6-1.95x.
AUTO_WORKERS_MIN_FILES = 200
#: Modules the pool's processes start with (imported once, in the fork server).
_WORKER_PRELOAD = ["oncoboard.patients.import_worker"]


def auto_workers(n_files: int) -> int:
    """Return the number of reading processes worth starting for `n_files` files (0: none)."""
    if n_files < AUTO_WORKERS_MIN_FILES:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (containers)
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    # this process reads too, between the writes: one other process per other CPU
    return max(0, min(cpus - 1, 8))


def import_files(store: Store, paths: list[Path], workers: int | None = None,
                 on_error: Callable[[Path, OncoboardError], None] | None = None
                 ) -> Iterator[ImportReport]:
    """Import files in order, each in its own transaction; yield one report per file.

    Parameters
    ----------
    workers
        With ``workers > 0`` (and a store on disk), files are read and validated in that many
        processes while this process writes them, in order (and reads files too, between its
        writes). At most ``4 * (workers + 1)`` files are in flight, so memory does not grow
        with the number of files; if the processes die, the remaining files are read here. A
        file that fails in a worker, or whose reads of the stored record changed since
        (:meth:`Batch.query`), is read again here after the files before it are written, so
        the result is exactly that of the sequential case. None (the default) chooses with
        :func:`auto_workers`; 0 reads in this process.
    on_error
        Called with the file and the error of each file that cannot be imported, and the
        import goes on with the next file (the app's import dialog). Without it, the first
        such file raises.

    Raises
    ------
    RecordImportError
        At the first file that cannot be imported (the files before it stay imported), when
        there is no `on_error`.
    """
    paths = [Path(p) for p in paths]
    if workers is None:
        workers = auto_workers(len(paths))
    for path, report in _import_files(store, paths, workers):
        if isinstance(report, ImportReport):
            yield report
        elif on_error is None:
            raise report
        else:
            on_error(path, report)


def _import_files(store: Store, paths: list[Path], workers: int
                  ) -> Iterator[tuple[Path, ImportReport | OncoboardError]]:
    """Import files in order; yield (file, its report or the error that refused it)."""
    def attempt(path: Path, work: Callable[[], ImportReport]
                ) -> tuple[Path, ImportReport | OncoboardError]:
        try:
            return path, work()
        except OncoboardError as exc:
            return path, exc

    if workers <= 0 or store.path is None or len(paths) < 2:
        for path in paths:
            yield attempt(path, partial(import_file, store, path))
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    from collections import deque

    # forkserver: the workers do not inherit this process's open SQLite connection (nor, in
    # the app, Qt's threads); they start from a server that has imported the readers once
    methods = mp.get_all_start_methods()
    context = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(_WORKER_PRELOAD)  # no effect once a server runs
    log.info("reading %d files in this process and %d others", len(paths), workers)
    queue, slots = deque(paths), deque[_Slot]()
    window = _IN_FLIGHT_PER_WORKER * (workers + 1)
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent,
                                initargs=(os.getpid(),)) as pool:
        # starting the processes takes about a second, and submit() waits for it: a thread
        # starts them while this one imports the first files itself
        ready: cf.Future[bool] = cf.Future()
        starter = threading.Thread(target=_start_pool, args=(pool, str(store.path), ready),
                                   name="import-pool-start", daemon=True)
        starter.start()
        while _READ_WHILE_STARTING and queue and not ready.done():
            path = queue.popleft()
            yield attempt(path, partial(import_file, store, path))
        starter.join()
        if ready.exception() is not None:
            log.warning("the reading processes did not start (%s); reading here",
                        ready.exception())
            pool.shutdown(cancel_futures=True)
        while ready.exception() is None and (queue or slots):
            # keep every pool process busy with a few files queued
            busy = sum(1 for slot in slots if slot.future is not None and not slot.future.done())
            while queue and busy < _QUEUED_PER_WORKER * workers and len(slots) < window:
                nxt = queue.popleft()
                slots.append(_Slot(nxt, pool.submit(_read_in_worker, str(store.path),
                                                    str(nxt))))
                busy += 1
            head = slots[0]
            if (head.future is not None and not head.future.done() and queue
                    and len(slots) < window):
                # rather than wait for the next file to write, read one more here
                nxt = queue.popleft()
                slots.append(_Slot(nxt, None, _read_here(store, nxt)))
                continue
            slots.popleft()
            try:
                batch = head.batch if head.future is None else head.future.result()
            except cf.process.BrokenProcessPool:  # a reading process was killed (memory?)
                log.warning("the reading processes stopped; reading the other %d files here",
                            1 + len(slots) + len(queue))
                queue.extendleft(reversed([head.path, *(slot.path for slot in slots)]))
                slots.clear()
                break
            yield attempt(head.path, partial(_write_in_turn, store, head.path, batch))
    for path in queue:  # left by a broken pool
        yield attempt(path, partial(import_file, store, path))


def _write_in_turn(store: Store, path: Path, batch: Batch | None) -> ImportReport:
    """Write a file read ahead of its turn, reading it again if that read is out of date."""
    if batch is None or not batch.reads_still_hold(store):  # see Batch.query
        batch = read_file(store, path)
    return write_batch(store, batch)


@dataclass
class _Slot:
    """A file of a parallel import: read by a pool process (`future`) or here (`batch`)."""

    path: Path
    future: Any = None
    batch: Batch | None = None


def _read_here(store: Store, path: Path) -> Batch | None:
    """Read a file ahead of its turn (here or in a pool process); None: read it again then."""
    try:
        return read_file(store, path)
    except RecordImportError:  # may depend on a file before it: decided at its turn
        return None
