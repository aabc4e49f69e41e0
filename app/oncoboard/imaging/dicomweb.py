"""DICOMweb client under the PACS client: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

A DICOMweb node is a :class:`~oncoboard.config.PacsNode` with ``dicomweb_url``; the functions
of :mod:`oncoboard.imaging.pacs` call into this module for such nodes, so callers do not care
which kind of node they talk to. The HTTP work is done by dicomweb-client (on requests).

Credentials: ``auth = "basic"`` (``username`` + password) or ``"bearer"`` (a token). The secret
is read from the OS keyring (service :attr:`PacsNode.keyring_name`, user the node's username,
or ``token`` for bearer), else from the environment variable named by ``secret_env``; never from
a configuration file. A machine without a keyring backend is named as such in the error.

TLS: ``tls_verify`` (default on) and ``tls_ca_bundle`` (the hospital's CA, PEM).

Retrieval writes ``DEST/<study UID>/<SOP instance UID>.dcm`` (each file to a temporary name,
then renamed, so every file on disk is complete) and fetches only the instances that are not
already there or in the index, so a second run after a cancel or a dropped connection resumes.
Files kept after a cancel or a network fault are not indexed until a retrieval completes; an
instance that vanished from the PACS since the search removes the files of the run.
Nothing here logs patient names or IDs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from oncoboard.config import PacsNode
from oncoboard.errors import NotFoundError, OncoboardError, PacsError, StorageError
from oncoboard.remote import (  # noqa: F401 (keyring_user, secret, session_class: API here too)
    http_session,
    keyring_user,
    secret,
    session_class,
)

if TYPE_CHECKING:
    from oncoboard.imaging.pacs import Cancel, Progress, RetrieveReport

log = logging.getLogger(__name__)
logging.getLogger("dicomweb_client").setLevel(logging.WARNING)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Accept header of WADO-RS retrieval: the instances as stored (compressed stays compressed).
ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def address(node: PacsNode) -> str:
    """Return ``"PACS 'name' at URL"`` for messages."""
    return f"PACS {node.name!r} at {node.dicomweb_url}"


# -- credentials: oncoboard.remote (shared with the FHIR client) ------------------------------

def client(node: PacsNode) -> Any:
    """Return a dicomweb-client ``DICOMwebClient`` for `node` (auth, TLS, time-out set)."""
    from dicomweb_client.api import DICOMwebClient

    web = DICOMwebClient(node.dicomweb_url, session=http_session(node), timeout=node.timeout_s)
    web.set_http_retry_params(retry=False)  # we say what failed at once; the user retries
    return web


# -- errors -------------------------------------------------------------------------------------

def _http_failure(node: PacsNode, exc: BaseException, what: str) -> OncoboardError:
    import requests

    where = address(node)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = str(exc)
        m = re.search(r"certificate verify failed: ([^(\"')]+)", reason)
        detail = m.group(1).strip() if m else "the TLS handshake failed"
        return PacsError(f"{where}: TLS check failed ({detail}); if the hospital uses its own "
                         "certificate authority, set tls_ca_bundle to its PEM file")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return PacsError(f"{where} did not accept a connection within {node.timeout_s:g} s "
                         "(check the address and any firewall or proxy)")
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Name or service not known" in text or "nodename nor servname" in text or \
                "getaddrinfo" in text:
            return PacsError(f"PACS {node.name!r}: unknown host in {node.dicomweb_url}")
        if "refused" in text.lower():
            return PacsError(f"{where} refused the connection (is the PACS running, and is "
                             "the URL right?)")
        if isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in text:
            return PacsError(f"{where} did not answer the {what} within {node.timeout_s:g} s")
        return PacsError(f"{where} cannot be reached during the {what}: the connection failed "
                         "or was closed")
    if isinstance(exc, requests.exceptions.Timeout):
        return PacsError(f"{where} did not answer the {what} within {node.timeout_s:g} s")
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code == 401:
            how = ("no credentials were sent: set auth in the node's configuration"
                   if node.auth == "none" else
                   f"check the username and the secret in the keyring ({node.keyring_name})"
                   + (f" or {node.secret_env}" if node.secret_env else ""))
            return PacsError(f"{where} refused the credentials (HTTP 401) for the {what}: {how}")
        if code == 403:
            return PacsError(f"{where} forbids the {what} to this user (HTTP 403): ask its "
                             "administrator for access")
        if code == 404:
            return NotFoundError(f"{where}: not found (HTTP 404) during the {what}; is "
                                 "dicomweb_url the DICOMweb root (e.g. .../dicom-web)?")
        return PacsError(f"{where} failed the {what}: HTTP {code} {exc.response.reason or ''}"
                         .rstrip())
    if isinstance(exc, requests.exceptions.RequestException):
        return PacsError(f"{where}: the {what} failed ({type(exc).__name__})")
    return PacsError(f"{where} sent an answer to the {what} that cannot be read ({exc})")


@contextlib.contextmanager
def _calls(node: PacsNode, what: str) -> Iterator[None]:
    import requests

    try:
        yield
    except OncoboardError:
        raise
    except (requests.exceptions.RequestException, ValueError, KeyError) as exc:
        raise _http_failure(node, exc, what) from None


# -- echo and search ----------------------------------------------------------------------------

def qido(web: Any, path: str, filters: Mapping[str, str] | None = None,
         fields: Sequence[str] = (), limit: int | None = None) -> list[dict[str, Any]]:
    """Return the JSON answer of a QIDO-RS search of `path` (``studies``, ``studies/UID/series``).

    The query string keeps ``*`` and ``?`` as they are: dicomweb-client percent-encodes them,
    and Orthanc (1.10, DICOMweb 1.7) then matches them literally, so wildcards found nothing.
    """
    from urllib.parse import quote

    params = [(k, v) for k, v in (filters or {}).items()]
    params += [("includefield", f) for f in fields]
    if limit is not None:
        params.append(("limit", str(limit)))
    query = "&".join(f"{quote(k, safe='')}={quote(str(v), safe='*?,-.^ ')}"
                     .replace(" ", "%20") for k, v in params)
    url = f"{web.base_url.rstrip('/')}/{path}" + (f"?{query}" if query else "")
    response = web._session.get(url, headers={"Accept": "application/dicom+json"},
                                timeout=web._timeout)
    response.raise_for_status()
    if response.status_code == 204 or not response.content:
        return []
    rows = response.json()
    if not isinstance(rows, list):
        raise ValueError("a QIDO-RS answer that is not a JSON list")
    return rows


def echo(node: PacsNode) -> float:
    """Do a cheap QIDO-RS search (one study at most) and return the seconds it took."""
    start = time.monotonic()
    web = client(node)
    with _calls(node, "QIDO-RS echo"):
        qido(web, "studies", fields=["StudyInstanceUID"], limit=1)
    return time.monotonic() - start


def _datasets(rows: list[dict[str, Any]]) -> list[Dataset]:
    return [Dataset.from_json(row) for row in rows]


def find(node: PacsNode, level: str, filters: Mapping[str, str],
         return_keys: Sequence[tuple[str, str, str]], filter_keywords: Mapping[str, str],
         limit: int | None) -> list[Dataset]:
    """Return the QIDO-RS matches at `level` as datasets holding the `return_keys`.

    Filters are DICOM keywords with DICOM matching (wildcards, date ranges), as for C-FIND.
    The patient level (which QIDO-RS lacks) searches studies and keeps one row per patient,
    with NumberOfPatientRelatedStudies counted.
    """
    web = client(node)
    search = {filter_keywords[k]: v for k, v in filters.items()}
    fields = [kw for _, kw, _ in return_keys if kw != "NumberOfPatientRelatedStudies"]
    with _calls(node, f"{level} QIDO-RS search"):
        if level == "study":
            return _datasets(qido(web, "studies", search, fields, limit))
        if level == "series":
            study = search.pop("StudyInstanceUID", None)
            path = f"studies/{study}/series" if study else "series"
            rows = qido(web, path, search, fields, limit)
            found = _datasets(rows)
            for ds in found:
                if study and "StudyInstanceUID" not in ds:
                    ds.StudyInstanceUID = study
            return found
        rows = qido(web, "studies", search, fields)
    patients: dict[str, Dataset] = {}
    for ds in _datasets(rows):
        pid = str(ds.get("PatientID", ""))
        if pid not in patients:
            patients[pid] = ds
            ds.NumberOfPatientRelatedStudies = 0
        patients[pid].NumberOfPatientRelatedStudies += 1
    found = list(patients.values())
    return found[:limit] if limit is not None else found


# -- retrieve -----------------------------------------------------------------------------------

def _listing(node: PacsNode, web: Any, study_uid: str, series_uid: str | None) -> list[
        tuple[str, str]]:
    """Return (series UID, SOP instance UID) of every instance to retrieve."""
    what = f"series {series_uid}" if series_uid else f"study {study_uid}"
    try:
        with _calls(node, "QIDO-RS instance search"):
            path = (f"studies/{study_uid}/series/{series_uid}/instances" if series_uid
                    else f"studies/{study_uid}/instances")
            rows = qido(web, path, fields=["SeriesInstanceUID", "SOPInstanceUID"])
    except NotFoundError:
        rows = []
    out = []
    for ds in _datasets(rows):
        sop = str(ds.get("SOPInstanceUID", ""))
        if _UID.match(sop):
            out.append((str(ds.get("SeriesInstanceUID", series_uid or "")), sop))
    if not out:
        raise NotFoundError(f"{address(node)} has no instances of {what} (deleted since the "
                            "search?)")
    return out


def _parts(web: Any, url: str) -> Iterator[bytes]:
    """Yield the DICOM files of a multipart WADO-RS answer as they arrive (raw bytes)."""
    response = web._http_get(url, headers={"Accept": ACCEPT_DICOM}, stream=True)
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/dicom"):
        yield response.content  # a non-conformant single part, as dicomweb-client accepts
        return
    # dicomweb-client's own multipart decoder (private; the pinned versions have it).
    yield from web._decode_multipart_message(response, stream=True)


def _sop_of(part: bytes) -> str:
    ds = dcmread(BytesIO(part), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    meta = getattr(ds, "file_meta", None)
    uid = str(ds.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else "")
              or "")
    if not _UID.match(uid):
        raise ValueError("an instance without a valid SOP instance UID")
    return uid


@dataclass
class _Run:
    folder: Path
    created: list[Path]
    written: dict[str, Path]


def _write(run: _Run, part: bytes, wanted: set[str]) -> str | None:
    sop = _sop_of(part)
    if sop not in wanted or sop in run.written:
        return None
    path = run.folder / f"{sop}.dcm"
    tmp = path.with_name(f".{sop}.part")
    try:
        run.folder.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        tmp.write_bytes(part)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        run.created.append(path)
    run.written[sop] = path
    return sop


def retrieve(node: PacsNode, report: RetrieveReport, *, have: Callable[[str], bool] | None,
             progress: Progress | None, cancel: Cancel | None) -> None:
    """Fill `report` by fetching, with WADO-RS, the instances of its study or series missing here.

    Parameters
    ----------
    have
        Returns True for a SOP instance UID already in the local index (not fetched again).
    """
    web = client(node)
    if report.study_uid == "":
        with _calls(node, "QIDO-RS series search"):
            rows = qido(web, "series", {"SeriesInstanceUID": str(report.series_uid)},
                        ["StudyInstanceUID"])
        if not rows:
            raise NotFoundError(f"{address(node)} has no series {report.series_uid} (deleted "
                                "since the search?)")
        report.study_uid = str(_datasets(rows)[0].get("StudyInstanceUID", ""))
    listed = _listing(node, web, report.study_uid, report.series_uid)
    folder = report.folder / report.study_uid
    run = _Run(folder, [], {})
    present = {sop for _, sop in listed
               if (folder / f"{sop}.dcm").is_file() or (have is not None and have(sop))}
    report.already_present = len(present)
    total = len(listed)
    by_series: dict[str, list[str]] = {}
    for series, sop in listed:
        if sop not in present:
            by_series.setdefault(series, []).append(sop)
    done = len(present)
    if progress is not None:
        progress(done, total, f"{done} of {total} instances already here")
    try:
        for series, sops in by_series.items():
            wanted = set(sops)
            whole = len(sops) == sum(1 for s, _ in listed if s == series)
            urls = ([f"{node.dicomweb_url}/studies/{report.study_uid}/series/{series}"]
                    if whole else
                    [f"{node.dicomweb_url}/studies/{report.study_uid}/series/{series}"
                     f"/instances/{sop}" for sop in sops])
            for url in urls:
                with _calls(node, "WADO-RS retrieval"):
                    for part in _parts(web, url):
                        if cancel is not None and cancel():
                            report.cancelled = True
                            break
                        if _write(run, part, wanted) is not None:
                            done += 1
                            if progress is not None:
                                progress(done, total, f"received {done} of {total} instances")
                if report.cancelled:
                    break
                if cancel is not None and cancel():
                    report.cancelled = True
                    break
            if report.cancelled:
                break
            missing = wanted - set(run.written)
            if missing:
                raise NotFoundError(f"{address(node)} did not send {len(missing)} instance(s) "
                                    f"of series {series} (deleted since the search?)")
    except NotFoundError as exc:
        # The PACS lost what it listed: a permanent failure, the run's files go.
        _remove(run)
        raise NotFoundError(f"{exc.reason.split(' during ')[0]}; the {_what(report)} changed on "
                            "the PACS since the search (deleted?); nothing was stored") from None
    except OncoboardError as exc:
        if run.written and isinstance(exc, PacsError):
            raise PacsError(f"{exc.message}; {len(run.written)} instance(s) received so far are "
                            f"kept in {folder} and not indexed: run the retrieval again to "
                            "fetch the rest") from None
        raise
    report.completed = len(run.written)
    if report.cancelled:
        # Complete files stay for the next run (which fetches only the rest); none is indexed.
        report.failures.append(f"cancelled: {len(run.written)} instance(s) kept in {folder} "
                               "for the next run; nothing indexed")
        report.files = []
        return
    report.files = sorted({*run.written.values(),
                           *(folder / f"{sop}.dcm" for sop in present
                             if (folder / f"{sop}.dcm").is_file())})


def _what(report: RetrieveReport) -> str:
    return f"series {report.series_uid}" if report.series_uid else f"study {report.study_uid}"


def _remove(run: _Run) -> None:
    for path in run.created:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run.folder.rmdir()


# -- store --------------------------------------------------------------------------------------

_STOW_REASONS = {0xA700: "out of resources", 0xA900: "data set does not match SOP class",
                 0xC000: "cannot understand", 0xC122: "referenced transfer syntax not supported",
                 0x0110: "processing failure", 0x0122: "SOP class not supported",
                 0xA7FE: "the instance does not belong to the study of the request"}


def store(node: PacsNode, datasets: Sequence[Dataset],
          study_uid: str | None = None) -> dict[str, str | None]:
    """Store `datasets` with one STOW-RS request; return SOP UID -> None (stored) or the reason.

    With `study_uid` the request goes to ``studies/UID`` and the PACS refuses any instance of
    another study.

    Raises
    ------
    PacsError
        The node cannot be reached, refuses the credentials or fails the whole request.
    """
    import requests

    web = client(node)
    outcome: dict[str, str | None] = {str(ds.SOPInstanceUID): "not acknowledged by the PACS"
                                      for ds in datasets}
    try:
        with _calls(node, "STOW-RS store"):
            try:
                answer = web.store_instances(list(datasets), study_instance_uid=study_uid)
            except requests.exceptions.HTTPError as exc:
                # 409: every instance failed; the body lists why, like a 202's.
                if exc.response is None or exc.response.status_code != 409:
                    raise
                answer = Dataset.from_json(exc.response.json())
    except NotFoundError as exc:
        raise PacsError(exc.reason) from None
    for item in answer.get("ReferencedSOPSequence", []):
        outcome[str(item.ReferencedSOPInstanceUID)] = None
    for item in answer.get("FailedSOPSequence", []):
        code = int(item.get("FailureReason", 0) or 0)
        outcome[str(item.ReferencedSOPInstanceUID)] = (
            f"the PACS refused it (STOW-RS failure 0x{code:04X} "
            f"{_STOW_REASONS.get(code, '')})".replace(" )", ")"))
    _check_stored(node, web, datasets, outcome)
    return outcome


def _check_stored(node: PacsNode, web: Any, datasets: Sequence[Dataset],
                  outcome: dict[str, str | None]) -> None:
    """Look for the acknowledged instances on the PACS (one QIDO-RS search per series).

    A PACS may acknowledge an instance it then drops: Orthanc 1.10's STOW-RS answers success
    for an instance its ReceivedInstanceFilter refused. Such an instance is marked not stored.
    A search that fails leaves the acknowledgement as it is.
    """
    by_series: dict[tuple[str, str], list[str]] = {}
    for ds in datasets:
        sop = str(ds.SOPInstanceUID)
        if outcome.get(sop) is None:
            by_series.setdefault((str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)),
                                 []).append(sop)
    for (study, series), sops in by_series.items():
        try:
            rows = qido(web, f"studies/{study}/series/{series}/instances",
                        fields=["SOPInstanceUID"])
        except Exception as exc:  # noqa: BLE001 - the store itself succeeded
            log.warning("%s: stored instances of series %s not checked (%s)", address(node),
                        series, type(exc).__name__)
            continue
        found = {str(ds.get("SOPInstanceUID", "")) for ds in _datasets(rows)}
        for sop in sops:
            if sop not in found:
                outcome[sop] = ("the PACS acknowledged it but does not hold it (dropped by a "
                                "filter or rule of the PACS)")
