"""Send a board case's results to a PACS: report PDF, model-result SRs, key-image KOS and
the lesion measurements as TID 1500 Measurement Reports.

Each item goes into the patient's study: the study of the key image the case shows, else the
patient's newest imaging study in the index; a patient without one is skipped with that reason.
The lesion measurements go as one Measurement Report per measured study (time point), in that
study, referencing the measured images: the current readings of the patient
(:func:`oncoboard.imaging.lesions.measurements_for_patient`) that carry an image reference.
Stored by STOW-RS or C-STORE according to the node (:func:`oncoboard.imaging.pacs.store`).
Every attempt is recorded in ``board_sent`` (migration 310) and the audit trail
(``board.sent``); an item whose latest record for the node is ``sent`` is not sent again, so a
second run sends only what is missing (a failed store leaves the item "not sent" with the reason).
An item's key changes when its content does (``report-pdf:v2`` after an amended decision,
``measurements-sr:<date>:<digest>`` after a reading is added, replaced or withdrawn).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from oncoboard.board import dicom_out, model_sr
from oncoboard.board.caseview import CaseView, case_view
from oncoboard.board.meetings import audited, get_meeting, list_cases, now_utc
from oncoboard.config import PacsNode
from oncoboard.errors import BoardError, OncoboardError
from oncoboard.identity import user_of

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

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


def model_results(store: Store, view: CaseView) -> list[Any]:
    """Return the stored predictions (typed `Prediction`) of the model results the case shows."""
    from oncoboard.inference import prediction_store

    out = []
    for p in view.predictions:
        if p.status != "ok":
            continue
        try:
            out.append(prediction_store.get(store, p.id))
        except OncoboardError as exc:  # shown at the board, gone from the store since
            log.warning("prediction %s not sent: %s", p.id, exc.message)
    return out


def _study_evidence(store: Store, view: CaseView) -> tuple[Dataset | None, Dataset | None, str]:
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


def _axis_points(index: list[list[float]] | None) -> list[tuple[float, float]]:
    """Voxel ends ``[[slice, row, col], ...]`` as image (column, row) points."""
    return [(float(p[2]), float(p[1])) for p in index or []]


def measurement_reports(store: Store,
                        patient_id: str) -> list[tuple[str, str, Callable[[], Dataset]]]:
    """Return (item key, study UID, SR builder) per measured study of the patient.

    Each report holds the current readings of that study that reference an image: the lesion
    readings (a long axis, and a short axis where measured, as lengths in mm with their end
    points on the instance) and the distances and ROIs kept from the viewer
    (:mod:`oncoboard.imaging.measurements`; one made across slices has no single image and is
    not sent). The key carries a digest of the readings' ids, so a changed reading makes a new
    report.
    """
    from oncoboard.imaging import lesions, measurements

    by_study: dict[str, list[Any]] = {}
    for m in lesions.measurements_for_patient(store, patient_id):
        if m.status == "measured" and m.sop_uid and m.study_uid and (
                m.long_axis_index or m.short_axis_index):
            by_study.setdefault(m.study_uid, []).append(m)
    for v in measurements.measurements_for_patient(store, patient_id):
        if v.sop_uid and v.study_uid:
            by_study.setdefault(v.study_uid, []).append(v)
    out: list[tuple[str, str, Callable[[], Dataset]]] = []
    for study_uid, readings in by_study.items():
        sops = sorted({m.sop_uid for m in readings})
        paths = {r["sop_uid"]: r["path"] for r in store.db.query(
            f"SELECT sop_uid, path FROM dicom_instances WHERE sop_uid IN "
            f"({','.join('?' * len(sops))})", sops)}
        readings = [m for m in readings if m.sop_uid in paths]
        if not readings:
            continue
        ids = [f"V{m.uid}" if isinstance(m, measurements.ViewerMeasurement) else str(m.id)
               for m in readings]
        digest = hashlib.sha256(",".join(ids).encode()).hexdigest()[:12]
        when = next((m.timepoint for m in readings if hasattr(m, "timepoint")), "")
        when = when or str(readings[0].measured_at)[:10]
        item = f"measurements-sr:{when}:{digest}"

        def build(readings: list[Any] = readings, paths: dict[str, str] = paths) -> Dataset:
            evidence = [dcmread(paths[sop], stop_before_pixels=True)
                        for sop in sorted({m.sop_uid for m in readings})]
            items = [item for m in readings for item in _report_items(m)]
            observer = ", ".join(sorted({m.measured_by for m in readings})) or "unknown"
            observer += "" if "^" in observer else "^"  # a one-component person name
            return dicom_out.measurement_report(items, evidence, observer=observer)

        out.append((item, study_uid, build))
    return out


def _report_items(m: Any) -> list[dicom_out.Measurement]:
    """Return the TID 1500 measurements of a lesion reading or a kept viewer measurement."""
    from oncoboard.imaging.measurements import ViewerMeasurement

    if isinstance(m, ViewerMeasurement):
        if m.kind == "distance" and m.length_mm is not None:
            return [dicom_out.Measurement("distance", m.label, m.length_mm, m.image_points(),
                                          m.sop_uid, m.frame_number)]
        if m.kind == "roi" and m.mean is not None:
            return [dicom_out.Measurement("roi", m.label, m.mean, m.image_points(), m.sop_uid,
                                          m.frame_number, sd=m.sd, area_mm2=m.area_mm2)]
        return []
    name = f"Lesion {m.lesion_number} {m.label}"
    return [dicom_out.Measurement("distance", f"{name}: {axis}", float(mm), _axis_points(index),
                                  str(m.sop_uid))
            for axis, mm, index in (("long axis", m.long_axis_mm, m.long_axis_index),
                                    ("short axis", m.short_axis_mm, m.short_axis_index))
            if mm is not None and index]


def _already_sent(store: Store, case_id: int, item: str, node: str) -> bool:
    row = next(iter(store.db.query(
        "SELECT status FROM board_sent WHERE case_id = ? AND item = ? AND node = ? "
        "ORDER BY id DESC LIMIT 1", [case_id, item, node])), None)
    return row is not None and row["status"] == "sent"


def sent_items(store: Store, meeting_id: int | str) -> list[dict[str, Any]]:
    """Return every send record of the meeting, oldest first."""
    meeting = get_meeting(store, meeting_id)
    return list(store.db.query(
        "SELECT b.*, c.patient_id FROM board_sent b JOIN board_cases c ON c.id = b.case_id "
        "WHERE c.meeting_id = ? ORDER BY b.id", [meeting.id]))


def send_case(store: Store, settings: Settings, meeting_id: int | str, patient_id: str,
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
    case_study = str(study.StudyInstanceUID)
    candidates: list[tuple[str, str, str, Any]] = [
        (f"report-pdf:v{version}", "encapsulated-pdf", case_study,
         lambda: dicom_out.encapsulated_pdf(
             build_pdf(view.meeting, [view], head=audit_head(store),
                       generated_by=user_of(store).login), study,
             title=f"Tumour board {view.meeting.date}: {view.meeting.title}"))]
    for pred in model_results(store, view):
        candidates.append((f"model-sr:{pred.id}", "comprehensive-sr", case_study,
                           lambda r=pred: model_sr.model_result_sr(r, [study])))
    if key_ds is not None and view.key_image is not None:
        candidates.append((f"key-image-ko:{view.key_image.sop_uid}", "key-object-selection",
                           case_study,
                           lambda: dicom_out.key_image_kos(key_ds,
                                                           description=view.key_image.caption())))
    for item, study_uid, build in measurement_reports(store, patient_id):
        candidates.append((item, "measurement-report", study_uid, build))
    outcomes: list[SentItem] = []
    todo: list[tuple[str, str, Dataset]] = []
    for item, kind, _, build in candidates:
        if _already_sent(store, view.case.id, item, node.name):
            outcomes.append(SentItem(patient_id, item, kind, "already sent"))
        else:
            todo.append((item, kind, build()))
    if not todo:
        return outcomes
    results: list[Any] = []
    for study_uid in dict.fromkeys(str(ds.StudyInstanceUID) for _, _, ds in todo):
        batch = [ds for _, _, ds in todo if str(ds.StudyInstanceUID) == study_uid]
        try:
            results += pacs.store(node, batch, study_uid=study_uid)
        except OncoboardError as exc:
            results += [pacs.StoreResult(str(ds.SOPInstanceUID), False, exc.message)
                        for ds in batch]
    by_sop = {r.sop_uid: r for r in results}
    user, when = user_of(store).login, now_utc()
    for item, kind, ds in todo:
        stored_result = by_sop[str(ds.SOPInstanceUID)]
        status = "sent" if stored_result.stored else "not sent"
        record = {"case_id": view.case.id, "item": item, "kind": kind, "node": node.name,
                  "status": status, "reason": stored_result.reason,
                  "study_uid": str(ds.StudyInstanceUID),
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


def send_meeting(store: Store, settings: Settings, meeting_id: int | str, node: PacsNode,
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


def case_status(store: Store, meeting_id: int | str, patient_id: str) -> list[dict[str, Any]]:
    """Return the send status of each item of one case, for the "Send to PACS" dialog.

    One row per (item, node) with its latest record (status ``sent`` or ``not sent`` with the
    reason, when, by whom), then the items the case would send now that were never tried
    (status ``not sent yet``, node empty): the report of the current decision version, each
    model result, each measurement report. The key image's KOS is known only when sending.
    """
    view = case_view(store, meeting_id, patient_id, with_image=False)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.db.query("SELECT * FROM board_sent WHERE case_id = ? ORDER BY id",
                              [view.case.id]):
        latest[(row["item"], row["node"])] = row
    rows = list(latest.values())
    tried = {item for item, _ in latest}
    version = view.decision.version if view.decision else 0
    wanted = [(f"report-pdf:v{version}", "encapsulated-pdf")]
    wanted += [(f"model-sr:{p.id}", "comprehensive-sr") for p in view.predictions
               if p.status == "ok"]
    wanted += [(item, "measurement-report") for item, _, _ in
               measurement_reports(store, patient_id)]
    rows += [{"item": item, "kind": kind, "node": "", "status": "not sent yet", "reason": "",
              "sent_at": "", "sent_by": "", "sop_uid": ""}
             for item, kind in wanted if item not in tried]
    return rows
