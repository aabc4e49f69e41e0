"""Send a board case's results to a PACS: report PDF, model-result SRs, key-image KOS.

Each item goes into the patient's study: the study of the key image the case shows, else the
patient's newest imaging study in the index; a patient without one is skipped with that reason.
Stored by STOW-RS or C-STORE according to the node (:func:`oncoboard.imaging.pacs.store`).
Every attempt is recorded in ``board_sent`` (migration 310) and the audit trail
(``board.sent``); an item whose latest record for the node is ``sent`` is not sent again, so a
second run sends only what is missing (a failed store leaves the item "not sent" with the reason).
An item's key changes when its content does (``report-pdf:v2`` after an amended decision).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from oncoboard.board import dicom_out
from oncoboard.board.caseview import CaseView, case_view
from oncoboard.board.meetings import audited, get_meeting, list_cases, now_utc
from oncoboard.config import PacsNode
from oncoboard.errors import BoardError, OncoboardError
from oncoboard.identity import os_user

log = logging.getLogger(__name__)


@dataclass
class SentItem:
    """The outcome of one item of one case."""

    patient_id: str
    item: str
    kind: str
    status: str          # sent | not sent | already sent | skipped
    reason: str = ""
    sop_uid: str = ""


def model_results(store: Any, view: CaseView) -> list[dicom_out.ModelResult]:
    """Return the model results the case shows, as the SR needs them.

    The one place that reads predictions for sending (the board view, plus the stored inputs):
    adapt here when the prediction record changes.
    """
    from oncoboard.inference import prediction_store

    out = []
    for p in view.predictions:
        if p.status != "ok":
            continue
        try:
            stored = prediction_store.get(store, p.id)
        except OncoboardError:
            flat: dict[str, Any] = {}
        else:
            flat = {name: record.value for name, record in stored.inputs.items()}
        outputs = []
        for r in p.results:
            if r.kind == "survival" and r.curve is not None and r.curve.values:
                label = f"{r.label} at {r.curve.times[-1]:g} {r.time_unit or ''}".strip()
                outputs.append((label, r.curve.values[-1],
                                r.curve.lower[-1] if r.curve.lower else None,
                                r.curve.upper[-1] if r.curve.upper else None,
                                r.interval_level, ""))
            elif r.value is not None:
                outputs.append((r.label, r.value, r.lower, r.upper, r.interval_level,
                                r.unit or ""))
        out.append(dicom_out.ModelResult(
            p.id, p.plugin_id, p.plugin_name, p.plugin_version, p.model_sha256, p.synthetic,
            p.outside_intended_use, flat, outputs, p.plain_warnings()))
    return out


def _study_evidence(store: Any, view: CaseView) -> tuple[Dataset | None, Dataset | None, str]:
    """Return (an instance of the case's study, the key image instance, note)."""
    key = view.key_image
    sop = key.sop_uid if key is not None else ""
    if sop:
        row = next(iter(store.db.query("SELECT path FROM dicom_instances WHERE sop_uid = ?",
                                       [sop])), None)
        if row:
            ds = dcmread(row["path"], stop_before_pixels=True)
            return ds, ds, ""
    row = next(iter(store.db.query(
        "SELECT i.path FROM dicom_instances i JOIN dicom_series s USING (series_uid) "
        "JOIN dicom_studies st USING (study_uid) WHERE st.patient_id = ? "
        "ORDER BY st.study_date DESC LIMIT 1", [view.case.patient_id])), None)
    if row is None:
        return None, None, "the patient has no imaging study in the index: nothing to attach to"
    return dcmread(row["path"], stop_before_pixels=True), None, ""


def _already_sent(store: Any, case_id: int, item: str, node: str) -> bool:
    row = next(iter(store.db.query(
        "SELECT status FROM board_sent WHERE case_id = ? AND item = ? AND node = ? "
        "ORDER BY id DESC LIMIT 1", [case_id, item, node])), None)
    return row is not None and row["status"] == "sent"


def sent_items(store: Any, meeting_id: int | str) -> list[dict[str, Any]]:
    """Return every send record of the meeting, oldest first."""
    meeting = get_meeting(store, meeting_id)
    return list(store.db.query(
        "SELECT b.*, c.patient_id FROM board_sent b JOIN board_cases c ON c.id = b.case_id "
        "WHERE c.meeting_id = ? ORDER BY b.id", [meeting.id]))


def send_case(store: Any, settings: Any, meeting_id: int | str, patient_id: str,
              node: PacsNode) -> list[SentItem]:
    """Send what is missing of one case to `node`; return one outcome per item."""
    from oncoboard import audit
    from oncoboard.board.export import audit_head
    from oncoboard.board.report import build_pdf
    from oncoboard.imaging import pacs

    view = case_view(store, meeting_id, patient_id, settings=settings)
    study, key_ds, note = _study_evidence(store, view)
    if study is None:
        return [SentItem(patient_id, "case", "", "skipped", note)]
    version = view.decision.version if view.decision else 0
    candidates: list[tuple[str, str, Any]] = [
        (f"report-pdf:v{version}", "encapsulated-pdf",
         lambda: dicom_out.encapsulated_pdf(
             build_pdf(view.meeting, [view], head=audit_head(store)), study,
             title=f"Tumour board {view.meeting.date}: {view.meeting.title}"))]
    for result in model_results(store, view):
        candidates.append((f"model-sr:{result.prediction_id}", "comprehensive-sr",
                           lambda r=result: dicom_out.model_result_sr(r, [study])))
    if key_ds is not None and view.key_image is not None:
        candidates.append((f"key-image-ko:{view.key_image.sop_uid}", "key-object-selection",
                           lambda: dicom_out.key_image_kos(key_ds,
                                                           description=view.key_image.caption())))
    outcomes: list[SentItem] = []
    todo: list[tuple[str, str, Dataset]] = []
    for item, kind, build in candidates:
        if _already_sent(store, view.case.id, item, node.name):
            outcomes.append(SentItem(patient_id, item, kind, "already sent"))
        else:
            todo.append((item, kind, build()))
    if not todo:
        return outcomes
    try:
        results = pacs.store(node, [ds for _, _, ds in todo],
                             study_uid=str(study.StudyInstanceUID))
    except OncoboardError as exc:
        results = [pacs.StoreResult(str(ds.SOPInstanceUID), False, exc.message)
                   for _, _, ds in todo]
    user, when = os_user(), now_utc()
    for (item, kind, ds), stored_result in zip(todo, results, strict=True):
        status = "sent" if stored_result.stored else "not sent"
        record = {"case_id": view.case.id, "item": item, "kind": kind, "node": node.name,
                  "status": status, "reason": stored_result.reason,
                  "study_uid": str(study.StudyInstanceUID),
                  "series_uid": str(ds.SeriesInstanceUID),
                  "sop_uid": str(ds.SOPInstanceUID) if stored_result.stored else "",
                  "sent_at": when, "sent_by": user}
        with audited(store):
            store.db["board_sent"].insert(record)
            audit.append(store, "board.sent", {**record, "meeting_id": view.meeting.id,
                                               "patient_id": patient_id})
        outcomes.append(SentItem(patient_id, item, kind, status, stored_result.reason,
                                 str(record["sop_uid"])))
    return outcomes


def send_meeting(store: Any, settings: Any, meeting_id: int | str, node: PacsNode,
                 patient_id: str | None = None) -> list[SentItem]:
    """Send every case of the meeting (or the one of `patient_id`) to `node`."""
    meeting = get_meeting(store, meeting_id)
    cases = [c.patient_id for c in list_cases(store, meeting.id)]
    if patient_id is not None:
        if patient_id not in cases:
            raise BoardError(f"patient {patient_id} is not on meeting {meeting.id}'s agenda")
        cases = [patient_id]
    out: list[SentItem] = []
    for pid in cases:
        out += send_case(store, settings, meeting.id, pid, node)
    return out
