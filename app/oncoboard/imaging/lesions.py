"""Tracked lesions and their measurements: stored, audited, and turned into the RECIST table.

A radiologist defines a lesion once (kind, site, organ, node or not) and measures it on each
time point's series. A measurement keeps what a DICOM SR (TID 1500) needs: the series, study,
instance and frame of reference, the slice, and both ends of each axis in patient LPS mm and in
voxel indices. Rows are never changed: measuring again supersedes the previous reading of that
time point, withdrawing writes a ``withdrawn`` row; each row and its audit entry are written in
one transaction and `verify_lesions` finds a row edited or deleted behind the triggers' back.

Public API::

    define_lesion(store, patient_id, kind=, label=, organ=None, is_node=False) -> Lesion
    axis_on_volume(volume, slice_index, p1, p2) -> Axis        # (row, column) ends -> mm
    add_measurement(store, patient_id, lesion, ...) -> Measurement
    withdraw_measurement(store, patient_id, measurement_id, reason) -> Measurement
    lesions_for_patient(store, patient_id) -> list[Lesion]
    measurements_for_patient(store, patient_id) -> list[Measurement]   # current readings
    previous_measurement(store, patient_id, lesion, before) -> Measurement | None
    recist_for_patient(store, patient_id) -> recist.RecistResult
    verify_lesions(store) -> list[audit.Problem]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard import audit
from oncoboard.errors import NotFoundError, OncoboardError
from oncoboard.identity import require
from oncoboard.imaging import recist
from oncoboard.store import feed

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)
KINDS = ("target", "non_target", "new")
MEASURE_STATUSES = (*recist.STATUSES, "withdrawn")


class LesionError(OncoboardError):
    """A lesion or measurement cannot be recorded as given (field and reason say why)."""


@dataclass(frozen=True)
class Lesion:
    """One tracked lesion of a patient."""

    id: int
    uid: str
    patient_id: str
    number: int
    kind: str
    label: str
    organ: str
    is_node: bool
    created_at: str
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"uid": self.uid, "patient_id": self.patient_id, "number": self.number,
                "kind": self.kind, "label": self.label, "organ": self.organ,
                "is_node": self.is_node, "created_at": self.created_at,
                "created_by": self.created_by}


@dataclass(frozen=True)
class Axis:
    """A diameter on one slice: its ends in LPS mm and in voxel indices, and its length."""

    lps: tuple[tuple[float, float, float], tuple[float, float, float]]
    index: tuple[tuple[float, float, float], tuple[float, float, float]]
    mm: float


@dataclass(frozen=True)
class Measurement:
    """One reading of one lesion at one time point, as stored (plain values, for the SR too).

    Coordinates are ``[[x, y, z], [x, y, z]]`` in LPS mm and ``[[slice, row, col], ...]`` in
    voxel indices of the series; None where the reading is a status (absent, too small...).
    """

    id: int
    lesion_uid: str
    lesion_number: int
    patient_id: str
    kind: str
    label: str
    organ: str
    is_node: bool
    timepoint: str
    status: str
    series_uid: str | None
    study_uid: str | None
    sop_uid: str | None
    frame_of_reference_uid: str | None
    slice_index: int | None
    long_axis_mm: float | None
    short_axis_mm: float | None
    long_axis_lps: list[list[float]] | None
    long_axis_index: list[list[float]] | None
    short_axis_lps: list[list[float]] | None
    short_axis_index: list[list[float]] | None
    equivocal: bool
    supersedes: int | None
    method: str
    note: str
    measured_at: str
    measured_by: str

    @property
    def diameter_mm(self) -> float | None:
        """Return the diameter RECIST sums: short axis for a node, long axis otherwise."""
        return self.short_axis_mm if self.is_node else self.long_axis_mm

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _text(value: str, field: str, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    if not text:
        raise LesionError("must not be empty", where=field)
    if len(text) > limit:
        raise LesionError(f"longer than {limit} characters", where=field)
    return text


_LESION_CONTENT = ("uid", "patient_id", "number", "kind", "label", "organ", "is_node",
                   "created_at", "created_by")
_MEASURE_CONTENT = ("lesion_id", "timepoint", "status", "series_uid", "study_uid", "sop_uid",
                    "frame_of_reference_uid", "slice_index", "long_axis_mm", "short_axis_mm",
                    "long_axis_lps", "long_axis_index", "short_axis_lps", "short_axis_index",
                    "equivocal", "supersedes", "method", "note", "measured_at", "measured_by")


def _hash(row: dict[str, Any], columns: Sequence[str]) -> str:
    return audit.sha256_text(audit.canonical_json({k: row[k] for k in columns}))


def _write(store: Store, table: str, row: dict[str, Any], event: str,
           payload: dict[str, Any], columns: Sequence[str]) -> int:
    user = require(store, "lesion.edit")
    for who in ("created_by", "measured_by"):  # the signed-in user, not the environment
        if who in row:
            row[who] = user.login
    with store.transaction() as db:
        entry = audit.append(store, event, {**payload, "content_sha256": _hash(row, columns)})
        row["audit_hash"] = entry.hash
        pk = db[table].insert(row).last_pk
        if pk is None:  # set by every insert into these rowid tables
            raise OncoboardError(f"the database returned no id for the new {table} row",
                                 where="lesions")
        new_id = int(pk)
        feed.note_record_change(store, [payload["patient_id"]], "measurements", user.login)
    if not store.conn.in_transaction:
        audit.checkpoint(store)
    return new_id


# --- lesions --------------------------------------------------------------------------------------
def define_lesion(store: Store, patient_id: str, *, kind: str, label: str,
                  organ: str | None = None, is_node: bool = False) -> Lesion:
    """Record a new lesion of `patient_id` and return it.

    `organ` defaults to the first word of `label` (``"lung RUL"`` -> ``lung``); for a node it
    is ignored by the 2-per-organ rule (all nodes count as one organ).
    """
    if kind not in KINDS:
        raise LesionError(f"must be one of {', '.join(KINDS)}", where="kind")
    if store.db.execute("SELECT 1 FROM patients WHERE id = ?", [patient_id]).fetchone() is None:
        raise NotFoundError("no such patient", where=patient_id)
    label = _text(label, "label")
    organ = _text(organ or label.split()[0], "organ").lower()
    number = 1 + (store.db.execute("SELECT MAX(number) FROM lesions WHERE patient_id = ?",
                                   [patient_id]).fetchone()[0] or 0)
    row: dict[str, Any] = {"uid": str(uuid.uuid4()), "patient_id": patient_id, "number": number,
                           "kind": kind, "label": label, "organ": organ,
                           "is_node": int(bool(is_node)), "created_at": _now(),
                           "created_by": ""}
    _write(store, "lesions", row, "lesion.defined",
           {"patient_id": patient_id, "lesion_uid": row["uid"], "number": number, "kind": kind},
           _LESION_CONTENT)
    log.info("lesion %s of %s defined (%s)", number, patient_id, kind)
    return get_lesion(store, patient_id, row["uid"])


def _lesion(row: dict[str, Any]) -> Lesion:
    return Lesion(row["id"], row["uid"], row["patient_id"], row["number"], row["kind"],
                  row["label"], row["organ"], bool(row["is_node"]), row["created_at"],
                  row["created_by"])


def lesions_for_patient(store: Store, patient_id: str) -> list[Lesion]:
    """Return the patient's lesions in the order they were defined."""
    if "lesions" not in store.db.table_names():
        return []
    return [_lesion(r) for r in store.db.query(
        "SELECT * FROM lesions WHERE patient_id = ? ORDER BY number", [patient_id])]


def get_lesion(store: Store, patient_id: str, ref: str | int) -> Lesion:
    """Return the lesion given by its number (``2``) or uid, or raise NotFoundError."""
    for lesion in lesions_for_patient(store, patient_id):
        if str(ref) in (str(lesion.number), lesion.uid):
            return lesion
    raise NotFoundError(f"patient {patient_id} has no lesion {ref}", where="lesion")


# --- measurements ---------------------------------------------------------------------------------
def axis_on_volume(volume: Any, slice_index: int, p1: Sequence[float],
                   p2: Sequence[float]) -> Axis:
    """Return the diameter between `p1` and `p2`, each (row, column) on slice `slice_index`."""
    if not 0 <= int(slice_index) < volume.shape[0]:
        raise LesionError(f"slice {slice_index} is outside 0..{volume.shape[0] - 1}",
                          where="slice")
    idx = np.array([[slice_index, *p1[:2]], [slice_index, *p2[:2]]], dtype=float)
    for point in idx:
        if not all(-0.5 <= v <= n - 0.5 for v, n in zip(point, volume.shape, strict=True)):
            raise LesionError(f"point (row {point[1]:g}, column {point[2]:g}) is outside the "
                              f"image", where="point")
    lps = volume.index_to_patient(idx)
    mm = float(np.linalg.norm(lps[1] - lps[0]))
    return Axis((_t3(lps[0]), _t3(lps[1])), (_t3(idx[0]), _t3(idx[1])), mm)


def _t3(v: Any) -> tuple[float, float, float]:
    return (round(float(v[0]), 3), round(float(v[1]), 3), round(float(v[2]), 3))


def _series_facts(store: Store, series_uid: str) -> dict[str, Any]:
    row = store.db.execute(
        "SELECT st.study_uid, st.study_date, st.patient_id, s.frame_of_reference_uid "
        "FROM dicom_series s JOIN dicom_studies st ON st.study_uid = s.study_uid "
        "WHERE s.series_uid = ?", [series_uid]).fetchone()
    if row is None:
        raise NotFoundError("series not indexed", where=series_uid)
    return {"study_uid": row[0], "study_date": row[1] or "", "patient_id": row[2],
            "frame_of_reference_uid": row[3]}


def add_measurement(store: Store, patient_id: str, lesion: str | int, *, status: str = "measured",
                    series_uid: str | None = None, slice_index: int | None = None,
                    long_axis: Axis | None = None, short_axis: Axis | None = None,
                    timepoint: str | None = None, sop_uid: str | None = None,
                    equivocal: bool = False, fragment: bool = False,
                    supersedes: int | None = None, method: str = "manual",
                    note: str = "") -> Measurement:
    """Record a reading of `lesion` (number or uid) and return it.

    The time point is the series' study date unless `timepoint` (YYYY-MM-DD) is given. Without
    `fragment` the reading replaces the lesion's single current reading at that time point (a
    re-measurement); with it, it is one more piece of a split lesion. A ``measured`` reading
    needs the long axis, and for a node the short axis too.
    """
    les = get_lesion(store, patient_id, lesion)
    if status not in recist.STATUSES:
        raise LesionError(f"must be one of {', '.join(recist.STATUSES)}", where="status")
    facts: dict[str, Any] = {}
    if series_uid:
        facts = _series_facts(store, series_uid)
        if facts["patient_id"] not in (None, patient_id):
            raise LesionError(f"series belongs to patient {facts['patient_id']}",
                              where=series_uid)
    date = timepoint or facts.get("study_date") or ""
    try:
        date = dt.date.fromisoformat(date).isoformat()
    except ValueError:
        raise LesionError("needs a date (YYYY-MM-DD) or a series with a study date",
                          where="time point") from None
    if status == "measured":
        if les.is_node and short_axis is None:
            raise LesionError("a lymph node needs its short axis", where="short axis")
        if not les.is_node and long_axis is None:
            raise LesionError("a measured lesion needs its long axis", where="long axis")
    if supersedes is None and not fragment:
        current = [m for m in measurements_for_patient(store, patient_id)
                   if m.lesion_uid == les.uid and m.timepoint == date]
        if len(current) > 1:
            raise LesionError("this lesion has several fragments at this time point: say "
                              "which reading is replaced, or add a fragment", where="supersedes")
        supersedes = current[0].id if current else None
    row = _measure_row(les, date, status, series_uid, facts, slice_index, long_axis, short_axis,
                       sop_uid, equivocal, supersedes, method, note)
    new_id = _write(store, "lesion_measurements", row, "lesion.measured",
                    {"patient_id": patient_id, "lesion_uid": les.uid, "timepoint": date,
                     "status": status, "supersedes": supersedes}, _MEASURE_CONTENT)
    return _measurement_by_id(store, new_id)


def _measure_row(les: Lesion, date: str, status: str, series_uid: str | None,
                 facts: dict[str, Any], slice_index: int | None, long_axis: Axis | None,
                 short_axis: Axis | None, sop_uid: str | None, equivocal: bool,
                 supersedes: int | None, method: str, note: str) -> dict[str, Any]:
    def coords(axis: Axis | None, part: str) -> str | None:
        return None if axis is None else json.dumps([list(p) for p in getattr(axis, part)])

    return {"lesion_id": les.id, "timepoint": date, "status": status, "series_uid": series_uid,
            "study_uid": facts.get("study_uid"), "sop_uid": sop_uid,
            "frame_of_reference_uid": facts.get("frame_of_reference_uid"),
            "slice_index": None if slice_index is None else int(slice_index),
            "long_axis_mm": None if long_axis is None else round(long_axis.mm, 2),
            "short_axis_mm": None if short_axis is None else round(short_axis.mm, 2),
            "long_axis_lps": coords(long_axis, "lps"),
            "long_axis_index": coords(long_axis, "index"),
            "short_axis_lps": coords(short_axis, "lps"),
            "short_axis_index": coords(short_axis, "index"), "equivocal": int(bool(equivocal)),
            "supersedes": supersedes, "method": method, "note": note[:500],
            "measured_at": _now(), "measured_by": ""}


def withdraw_measurement(store: Store, patient_id: str, measurement_id: int,
                         reason: str) -> Measurement:
    """Withdraw a current reading (a wrong measurement); the row stays, superseded."""
    current = {m.id: m for m in measurements_for_patient(store, patient_id)}
    old = current.get(int(measurement_id))
    if old is None:
        raise NotFoundError(f"patient {patient_id} has no current measurement {measurement_id}",
                            where="measurement")
    les = get_lesion(store, patient_id, old.lesion_uid)
    row = _measure_row(les, old.timepoint, "withdrawn", None, {}, None, None, None, None,
                       False, old.id, "manual", _text(reason, "reason", 500))
    new_id = _write(store, "lesion_measurements", row, "lesion.measurement_withdrawn",
                    {"patient_id": patient_id, "lesion_uid": les.uid, "supersedes": old.id},
                    _MEASURE_CONTENT)
    return _measurement_by_id(store, new_id)


_MEASURE_SQL = ("SELECT m.*, l.uid AS lesion_uid, l.number, l.patient_id, l.kind, l.label, "
                "l.organ, l.is_node FROM lesion_measurements m "
                "JOIN lesions l ON l.id = m.lesion_id ")


def _measurement(r: dict[str, Any]) -> Measurement:
    def js(v: str | None) -> Any:
        return None if v is None else json.loads(v)

    return Measurement(
        r["id"], r["lesion_uid"], r["number"], r["patient_id"], r["kind"], r["label"],
        r["organ"], bool(r["is_node"]), r["timepoint"], r["status"], r["series_uid"],
        r["study_uid"], r["sop_uid"], r["frame_of_reference_uid"], r["slice_index"],
        r["long_axis_mm"], r["short_axis_mm"], js(r["long_axis_lps"]), js(r["long_axis_index"]),
        js(r["short_axis_lps"]), js(r["short_axis_index"]), bool(r["equivocal"]),
        r["supersedes"], r["method"], r["note"], r["measured_at"], r["measured_by"])


def _measurement_by_id(store: Store, mid: int) -> Measurement:
    rows = list(store.db.query(_MEASURE_SQL + "WHERE m.id = ?", [mid]))
    return _measurement(rows[0])


def measurements_for_patient(store: Store, patient_id: str) -> list[Measurement]:
    """Return the patient's current readings (not superseded, not withdrawn), oldest first.

    Each is a plain record with its series, study, instance and frame of reference and the
    axes' ends in LPS mm and voxel indices: what a DICOM SR (TID 1500) export needs.
    """
    if "lesion_measurements" not in store.db.table_names():
        return []
    rows = [_measurement(r) for r in store.db.query(
        _MEASURE_SQL + "WHERE l.patient_id = ? ORDER BY m.timepoint, l.number, m.id",
        [patient_id])]
    replaced = {m.supersedes for m in rows if m.supersedes is not None}
    return [m for m in rows if m.id not in replaced and m.status != "withdrawn"]


def previous_measurement(store: Store, patient_id: str, lesion: str | int,
                         before: str | None = None) -> Measurement | None:
    """Return the lesion's latest current reading before date `before` (any date if None)."""
    les = get_lesion(store, patient_id, lesion)
    found = [m for m in measurements_for_patient(store, patient_id)
             if m.lesion_uid == les.uid and (before is None or m.timepoint < before)]
    return found[-1] if found else None


# --- RECIST ---------------------------------------------------------------------------------------
def recist_for_patient(store: Store, patient_id: str) -> recist.RecistResult:
    """Return the RECIST 1.1 table of the patient's current readings."""
    specs = [recist.LesionSpec(les.uid, les.organ, les.is_node, les.kind,
                               f"#{les.number} {les.label}")
             for les in lesions_for_patient(store, patient_id)]
    readings = [recist.Reading(m.lesion_uid, m.timepoint, m.status, m.long_axis_mm,
                               m.short_axis_mm, m.equivocal)
                for m in measurements_for_patient(store, patient_id)]
    return recist.evaluate(specs, readings)


def verify_lesions(store: Store) -> list[audit.Problem]:
    """Return a problem for each lesion row or measurement that differs from its audit entry.

    Same shape as `oncoboard.board.decisions.verify_decisions`, for `audit.verify`: a row
    edited behind the triggers' back, a row without its entry, and an entry whose row is gone.
    """
    if "lesions" not in store.db.table_names():
        return []
    by_hash = {e.hash: e for e in audit.entries(store) if e.event_type.startswith("lesion.")}
    problems: list[audit.Problem] = []
    seen: set[str] = set()
    for table, columns, what in (("lesions", _LESION_CONTENT, "lesion"),
                                 ("lesion_measurements", _MEASURE_CONTENT, "measurement")):
        for row in store.db.query(f"SELECT * FROM {table} ORDER BY id"):  # noqa: S608
            seen.add(row["audit_hash"] or "")
            entry = by_hash.get(row["audit_hash"] or "")
            if entry is None:
                problems.append(audit.Problem(0, "deleted",
                                              f"{what} {row['id']} has no audit entry"))
            elif entry.payload.get("content_sha256") != _hash(row, columns):
                problems.append(audit.Problem(entry.seq, "edited", f"{what} {row['id']} differs "
                                                                   f"from its audit entry"))
    for digest, entry in by_hash.items():
        if digest not in seen:
            problems.append(audit.Problem(entry.seq, "deleted", f"{entry.event_type} of lesion "
                                          f"{entry.payload.get('lesion_uid')} (entry "
                                          f"{entry.seq}) is missing from the database"))
    return problems


def record_on_series(store: Store, patient_id: str, lesion: str | int, *, series_uid: str,
                     slice_index: int, long_axis: tuple[Sequence[float], Sequence[float]]
                     | None = None, short_axis: tuple[Sequence[float], Sequence[float]]
                     | None = None, propose_at: Sequence[float] | None = None,
                     settings: Settings | None = None, volume: Any = None, **kw: Any
                     ) -> Measurement:
    """Measure `lesion` on a slice of `series_uid` and record it; return the measurement.

    Axes are pairs of (row, column) pixel positions on slice `slice_index`. With `propose_at`
    (row, column of a click on the lesion) the axes not given are proposed by region growing
    (`oncoboard.imaging.lesion_axis`); the reading is then stored with ``method="proposed"``.
    """
    from oncoboard.imaging.lesion_axis import propose_axes
    from oncoboard.imaging.loader import load_series

    vol = volume if volume is not None else load_series(store, series_uid, settings=settings)
    method = "manual"
    if propose_at is not None and (long_axis is None or short_axis is None):
        k = int(slice_index)
        if not 0 <= k < vol.shape[0]:
            raise LesionError(f"slice {k} is outside 0..{vol.shape[0] - 1}", where="slice")
        try:
            proposal = propose_axes(np.asarray(vol.voxels[k]),
                                    (round(propose_at[0]), round(propose_at[1])),
                                    (vol.spacing[1], vol.spacing[2]))
        except ValueError as exc:
            raise LesionError(str(exc), where="point") from None
        if proposal is None:
            raise LesionError("no lesion found at that point", where="point")
        long_axis = long_axis or proposal.long_ends
        short_axis = short_axis or proposal.short_ends
        method = "proposed"
    les = get_lesion(store, patient_id, lesion)
    long_ = None if long_axis is None else axis_on_volume(vol, slice_index, *long_axis)
    short = None if short_axis is None else axis_on_volume(vol, slice_index, *short_axis)
    if les.is_node and short is None and long_ is not None:
        raise LesionError("a lymph node needs its short axis", where="short axis")
    sops = vol.meta.get("sop_uids") or []
    sop = sops[int(slice_index)] if int(slice_index) < len(sops) else None
    return add_measurement(store, patient_id, les.uid, series_uid=series_uid,
                           slice_index=slice_index, long_axis=long_, short_axis=short,
                           sop_uid=sop, method=kw.pop("method", method), **kw)
