"""PACS client: verify a node, query it, retrieve studies, store results; DIMSE or DICOMweb.

A DIMSE node is verified with C-ECHO, queried with C-FIND, retrieved from with C-GET or C-MOVE
and stored to with C-STORE; a DICOMweb node (``dicomweb_url``) with a one-study QIDO-RS search,
QIDO-RS, WADO-RS and STOW-RS (:mod:`oncoboard.imaging.dicomweb`). The functions below choose by
the node's kind and return the same things either way.

Nodes come from the site configuration (``settings.pacs``, :class:`~oncoboard.config.PacsNode`).
Every failure a user or IT can act on is a :class:`~oncoboard.errors.PacsError` naming the node,
its address and the reason (refused connection, time-out, rejected association and why, a failure
status such as an unknown move destination). Retrieved files are written as
``DEST/<study UID>/<SOP instance UID>.dcm``; :func:`retrieve_into_store` uses
``DATA_DIR/dicom/pacs`` and then indexes the files with :func:`oncoboard.imaging.index_paths`.

Logs name nodes and UIDs only; patient names appear in query results, never in the log.

Example::

    from oncoboard.config import load_settings
    from oncoboard.imaging import pacs

    settings = load_settings()
    node = settings.pacs_node("hospital-pacs")
    pacs.echo(node)
    studies = pacs.find(node, "study", {"patient_id": "P001", "modality": "CT"})
    report = pacs.retrieve_into_store(settings, store, node, study_uid=studies[0]["study_uid"])
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydicom.dataset import Dataset

from oncoboard.config import PacsNode
from oncoboard.errors import PacsError
from oncoboard.imaging.pacs_net import (
    PATIENT_ROOT_FIND,
    STUDY_ROOT_FIND,
    VERIFICATION,
    address,
    associate,
    check_status,
    status_text,
)

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

Level = Literal["patient", "study", "series"]
LEVELS: tuple[Level, ...] = ("patient", "study", "series")
#: ``progress(done, total, message)`` as in :mod:`oncoboard.imaging.index` (total 0: not known
#: yet); called in the caller's thread.
Progress = Callable[[int, int, str], None]
#: Return True to stop; e.g. ``threading.Event().is_set``.
Cancel = Callable[[], bool]

# (result key, DICOM keyword, kind) returned at each level; kinds: str, date, int, list.
_RETURN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "patient": [("patient_id", "PatientID", "str"), ("patient_name", "PatientName", "str"),
                ("birth_date", "PatientBirthDate", "date"), ("sex", "PatientSex", "str"),
                ("n_studies", "NumberOfPatientRelatedStudies", "int")],
    "study": [("patient_id", "PatientID", "str"), ("patient_name", "PatientName", "str"),
              ("birth_date", "PatientBirthDate", "date"),
              ("study_uid", "StudyInstanceUID", "str"), ("study_date", "StudyDate", "date"),
              ("study_time", "StudyTime", "str"), ("accession_number", "AccessionNumber", "str"),
              ("description", "StudyDescription", "str"), ("modalities", "ModalitiesInStudy",
                                                           "list"),
              ("n_series", "NumberOfStudyRelatedSeries", "int"),
              ("n_instances", "NumberOfStudyRelatedInstances", "int")],
    "series": [("study_uid", "StudyInstanceUID", "str"), ("series_uid", "SeriesInstanceUID", "str"),
               ("modality", "Modality", "str"), ("series_number", "SeriesNumber", "int"),
               ("description", "SeriesDescription", "str"),
               ("body_part", "BodyPartExamined", "str"),
               ("n_instances", "NumberOfSeriesRelatedInstances", "int")],
}
# Filters accepted at each level: snake_case name -> DICOM keyword.
_FILTERS: dict[str, dict[str, str]] = {
    "patient": {"patient_id": "PatientID", "patient_name": "PatientName",
                "birth_date": "PatientBirthDate"},
    "study": {"patient_id": "PatientID", "patient_name": "PatientName",
              "study_uid": "StudyInstanceUID", "study_date": "StudyDate",
              "accession_number": "AccessionNumber", "description": "StudyDescription",
              "modality": "ModalitiesInStudy"},
    "series": {"study_uid": "StudyInstanceUID", "series_uid": "SeriesInstanceUID",
               "modality": "Modality", "description": "SeriesDescription"},
}
_DATE_RANGE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ISO_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})?\s*(\.\.|/)\s*(\d{4}-\d{2}-\d{2})?$")


def _dicom_date(value: str) -> str:
    """Accept ISO dates as find() returns them: 2024-03-15, 2024-01-01..2024-12-31 (or /)."""
    value = value.strip()
    m = _ISO_RANGE.match(value)
    if m:
        value = f"{m.group(1) or ''}-{m.group(3) or ''}"
    return _ISO_DATE.sub(r"\1\2\3", value)
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class EchoResult:
    """A successful C-ECHO: which node answered and how fast."""

    node: str
    elapsed_s: float


@dataclass
class RetrieveReport:
    """What a retrieval brought back.

    Attributes
    ----------
    files
        The files written, ``folder/<study UID>/<SOP instance UID>.dcm``.
    completed, failed, warning
        Sub-operation counts as the PACS reported them.
    failures
        One line per problem (a failed sub-operation count, a file that could not be written).
    cancelled
        True if `cancel` stopped the transfer; the files it had brought are then removed.
    index
        The :class:`~oncoboard.imaging.IndexReport` of :func:`retrieve_into_store`, else None.
    """

    node: str
    method: str
    study_uid: str
    series_uid: str | None
    folder: Path
    files: list[Path] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failures: list[str] = field(default_factory=list)
    cancelled: bool = False
    elapsed_s: float = 0.0
    index: Any = None
    already_present: int = 0   # DICOMweb: instances found here and not fetched again

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values (paths as strings)."""
        out = asdict(self)  # the IndexReport, a dataclass, becomes a dict too
        out["folder"] = str(self.folder)
        out["files"] = [str(p) for p in self.files]
        return out


def echo(node: PacsNode) -> EchoResult:
    """Send a C-ECHO to `node` and return how long the round trip took.

    Raises
    ------
    PacsError
        The node cannot be reached, rejects us or answers with a failure status.
    """
    if node.is_dicomweb:
        from oncoboard.imaging import dicomweb

        elapsed = dicomweb.echo(node)
        log.info("QIDO-RS echo %s: ok in %.0f ms", node.name, elapsed * 1000)
        return EchoResult(node.name, elapsed)
    start = time.monotonic()
    with associate(node, [VERIFICATION], service="C-ECHO") as assoc:
        status = assoc.send_c_echo()
        code = check_status(node, assoc, status, "C-ECHO")
    if code != 0x0000:
        raise PacsError(f"{address(node)} answered the C-ECHO with {status_text(code)}")
    elapsed = time.monotonic() - start
    log.info("C-ECHO %s: ok in %.0f ms", node.name, elapsed * 1000)
    return EchoResult(node.name, elapsed)


def _check_filters(level: str, filters: Mapping[str, str]) -> None:
    if level not in LEVELS:
        raise PacsError(f"unknown query level {level!r} (use {', '.join(LEVELS)})")
    unknown = set(filters) - set(_FILTERS[level])
    if unknown:
        raise PacsError(f"cannot filter {level}s by {', '.join(sorted(unknown))} "
                        f"(use {', '.join(_FILTERS[level])})")
    for key, value in filters.items():
        if key in ("study_date", "birth_date") and not (
                _DATE_RANGE.match(value) and value.strip("-")):
            raise PacsError(f"invalid {key} {value!r}: use YYYYMMDD, YYYYMMDD-YYYYMMDD, "
                            "YYYYMMDD- or -YYYYMMDD (or ISO: 2024-03-15, "
                            "2024-01-01..2024-12-31)")
        if key in ("study_uid", "series_uid") and not _UID.match(value):
            raise PacsError(f"invalid {key} {value!r}: a UID is digits separated by dots")


def _query(level: str, filters: Mapping[str, str]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for _, keyword, _kind in _RETURN_KEYS[level]:
        setattr(ds, keyword, "")
    for key, value in filters.items():
        setattr(ds, _FILTERS[level][key], value)
    return ds


def _value(ds: Dataset, keyword: str, kind: str) -> Any:
    raw = ds.get(keyword)
    if kind == "list":
        if raw is None or raw == "":
            return []
        return [str(v) for v in raw] if not isinstance(raw, str) else [raw]
    if raw is None or raw == "":
        return None
    if kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None
    text = str(raw)
    if kind == "date" and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def find(node: PacsNode, level: Level, filters: Mapping[str, str] | None = None, *,
         limit: int | None = None) -> list[dict[str, Any]]:
    """Query `node` with C-FIND and return one dict per match.

    Parameters
    ----------
    level
        ``"patient"`` (Patient Root model), ``"study"`` or ``"series"`` (Study Root model).
    filters
        Matching keys by their snake_case names: patient level ``patient_id``, ``patient_name``,
        ``birth_date``; study level also ``study_uid``, ``study_date``, ``accession_number``,
        ``description``, ``modality``; series level ``study_uid`` (most PACS need it),
        ``series_uid``, ``modality``, ``description``. DICOM matching applies (``*`` wildcards;
        dates ``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, open ranges; ISO ``2024-03-15`` and
        ``2024-01-01..2024-12-31`` are accepted too).
    limit
        Stop after this many matches (the query is cancelled on the PACS); ask for one more
        than you show to know whether there were more.

    Returns
    -------
    list of dict
        Keys by level (missing values are None): patient: patient_id, patient_name, birth_date,
        sex, n_studies; study: patient_id, patient_name, birth_date, study_uid, study_date,
        study_time, accession_number, description, modalities (list), n_series, n_instances;
        series: study_uid, series_uid, modality, series_number, description, body_part,
        n_instances. Dates are ISO (``2024-03-15``). Sorted by patient, date, series number.
    """
    filters = dict(filters or {})
    for key in ("study_date", "birth_date"):
        if key in filters:
            filters[key] = _dicom_date(filters[key])
    _check_filters(level, filters)
    results: list[dict[str, Any]] = []
    if node.is_dicomweb:
        from oncoboard.imaging import dicomweb

        for ds in dicomweb.find(node, level, filters, _RETURN_KEYS[level], _FILTERS[level],
                                limit):
            results.append({key: _value(ds, kw, kind) for key, kw, kind in _RETURN_KEYS[level]})
        log.info("QIDO-RS %s level=%s filters=%s: %d matches", node.name, level,
                 sorted(k for k in filters if k not in ("patient_name",)), len(results))
        results.sort(key=lambda r: (r.get("patient_id") or "", r.get("study_date") or "",
                                    r.get("series_number") or 0))
        return results
    model = (PATIENT_ROOT_FIND if level == "patient"
             else STUDY_ROOT_FIND)
    with associate(node, [model], service="C-FIND") as assoc:
        for status, identifier in assoc.send_c_find(_query(level, filters), model):
            code = check_status(node, assoc, status, "C-FIND")
            if code in (0xFF00, 0xFF01):
                if identifier is not None:
                    results.append({key: _value(identifier, kw, kind)
                                    for key, kw, kind in _RETURN_KEYS[level]})
                if limit is not None and len(results) >= limit:
                    assoc.send_c_cancel(1, query_model=model)
                    assoc.abort()  # the rest of the answers is not wanted
                    break
            elif code != 0x0000:
                raise PacsError(f"{address(node)} failed the {level} C-FIND: "
                                f"{status_text(code, 'C-FIND')}{_error_comment(status)}")
    log.info("C-FIND %s level=%s filters=%s: %d matches", node.name, level,
             sorted(k for k in filters if k not in ("patient_name",)), len(results))
    results.sort(key=lambda r: (r.get("patient_id") or "", r.get("study_date") or "",
                                r.get("series_number") or 0))
    return results


def _error_comment(status: Dataset) -> str:
    comment = status.get("ErrorComment")
    return f" ({comment})" if comment else ""


def retrieve(node: PacsNode, *, dest: Path, study_uid: str | None = None,
             series_uid: str | None = None, method: str = "get",
             local_ae_title: str = "ONCOBOARD", local_port: int = 11113,
             local_host: str = "", progress: Progress | None = None,
             cancel: Cancel | None = None,
             have: Callable[[str], bool] | None = None) -> RetrieveReport:
    """Retrieve a study or a series from `node` into ``dest/<study UID>/``.

    Parameters
    ----------
    dest
        The folder under which each study gets its own folder.
    study_uid, series_uid
        What to retrieve: a whole study, or one series (its study is looked up by C-FIND when
        `study_uid` is not given).
    method
        ``"get"``: C-GET, the files come back on the same association (no configuration on the
        PACS beyond knowing our AE title). ``"move"``: C-MOVE to `local_ae_title`, which the PACS
        must know with our host and `local_port`; a storage SCP listens there (on `local_host`,
        all interfaces by default) for the duration of the transfer.
    progress
        Called as ``progress(files received, files expected, message)`` after each file (the
        PACS tells the expected count with its first pending response; 0 until then).
    cancel
        Polled during the transfer; when it returns True the transfer stops (C-CANCEL, then the
        association is aborted), the files of this call are removed and the report says
        ``cancelled``.

    have
        DICOMweb nodes: returns True for a SOP instance UID already indexed; such instances
        (and those already in the study folder) are not fetched again, so a second run after
        a cancel or a dropped connection fetches only the rest. The method is then WADO-RS.

    Raises
    ------
    PacsError
        Unreachable node, rejected association, a failure status (e.g. ``0xA801 Move
        destination unknown``), nothing found, or the local port for C-MOVE is in use.
    """
    from oncoboard.imaging.pacs_retrieve import run_retrieve

    if node.is_dicomweb:
        return _retrieve_web(node, Path(dest), study_uid, series_uid, progress, cancel, have)

    if method not in ("get", "move"):
        raise PacsError(f"unknown retrieval method {method!r} (use get or move)")
    if study_uid is None and series_uid is None:
        raise PacsError("give a study UID or a series UID to retrieve")
    for key, uid in (("study UID", study_uid), ("series UID", series_uid)):
        if uid is not None and not _UID.match(uid):
            raise PacsError(f"invalid {key} {uid!r}: a UID is digits separated by dots")
    if study_uid is None:
        assert series_uid is not None
        found = find(node, "series", {"series_uid": series_uid})
        if not found or not found[0].get("study_uid"):
            raise PacsError(f"{address(node)} has no series {series_uid}")
        study_uid = str(found[0]["study_uid"])
    report = RetrieveReport(node.name, method, study_uid, series_uid, Path(dest))
    start = time.monotonic()
    run_retrieve(node, report, local_ae_title=local_ae_title, local_port=local_port,
                 local_host=local_host, progress=progress, cancel=cancel)
    report.elapsed_s = time.monotonic() - start
    log.info("%s %s study=%s series=%s: %d files, %d failed, cancelled=%s, %.1f s",
             "C-GET" if method == "get" else "C-MOVE", node.name, study_uid, series_uid,
             len(report.files), report.failed, report.cancelled, report.elapsed_s)
    return report


def _retrieve_web(node: PacsNode, dest: Path, study_uid: str | None, series_uid: str | None,
                  progress: Progress | None, cancel: Cancel | None,
                  have: Callable[[str], bool] | None) -> RetrieveReport:
    from oncoboard.imaging import dicomweb

    if study_uid is None and series_uid is None:
        raise PacsError("give a study UID or a series UID to retrieve")
    for key, uid in (("study UID", study_uid), ("series UID", series_uid)):
        if uid is not None and not _UID.match(uid):
            raise PacsError(f"invalid {key} {uid!r}: a UID is digits separated by dots")
    report = RetrieveReport(node.name, "wado-rs", study_uid or "", series_uid, dest)
    start = time.monotonic()
    if cancel is not None and cancel():
        report.cancelled = True
        return report
    dicomweb.retrieve(node, report, have=have, progress=progress, cancel=cancel)
    report.elapsed_s = time.monotonic() - start
    log.info("WADO-RS %s study=%s series=%s: %d fetched, %d already here, cancelled=%s, %.1f s",
             node.name, report.study_uid, series_uid, report.completed, report.already_present,
             report.cancelled, report.elapsed_s)
    return report


def indexed(store: Store) -> Callable[[str], bool]:
    """Return ``have(sop_uid)``: True when the instance is indexed and its file is still there."""
    def have(sop_uid: str) -> bool:
        row = next(iter(store.db.query(
            "SELECT path FROM dicom_instances WHERE sop_uid = ?", [sop_uid])), None)
        return row is not None and Path(row["path"]).is_file()
    return have


@dataclass
class StoreResult:
    """What happened to one instance sent to a PACS: stored, or why not."""

    sop_uid: str
    stored: bool
    reason: str = ""


def store(node: PacsNode, datasets: list[Dataset],
          study_uid: str | None = None) -> list[StoreResult]:
    """Store `datasets` on `node`: STOW-RS for a DICOMweb node, C-STORE for a DIMSE one.

    Returns one result per dataset, in order: an instance the PACS refused says why. A node
    that cannot be reached (or refuses us) raises PacsError: then nothing was stored.
    """
    if not datasets:
        return []
    if node.is_dicomweb:
        from oncoboard.imaging import dicomweb

        outcome = dicomweb.store(node, datasets, study_uid)
    else:
        from oncoboard.imaging.pacs_store import c_store

        outcome = c_store(node, datasets)
    results = []
    for ds in datasets:
        reason = outcome.get(str(ds.SOPInstanceUID))
        results.append(StoreResult(str(ds.SOPInstanceUID), reason is None, reason or ""))
    log.info("%s %s: %d stored, %d refused", "STOW-RS" if node.is_dicomweb else "C-STORE",
             node.name, sum(r.stored for r in results), sum(not r.stored for r in results))
    return results


def pacs_folder(data_dir: Path) -> Path:
    """Return the folder retrieved studies are written to: ``DATA_DIR/dicom/pacs``."""
    return Path(data_dir) / "dicom" / "pacs"


def retrieve_into_store(settings: Settings, store: Store, node: PacsNode, *,
                        study_uid: str | None = None, series_uid: str | None = None,
                        method: str = "get", progress: Progress | None = None,
                        cancel: Cancel | None = None) -> RetrieveReport:
    """Retrieve into ``DATA_DIR/dicom/pacs/<study UID>/`` and index the files into `store`.

    `settings` gives the data folder and the local AE title and port (for C-MOVE). The report's
    ``index`` is the :class:`~oncoboard.imaging.IndexReport`; a cancelled retrieval indexes
    nothing.
    """
    report = retrieve(node, dest=pacs_folder(settings.data_dir), study_uid=study_uid,
                      series_uid=series_uid, method=method,
                      local_ae_title=settings.local_ae_title, local_port=settings.local_port,
                      local_host=settings.local_host,
                      progress=progress, cancel=cancel,
                      have=indexed(store) if node.is_dicomweb else None)
    if report.files and not report.cancelled:
        from oncoboard.imaging import index_paths

        report.index = index_paths(store, report.files, progress=progress, cancel=cancel,
                                   settings=settings)
    return report
