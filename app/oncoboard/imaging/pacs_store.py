"""C-STORE of instances to a DIMSE node (results back to the PACS), one association for all."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.presentation import build_context

from oncoboard.config import PacsNode
from oncoboard.imaging.pacs_net import address, associate, check_status, status_text

log = logging.getLogger(__name__)

_WARNINGS = (0x0000, 0xB000, 0xB006, 0xB007, 0x0107, 0x0116)


def c_store(node: PacsNode, datasets: Sequence[Dataset]) -> dict[str, str | None]:
    """Send `datasets` with C-STORE; return SOP UID -> None (stored) or why the PACS refused it.

    Raises
    ------
    PacsError
        The node cannot be reached or rejects the association: nothing was sent.
    """
    contexts = []
    seen: set[tuple[str, str]] = set()
    for ds in datasets:
        syntax = str(ds.file_meta.TransferSyntaxUID)
        key = (str(ds.SOPClassUID), syntax)
        if key not in seen:
            seen.add(key)
            syntaxes = list(dict.fromkeys([syntax, ExplicitVRLittleEndian,
                                           ImplicitVRLittleEndian]))
            contexts.append(build_context(ds.SOPClassUID, syntaxes))
    outcome: dict[str, str | None] = {}
    with associate(node, contexts, service="C-STORE") as assoc:
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        for ds in datasets:
            sop = str(ds.SOPInstanceUID)
            if str(ds.SOPClassUID) not in accepted:
                outcome[sop] = (f"{address(node)} does not accept this kind of object "
                                f"(SOP class {ds.SOPClassUID.name})")
                continue
            status = assoc.send_c_store(ds)
            code = check_status(node, assoc, status, "C-STORE")
            outcome[sop] = None if code in _WARNINGS else (
                f"the PACS refused it (C-STORE status {status_text(code)})")
    return outcome
