"""Index DICOM files (folders, zip files, DICOMDIR) into the store.

`index_paths` walks the paths, parses every file's header (`headers.read_record`; in a process
pool for large imports), then writes each series in its own transaction: a cancelled or failed
import leaves whole series or nothing. Files already indexed with the same size and
modification time are not parsed again, so indexing twice changes nothing. Zip files are
extracted once under ``DATA_DIR/dicom/zip/<hash>/`` (the index must point at real files that
the loader can read by offset), and that folder is removed again when the zip held no DICOM file
or its extraction failed or was cancelled; DICOMDIR files are followed to the files they list.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import DicomError, NotFoundError
from oncoboard.identity import require
from oncoboard.imaging.index_files import _cancelled, _drop_zips_without_dicom, _expand
from oncoboard.store import feed

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)``."""
CancelFn = Callable[[], bool]
"""Returns True when the user asked to stop (``threading.Event().is_set`` works)."""

POOL_MIN_FILES = 64
_CHUNK = 32


@dataclass
class IndexReport:
    """What one `index_paths` call did."""

    files_seen: int = 0
    instances_indexed: int = 0
    unchanged: int = 0
    series_uids: list[str] = field(default_factory=list)
    study_uids: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    linked_patients: list[str] = field(default_factory=list)
    unlinked_patient_ids: list[str] = field(default_factory=list)
    cancelled: bool = False
    # Folders extracted from zip files in this call (folder -> zip file); not in as_dict.
    zip_folders: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary."""
        return {"files_seen": self.files_seen, "instances_indexed": self.instances_indexed,
                "unchanged": self.unchanged, "series": self.series_uids,
                "studies": self.study_uids,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "linked_patients": self.linked_patients,
                "unlinked_patient_ids": self.unlinked_patient_ids, "cancelled": self.cancelled}


@dataclass
class SeriesInfo:
    """One indexed series as listed to users."""

    series_uid: str
    study_uid: str
    patient_id: str | None
    dicom_patient_id: str
    modality: str
    description: str
    series_number: int | None
    study_date: str
    study_description: str
    n_instances: int
    n_frames: int
    stacks: list[dict[str, Any]] = field(default_factory=list)
    referenced_series_uids: list[str] = field(default_factory=list)


def index_paths(store: Store, paths: Iterable[str | Path], *, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None, settings: Settings | None = None) -> IndexReport:
    """Index the DICOM files found under `paths` into `store`.

    Parameters
    ----------
    store
        The open store (its user needs the radiologist role).
    paths
        Files, folders (searched recursively), zip files or DICOMDIR files.
    progress
        Called as ``progress(done, total, message)``.
    cancel
        Returns True to stop; series already written stay, none is half written.
    settings
        Used for ``patient_match`` and the data folder (zip extraction); defaults apply if None.

    Returns an IndexReport: counts, the series and studies touched, and every skipped file with
    its reason.
    """
    require(store, "image.import")
    report = IndexReport()
    data_dir = Path(settings.data_dir) if settings is not None else (
        Path(store.path).parent if store.path else Path.cwd())
    rule = getattr(settings, "patient_match", "patient_id")
    files = list(_expand(paths, data_dir, report, cancel))
    report.files_seen = len(files)
    if _cancelled(cancel):
        report.cancelled = True
        return report
    todo = _changed_files(store, files, report)
    records = _read_all(todo, report, progress, cancel)
    if records is None:
        report.cancelled = True
        return report
    kept = {r.path for r in records} | (set(files) - set(todo))
    _drop_zips_without_dicom(report, kept)
    by_series: dict[str, list[Any]] = defaultdict(list)
    for rec in records:
        by_series[rec.series_uid].append(rec)
    for n, (series_uid, recs) in enumerate(sorted(by_series.items())):
        if _cancelled(cancel):
            report.cancelled = True
            break
        with store.transaction():
            _write_series(store, series_uid, recs, rule, report)
        report.instances_indexed += len(recs)
        report.series_uids.append(series_uid)
        if progress is not None:
            progress(n + 1, len(by_series), "writing series")
    log.info("indexed %d instances in %d series (%d skipped, %d unchanged)",
             report.instances_indexed, len(report.series_uids), len(report.skipped),
             report.unchanged)
    return report


def _changed_files(store: Store, files: list[str], report: IndexReport) -> list[str]:
    known = {r[0]: (r[1], r[2]) for r in store.db.execute(
        "SELECT path, size, mtime_ns FROM dicom_instances")} if files else {}
    todo = []
    for f in files:
        old = known.get(f)
        if old is not None:
            try:
                st = os.stat(f)
            except OSError:
                todo.append(f)
                continue
            if (st.st_size, st.st_mtime_ns) == old:
                report.unchanged += 1
                continue
        todo.append(f)
    return todo


def read_chunk(paths: list[str]) -> list[tuple[str, Any, str | None]]:
    """Read the headers of `paths`: (path, record or None, skip reason or None); pool worker."""
    from oncoboard.imaging.headers import read_record

    out: list[tuple[str, Any, str | None]] = []
    for p in paths:
        try:
            out.append((p, read_record(p), None))
        except DicomError as exc:
            out.append((p, None, exc.reason))
    return out


def _pool_results(futures: list[Any], chunks: list[list[str]]) -> Iterator[Any]:
    """Yield the pool's results; if the pool breaks, read the rest in this process."""
    from concurrent.futures.process import BrokenProcessPool

    from oncoboard.imaging.pixels import shutdown_pool

    for i, fut in enumerate(futures):
        try:
            yield fut.result()
        except BrokenProcessPool:
            log.warning("header pool broke; reading the remaining files in this process")
            shutdown_pool()
            for chunk in chunks[i:]:
                yield read_chunk(chunk)
            return


def _read_all(files: list[str], report: IndexReport, progress: ProgressFn | None,
              cancel: CancelFn | None) -> list[Any] | None:
    from oncoboard.imaging.pixels import get_pool, pool_size

    chunks = [files[i:i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    use_pool = len(files) >= POOL_MIN_FILES and pool_size() > 1
    results: Iterable[list[tuple[str, Any, str | None]]]
    if use_pool:
        futures = [get_pool().submit(read_chunk, c) for c in chunks]
        results = _pool_results(futures, chunks)
    else:
        futures = []
        results = (read_chunk(c) for c in chunks)
    records, done = [], 0
    for result in results:
        if _cancelled(cancel):
            for fut in futures:
                fut.cancel()
            return None
        for path, rec, reason in result:
            if rec is None:
                report.skipped.append((path, reason or "unreadable"))
            else:
                records.append(rec)
        done += len(result)
        if progress is not None:
            progress(done, len(files), "reading headers")
    return records


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _iso_date(value: str) -> str:
    v = value.strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def match_patient(store: Store, dicom_patient_id: str, birth_date: str, rule: str) -> str | None:
    """Return the clinical patient id that a DICOM PatientID (and birth date) matches, if any."""
    if not dicom_patient_id or "patients" not in store.db.table_names():
        return None
    row = store.db.execute("SELECT id, birth_date FROM patients WHERE id = ?",
                           [dicom_patient_id]).fetchone()
    if row is None:
        return None
    if rule == "patient_id+birth_date" and (row[1] or "") != _iso_date(birth_date):
        return None
    return str(row[0])


def _write_series(store: Store, series_uid: str, recs: list[Any], rule: str,
                  report: IndexReport) -> None:
    from oncoboard.imaging.geometry import split_stacks

    db, now, first = store.db, _now(), recs[0]
    linked = match_patient(store, first.dicom_patient_id, first.birth_date, rule)
    if linked and linked not in report.linked_patients:
        report.linked_patients.append(linked)
    if not linked and first.dicom_patient_id and \
            first.dicom_patient_id not in report.unlinked_patient_ids:
        report.unlinked_patient_ids.append(first.dicom_patient_id)
    db.execute(
        "INSERT INTO dicom_studies (study_uid, patient_id, dicom_patient_id, patient_name, "
        "birth_date, sex, study_date, study_time, description, accession_number, indexed_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(study_uid) DO UPDATE SET "
        "patient_id = COALESCE(excluded.patient_id, dicom_studies.patient_id), "
        "indexed_at = excluded.indexed_at, "
        # Re-read (changed) files are the truth: a rewritten study may carry another date.
        "study_date = excluded.study_date, study_time = excluded.study_time",
        [first.study_uid, linked, first.dicom_patient_id, first.patient_name,
         _iso_date(first.birth_date), first.sex, _iso_date(first.study_date), first.study_time,
         first.study_description, first.accession_number, now])
    if first.study_uid not in report.study_uids:
        report.study_uids.append(first.study_uid)
    owner = linked or db.execute("SELECT patient_id FROM dicom_studies WHERE study_uid = ?",
                                 [first.study_uid]).fetchone()[0]
    if owner:  # the patient's open screens show the new series
        feed.note_record_change(store, [owner], "imaging")
    db.execute(
        "INSERT INTO dicom_series (series_uid, study_uid, modality, description, series_number, "
        "body_part, frame_of_reference_uid, indexed_at) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT(series_uid) DO UPDATE SET indexed_at = excluded.indexed_at",
        [series_uid, first.study_uid, first.modality, first.series_description,
         first.series_number, first.body_part, first.frame_of_reference_uid, now])
    for rec in recs:
        db.execute("DELETE FROM dicom_instances WHERE path = ? AND sop_uid != ?",
                   [rec.path, rec.sop_uid])
        db.execute(
            "INSERT OR REPLACE INTO dicom_instances (sop_uid, series_uid, sop_class_uid, path, "
            "size, mtime_ns, transfer_syntax, instance_number, n_frames, record) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            [rec.sop_uid, series_uid, rec.sop_class_uid, rec.path, rec.size, rec.mtime_ns,
             rec.transfer_syntax, rec.instance_number, rec.n_frames,
             json.dumps(rec.to_json_dict(), separators=(",", ":"))])
    all_recs = series_records(store, series_uid)
    refs = sorted({u for r in all_recs for u in r.referenced_series_uids})
    stacks = [s.description for s in split_stacks(all_recs)]
    db.execute(
        "UPDATE dicom_series SET n_instances = ?, n_frames = ?, stacks = ?, "
        "referenced_series_uids = ? WHERE series_uid = ?",
        [len(all_recs), sum(r.n_frames for r in all_recs), json.dumps(stacks),
         json.dumps(refs), series_uid])


def series_records(store: Store, series_uid: str) -> list[Any]:
    """Return the `InstanceRecord` of every indexed file of a series."""
    from oncoboard.imaging.headers import InstanceRecord

    rows = store.db.execute("SELECT record FROM dicom_instances WHERE series_uid = ? "
                            "ORDER BY sop_uid", [series_uid]).fetchall()
    return [InstanceRecord.from_json_dict(json.loads(r[0])) for r in rows]


def update_records(store: Store, records: list[Any]) -> None:
    """Store re-read records of files that changed since they were indexed."""
    with store.transaction():
        for rec in records:
            store.db.execute(
                "UPDATE dicom_instances SET size = ?, mtime_ns = ?, transfer_syntax = ?, "
                "n_frames = ?, record = ? WHERE sop_uid = ?",
                [rec.size, rec.mtime_ns, rec.transfer_syntax, rec.n_frames,
                 json.dumps(rec.to_json_dict(), separators=(",", ":")), rec.sop_uid])


_SERIES_SQL = """
SELECT s.series_uid, s.study_uid, st.patient_id, st.dicom_patient_id, s.modality,
       s.description, s.series_number, st.study_date, st.description, s.n_instances,
       s.n_frames, s.stacks, s.referenced_series_uids
FROM dicom_series s JOIN dicom_studies st ON st.study_uid = s.study_uid
"""


def list_series(store: Store, patient_id: str | None = None) -> list[SeriesInfo]:
    """Return the indexed series, newest study first, optionally of one patient only.

    A study whose PatientID matched no clinical patient is listed under that PatientID.
    """
    sql, params = _SERIES_SQL, []
    if patient_id is not None:
        sql += " WHERE st.patient_id = ? OR (st.patient_id IS NULL AND st.dicom_patient_id = ?)"
        params = [patient_id, patient_id]
    sql += " ORDER BY st.study_date DESC, s.study_uid, s.series_number, s.series_uid"
    return [SeriesInfo(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6], r[7] or "",
                       r[8] or "", r[9], r[10], json.loads(r[11]), json.loads(r[12]))
            for r in store.db.execute(sql, params)]


def get_series(store: Store, series_uid: str) -> SeriesInfo:
    """Return one indexed series or raise NotFoundError."""
    row = store.db.execute(_SERIES_SQL + " WHERE s.series_uid = ?", [series_uid]).fetchone()
    if row is None:
        raise NotFoundError("series not indexed (run `oncoboard import dicom` first)",
                            where=series_uid)
    return SeriesInfo(row[0], row[1], row[2], row[3] or "", row[4] or "", row[5] or "", row[6],
                      row[7] or "", row[8] or "", row[9], row[10], json.loads(row[11]),
                      json.loads(row[12]))


def relink_studies(store: Store, rule: str = "patient_id") -> int:
    """Link unlinked studies to clinical patients that now exist; return how many were linked.

    ``oncoboard import patients`` and the UI's record import call it after importing records
    (DICOM indexed before its patients' records). Only unlinked studies whose PatientID is a
    patient's ID are read, so it costs one indexed query when there is nothing to link.
    """
    if "patients" not in store.db.table_names():
        return 0
    rows = store.db.execute(
        "SELECT st.study_uid, st.dicom_patient_id, st.birth_date FROM dicom_studies st "
        "JOIN patients p ON p.id = st.dicom_patient_id WHERE st.patient_id IS NULL").fetchall()
    if not rows:
        return 0
    linked = 0
    with store.transaction():
        matched = []
        for study_uid, pid, birth in rows:
            match = match_patient(store, pid, (birth or "").replace("-", ""), rule)
            if match:
                store.db.execute("UPDATE dicom_studies SET patient_id = ? WHERE study_uid = ?",
                                 [match, study_uid])
                matched.append(match)
                linked += 1
        feed.note_record_change(store, matched, "imaging")
    if linked:
        log.info("linked %d DICOM studies to their patients", linked)
    return linked
