"""DICOM networking under the PACS client: associations, presentation contexts, readable errors.

pynetdicom reports a failed association through flags and log lines only; this module turns each
way of failing (host unknown, connection refused or timed out, no answer to the association
request, association rejected and why, no acceptable presentation context, a DIMSE time-out or
abort) into a :class:`~oncoboard.errors.PacsError` whose message names the node, its address
and what to check. Nothing here logs identifiers of patients: pynetdicom is told not to log
query identifiers, and its own logger is kept at WARNING.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, _config, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context, build_role
from pynetdicom.status import (
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from oncoboard.config import PacsNode
from oncoboard.errors import PacsError

# Query identifiers carry patient names: never let pynetdicom write them to the log.
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

VERIFICATION = uid.UID("1.2.840.10008.1.1")
PATIENT_ROOT_FIND = uid.UID("1.2.840.10008.5.1.4.1.2.1.1")
STUDY_ROOT_FIND = uid.UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_MOVE = uid.UID("1.2.840.10008.5.1.4.1.2.2.2")
STUDY_ROOT_GET = uid.UID("1.2.840.10008.5.1.4.1.2.2.3")

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                ExplicitVRBigEndian)
#: Every compressed syntax the imaging loader can decode (imagecodecs, pylibjpeg plugins, pyjpegls).
COMPRESSED = (JPEGLosslessSV1, JPEGLossless, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless,
              JPEG2000, RLELossless, JPEGBaseline8Bit, JPEGExtended12Bit, HTJ2KLossless,
              HTJ2KLosslessRPCL, HTJ2K)
_LOSSLESS = (RLELossless, JPEG2000Lossless, JPEGLosslessSV1)

#: Storage SOP classes received by C-GET and C-MOVE, with the compressed syntaxes proposed for
#: each in C-GET. A C-GET requestor proposes one presentation context per (class, syntax) the
#: PACS may send in, and there are at most 128 contexts, so structure sets and plans (no pixels)
#: get none and derived objects only the usual lossless ones.
STORAGE_CLASSES: dict[str, tuple[str, ...]] = {
    uid.CTImageStorage: COMPRESSED,
    uid.EnhancedCTImageStorage: COMPRESSED,
    uid.MRImageStorage: COMPRESSED,
    uid.EnhancedMRImageStorage: COMPRESSED,
    uid.PositronEmissionTomographyImageStorage: COMPRESSED,
    uid.LegacyConvertedEnhancedCTImageStorage: _LOSSLESS,
    uid.EnhancedPETImageStorage: _LOSSLESS,
    uid.RTStructureSetStorage: (),
    uid.RTPlanStorage: (),
    uid.RTDoseStorage: (RLELossless,),
    uid.SegmentationStorage: _LOSSLESS,
    uid.SecondaryCaptureImageStorage: (JPEGBaseline8Bit, *_LOSSLESS),
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage: (JPEGBaseline8Bit, *_LOSSLESS),
    uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage: _LOSSLESS,
}

_STATUS_TEXT = {"C-FIND": QR_FIND_SERVICE_CLASS_STATUS, "C-GET": QR_GET_SERVICE_CLASS_STATUS,
                "C-MOVE": QR_MOVE_SERVICE_CLASS_STATUS}


def address(node: PacsNode) -> str:
    """Return ``"PACS 'name' at host:port"`` (or at its DICOMweb URL) for messages."""
    if node.dicomweb_url:
        return f"PACS {node.name!r} at {node.dicomweb_url}"
    return f"PACS {node.name!r} at {node.host}:{node.port}"


def status_text(code: int, service: str = "") -> str:
    """Return e.g. ``"0xA801 Move destination unknown"`` for a status of `service` (C-FIND...)."""
    text = _STATUS_TEXT.get(service, {}).get(code, ("", ""))[1] or code_to_category(code)
    return f"0x{code:04X} {text}".rstrip()


def get_contexts() -> tuple[list[PresentationContext], list[Any]]:
    """Return the storage contexts and SCP role items a C-GET requestor proposes."""
    contexts = []
    for sop_class, compressed in STORAGE_CLASSES.items():
        contexts.append(build_context(sop_class, list(UNCOMPRESSED)))
        contexts.extend(build_context(sop_class, ts) for ts in compressed)
    roles = [build_role(sop_class, scp_role=True) for sop_class in STORAGE_CLASSES]
    return contexts, roles


def storage_scp_ae(ae_title: str) -> AE:
    """Return an AE accepting every storage class of :data:`STORAGE_CLASSES` in any syntax."""
    ae = AE(ae_title=ae_title)
    for sop_class in STORAGE_CLASSES:
        ae.add_supported_context(sop_class, [*UNCOMPRESSED, *COMPRESSED])
    ae.require_called_aet = True
    return ae


def _timeouts(ae: AE, timeout_s: float) -> None:
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s


def _connect_failure(node: PacsNode, elapsed: float) -> PacsError:
    # pynetdicom only logs why the TCP connection failed; one more attempt tells us.
    where = address(node)
    if elapsed >= 0.9 * node.timeout_s:
        return PacsError(f"{where} did not accept a connection within {node.timeout_s:g} s "
                         "(check the host, the port and any firewall)")
    try:
        with socket.create_connection((node.host, node.port), timeout=node.timeout_s):
            pass
    except socket.gaierror:
        return PacsError(f"PACS {node.name!r}: unknown host {node.host!r}")
    except ConnectionRefusedError:
        return PacsError(f"{where} refused the connection "
                         "(is the PACS running, and is the port right?)")
    except TimeoutError:
        return PacsError(f"{where} did not accept a connection within {node.timeout_s:g} s "
                         "(check the host, the port and any firewall)")
    except OSError as exc:
        return PacsError(f"{where} cannot be reached: {exc.strerror or exc}")
    return PacsError(f"{where}: the connection failed, then worked on a second try; try again")


def _rejection(node: PacsNode, assoc: Association) -> PacsError:
    rsp = assoc.acceptor.primitive
    reason = getattr(rsp, "reason_str", "no reason given")
    hint = ""
    if "Calling AE" in reason:
        hint = (f"; the PACS does not know our AE title {node.calling_ae_title!r}: ask its "
                "administrator to register it")
    elif "Called AE" in reason:
        hint = f"; the PACS's AE title is not {node.ae_title!r}: check the node's ae_title"
    if "Transient" in getattr(rsp, "result_str", ""):
        hint += " (a transient rejection: try again later)"
    return PacsError(f"{address(node)} rejected the association: {reason}{hint}")


def _association_failure(node: PacsNode, assoc: Association, connected: bool,
                         elapsed: float, service: str) -> PacsError:
    if not connected:
        return _connect_failure(node, elapsed)
    if assoc.is_rejected:
        return _rejection(node, assoc)
    if getattr(assoc.acceptor, "primitive", None) is not None and not assoc.accepted_contexts:
        return PacsError(f"{address(node)} accepted none of the proposed presentation contexts: "
                         f"it does not offer {service} to us")
    if elapsed >= 0.9 * node.timeout_s:
        return PacsError(f"{address(node)} accepted the connection but did not answer the "
                         f"association request within {node.timeout_s:g} s (is it a DICOM port?)")
    return PacsError(f"{address(node)} aborted the association request")


def _mark(flags: list[bool], event: Any) -> None:
    flags.append(True)


@contextmanager
def associate(node: PacsNode, contexts: Sequence[PresentationContext | str], *,
              service: str, ext_neg: list[Any] | None = None,
              handlers: list[Any] | None = None) -> Iterator[Association]:
    """Yield an established association with `node`, released (or aborted) on exit.

    Parameters
    ----------
    contexts
        Presentation contexts, or abstract syntax UIDs proposed with the uncompressed syntaxes.
    service
        What the association is for, in words (``"C-FIND"``), for error messages.
    """
    ae = AE(ae_title=node.calling_ae_title)
    _timeouts(ae, node.timeout_s)
    for cx in contexts:
        if isinstance(cx, PresentationContext):
            assert cx.abstract_syntax is not None
            ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
        else:
            ae.add_requested_context(cx, list(UNCOMPRESSED[:2]))
    for attempt in (1, 2, 3):
        opened: list[bool] = []
        evt_handlers = [(evt.EVT_CONN_OPEN, partial(_mark, opened)), *(handlers or [])]
        start = time.monotonic()
        try:
            assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=ext_neg,
                                 evt_handlers=evt_handlers)
        except socket.gaierror:  # pynetdicom resolves the name before connecting
            raise PacsError(f"PACS {node.name!r}: unknown host {node.host!r} (check the "
                            "node's host name, and the workstation's DNS)") from None
        elapsed = time.monotonic() - start
        if assoc.is_established:
            break
        # A peer that rejects and at once closes the connection sometimes resets it before
        # the rejection is read (3 % of tries against Orthanc, more on a loaded machine): try
        # again, twice at most, to learn why.
        quick_abort = (opened and not assoc.is_rejected and elapsed < 0.9 * node.timeout_s
                       and getattr(assoc.acceptor, "primitive", None) is None)
        if attempt == 3 or not quick_abort:
            raise _association_failure(node, assoc, bool(opened), elapsed, service)
        log.info("association with %s aborted at once; trying again", node.name)
    try:
        yield assoc
    except BaseException:
        if assoc.is_established:
            assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()


def check_status(node: PacsNode, assoc: Association, status: Dataset, service: str) -> int:
    """Return the status code of a response, or raise PacsError for a missing response."""
    if "Status" not in status:
        if assoc.is_aborted and not assoc.is_established:
            raise PacsError(f"{address(node)} did not answer the {service} request within "
                            f"{node.timeout_s:g} s, or aborted it")
        raise PacsError(f"{address(node)} sent an invalid {service} response")
    return int(status.Status)


def supports(assoc: Association, sop_class: str) -> bool:
    """Return True if the association accepted a context for `sop_class`."""
    return any(cx.abstract_syntax == sop_class for cx in assoc.accepted_contexts)
