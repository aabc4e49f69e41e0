"""The transfer behind :func:`oncoboard.imaging.pacs.retrieve`: C-GET, or C-MOVE to a local SCP.

Files are written as they arrive, each to a temporary name then renamed, so a file on disk is
always complete. A cancelled or failed retrieval removes the files it created (files that were
already there, e.g. from an earlier retrieval of the same study, are left alone).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.presentation import build_context
from pynetdicom.transport import ThreadedAssociationServer

from oncoboard.config import PacsNode
from oncoboard.errors import NotFoundError, OncoboardError, PacsError, StorageError
from oncoboard.imaging.pacs_net import (
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    _timeouts,
    address,
    associate,
    check_status,
    get_contexts,
    status_text,
    storage_scp_ae,
    supports,
)

if TYPE_CHECKING:
    from oncoboard.imaging.pacs import Cancel, Progress, RetrieveReport

log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_PENDING = (0xFF00, 0xFF01)
# Storage statuses we answer with.
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000


class _Failed(Exception):
    """The PACS answered the retrieval with a failure status (diagnosed after the transfer)."""

    def __init__(self, code: int, comment: str):
        super().__init__(code, comment)
        self.code = code
        self.comment = comment


class _Sink:
    """Write the instances the PACS sends (C-STORE sub-operations) into the study folder."""

    def __init__(self, folder: Path, cancel: Cancel | None):
        self.folder = folder
        self.cancel = cancel
        self.files: list[Path] = []
        self.created: list[Path] = []
        self.errors: list[str] = []
        self.cancelled = threading.Event()
        self._lock = threading.Lock()

    def handle_store(self, event: Any) -> int:
        """Handle EVT_C_STORE (runs in a pynetdicom thread)."""
        if self.cancelled.is_set() or (self.cancel is not None and self.cancel()):
            self.cancelled.set()
            return _OUT_OF_RESOURCES
        sop_uid = str(event.request.AffectedSOPInstanceUID or "")
        if not _UID.match(sop_uid):
            self.errors.append(f"instance with an invalid SOP instance UID {sop_uid!r} refused")
            return _CANNOT_UNDERSTAND
        path = self.folder / f"{sop_uid}.dcm"
        tmp = path.with_name(f".{sop_uid}.part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            existed = path.exists()
            tmp.write_bytes(event.encoded_dataset(include_meta=True))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self.errors.append(f"cannot write {path}: {exc.strerror or exc}")
            return _OUT_OF_RESOURCES
        with self._lock:
            self.files.append(path)
            if not existed:
                self.created.append(path)
        return 0x0000

    def remove_created(self) -> None:
        """Remove the files this transfer created (after a cancel or a failure)."""
        with self._lock:
            for path in self.created:
                path.unlink(missing_ok=True)
            self.created.clear()
            self.files.clear()
        try:
            self.folder.rmdir()  # only if empty
        except OSError:
            pass


def _identifier(report: RetrieveReport) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if report.series_uid else "STUDY"
    ds.StudyInstanceUID = report.study_uid
    if report.series_uid:
        ds.SeriesInstanceUID = report.series_uid
    return ds


def _counts(status: Dataset) -> tuple[int, int, int, int | None]:
    def n(keyword: str) -> int:
        value = status.get(keyword)
        return int(value) if value not in (None, "") else 0
    remaining = status.get("NumberOfRemainingSuboperations")
    return (n("NumberOfCompletedSuboperations"), n("NumberOfFailedSuboperations"),
            n("NumberOfWarningSuboperations"),
            int(remaining) if remaining not in (None, "") else None)


def _stop(assoc: Association, model: str) -> None:
    if assoc.is_established:
        with contextlib.suppress(Exception):
            assoc.send_c_cancel(1, query_model=model)
        assoc.abort()  # do not wait for the PACS to honour the C-CANCEL


def _watch(assoc: Association, sink: _Sink, cancel: Cancel, done: threading.Event,
           model: str) -> None:
    """Poll `cancel` while we wait on the PACS, which may stay silent for a long time."""
    while not done.wait(0.1):
        if cancel():
            sink.cancelled.set()
            _stop(assoc, model)
            # Wake the caller's thread, blocked on the DIMSE queue until the time-out: pynetdicom
            # queues the same (None, None) when a peer closes the connection.
            assoc.dimse.msg_queue.put((None, None))
            return


def _consume(node: PacsNode, assoc: Association, responses: Iterator[tuple[Dataset, Any]],
             report: RetrieveReport, sink: _Sink, progress: Progress | None,
             cancel: Cancel | None, service: str, model: str) -> None:
    done = threading.Event()
    if cancel is not None:
        threading.Thread(target=_watch, args=(assoc, sink, cancel, done, model),
                         name="oncoboard-pacs-cancel", daemon=True).start()
    try:
        _read_responses(node, assoc, responses, report, sink, progress, cancel, service, model)
    finally:
        done.set()


def _read_responses(node: PacsNode, assoc: Association,
                    responses: Iterator[tuple[Dataset, Any]], report: RetrieveReport,
                    sink: _Sink, progress: Progress | None, cancel: Cancel | None,
                    service: str, model: str) -> None:
    for status, _identifier_ds in responses:
        if sink.cancelled.is_set() or (cancel is not None and cancel()):
            sink.cancelled.set()
            report.cancelled = True
            _stop(assoc, model)
            return
        code = check_status(node, assoc, status, service)
        completed, failed, warning, remaining = _counts(status)
        if code in _PENDING:
            if progress is not None:
                total = 0 if remaining is None else completed + failed + warning + remaining
                progress(len(sink.files), total,
                         f"received {len(sink.files)} of {total or '?'} instances")
            continue
        report.completed, report.failed, report.warning = completed, failed, warning
        if code == 0xFE00:
            report.cancelled = True
        elif code not in (0x0000, 0xB000):
            raise _Failed(code, str(status.get("ErrorComment") or ""))
        if failed:
            report.failures.append(f"{failed} instance(s) could not be sent by the PACS "
                                   f"({status_text(code, service)})")
        return
    if sink.cancelled.is_set():  # the watcher aborted the association
        report.cancelled = True


def _c_get(node: PacsNode, report: RetrieveReport, sink: _Sink, progress: Progress | None,
           cancel: Cancel | None) -> None:
    model = STUDY_ROOT_GET
    contexts, roles = get_contexts()
    with associate(node, [build_context(model), *contexts], service="C-GET", ext_neg=roles,
                   handlers=[(evt.EVT_C_STORE, sink.handle_store)]) as assoc:
        if not supports(assoc, model):
            raise PacsError(f"{address(node)} does not offer C-GET (Study Root); "
                            "use the C-MOVE method")
        responses = assoc.send_c_get(_identifier(report), model)
        _consume(node, assoc, responses, report, sink, progress, cancel, "C-GET", model)


def _c_move(node: PacsNode, report: RetrieveReport, sink: _Sink, progress: Progress | None,
            cancel: Cancel | None, local_ae_title: str, local_host: str,
            local_port: int) -> None:
    model = STUDY_ROOT_MOVE
    scp = storage_scp_ae(local_ae_title)
    _timeouts(scp, node.timeout_s)
    try:
        server = scp.make_server((local_host, local_port),
                                 evt_handlers=[(evt.EVT_C_STORE, sink.handle_store)],
                                 server_class=ThreadedAssociationServer)
    except OSError as exc:
        raise PacsError(f"cannot receive the C-MOVE on local port {local_port}: "
                        f"{exc.strerror or exc} (another program uses it? set local_port in "
                        "the configuration)") from exc
    # Our own thread rather than AE.start_server: its 0.5 s poll made every C-MOVE 0.5 s longer.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="oncoboard-move-scp", daemon=True)
    thread.start()
    try:
        with associate(node, [model], service="C-MOVE") as assoc:
            responses = assoc.send_c_move(_identifier(report), local_ae_title, model)
            _consume(node, assoc, responses, report, sink, progress, cancel, "C-MOVE", model)
    finally:
        socketserver.BaseServer.shutdown(server)
        server.server_close()
        thread.join(timeout=5)


def _what(report: RetrieveReport) -> str:
    return f"series {report.series_uid}" if report.series_uid else f"study {report.study_uid}"


def _diagnose(node: PacsNode, report: RetrieveReport, failure: _Failed, local_ae_title: str,
              local_port: int) -> OncoboardError:
    """Turn a failure status into a message saying what to fix.

    Many PACS (Orthanc among them) answer both an unknown UID and an unknown move destination
    with the generic 0xC000, so a C-FIND tells which it was.
    """
    from oncoboard.imaging.pacs import find

    service = "C-GET" if report.method == "get" else "C-MOVE"
    comment = f" ({failure.comment})" if failure.comment else ""
    base = (f"{address(node)} failed the {service} of {_what(report)}: "
            f"{status_text(failure.code, service)}{comment}")
    destination = (f"the PACS must know our AE title {local_ae_title!r} as a move destination, "
                   f"with this computer's address and port {local_port}: ask its administrator")
    if failure.code == 0xA801:
        return PacsError(f"{base}; {destination}")
    filters = {"study_uid": report.study_uid}
    if report.series_uid:
        filters["series_uid"] = report.series_uid
    try:
        exists = bool(find(node, "series" if report.series_uid else "study", filters))
    except OncoboardError:
        return PacsError(base)
    if not exists:
        return NotFoundError(f"{address(node)} has no {_what(report)}")
    if report.method == "move" and report.completed == 0:
        return PacsError(f"{base}; the {_what(report).split()[0]} exists there, so the move "
                         f"destination is probably unknown to the PACS: {destination}")
    return PacsError(base)


def run_retrieve(node: PacsNode, report: RetrieveReport, *, local_ae_title: str,
                 local_port: int, local_host: str, progress: Progress | None,
                 cancel: Cancel | None) -> None:
    """Fill `report` by retrieving its study or series with its method."""
    sink = _Sink(report.folder / report.study_uid, cancel)
    if cancel is not None and cancel():
        report.cancelled = True
        return
    try:
        if report.method == "get":
            _c_get(node, report, sink, progress, cancel)
        else:
            _c_move(node, report, sink, progress, cancel, local_ae_title, local_host,
                    local_port)
    except _Failed as exc:
        sink.remove_created()
        if sink.errors:  # we refused the instances: the PACS's status only echoes that
            more = f" (and {len(sink.errors) - 1} more)" if len(sink.errors) > 1 else ""
            raise StorageError(f"the {_what(report)} from {address(node)} cannot be saved: "
                               f"{sink.errors[0]}{more}") from None
        raise _diagnose(node, report, exc, local_ae_title, local_port) from None
    except BaseException:
        sink.remove_created()
        raise
    report.failures.extend(sink.errors)
    if sink.cancelled.is_set():
        report.cancelled = True
    if report.cancelled:
        sink.remove_created()
        return
    report.files = sorted(sink.files)
    if progress is not None:
        progress(len(report.files), len(report.files),
                 f"received {len(report.files)} instances")
    if not report.files and not report.failed and not sink.errors:
        raise NotFoundError(f"{address(node)} has no instances of {_what(report)}")
