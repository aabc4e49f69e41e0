"""Distances and ROIs made in the viewer, kept per patient and series (audited, append-only).

A kept measurement records what a TID 1500 report needs: the series, study and frame of
reference, the instance (and frame) when every point lies on one acquired slice, the points in
voxel indices and in patient LPS mm, and the values: the length in mm of a distance (computed
here from the geometry), the mean, SD and area of an ROI (as the viewer computed them on the
same voxels). Rows are never changed: `withdraw` writes a ``withdrawn`` row naming the one it
withdraws; each row is written in one transaction with its audit entry (``viewer.measured``,
``viewer.withdrawn``) and `verify_measurements` finds a row edited or deleted behind the API.
SQL is portable (``?`` placeholders, plain INSERT): see migration m0120.

Public API::

    keep_measurement(store, patient_id, volume, kind=, points=, ...) -> ViewerMeasurement
    withdraw_measurement(store, uid, reason) -> ViewerMeasurement
    measurements_for_series(store, series_uid) -> list[ViewerMeasurement]    # kept, current
    measurements_for_patient(store, patient_id) -> list[ViewerMeasurement]
    verify_measurements(store) -> list[audit.Problem]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oncoboard import audit
from oncoboard.errors import NotFoundError, OncoboardError
from oncoboard.identity import require
from oncoboard.store import feed

log = logging.getLogger(__name__)
TABLE = "viewer_measurements"
KINDS = ("distance", "roi")
_CONTENT = ("uid", "patient_id", "series_uid", "study_uid", "sop_uid", "frame_number",
            "frame_of_reference_uid", "kind", "label", "points_index", "points_lps", "length_mm",
            "mean", "sd", "area_mm2", "unit", "status", "withdraws", "reason", "measured_at",
            "measured_by")


class MeasurementError(OncoboardError):
    """A viewer measurement cannot be kept as given (field and reason say why)."""


@dataclass(frozen=True)
class ViewerMeasurement:
    """One kept distance or ROI."""

    uid: str
    patient_id: str
    series_uid: str
    study_uid: str
    sop_uid: str
    frame_number: int | None
    frame_of_reference_uid: str
    kind: str
    label: str
    points_index: list[list[float]]
    points_lps: list[list[float]]
    length_mm: float | None
    mean: float | None
    sd: float | None
    area_mm2: float | None
    unit: str
    status: str
    withdraws: str
    reason: str
    measured_at: str
    measured_by: str

    @property
    def slice_index(self) -> int:
        """Return the slice of the first point."""
        return int(round(self.points_index[0][0]))

    def image_points(self) -> list[tuple[float, float]]:
        """Return the points as image (column, row) coordinates on their instance."""
        return [(float(p[2]), float(p[1])) for p in self.points_index]

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _row_to(row: dict[str, Any]) -> ViewerMeasurement:
    values = {k: row[k] for k in _CONTENT}
    values["points_index"] = json.loads(row["points_index"])
    values["points_lps"] = json.loads(row["points_lps"])
    return ViewerMeasurement(**values)


def _finite(value: float | None, field: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        raise MeasurementError("is not a finite number", where=field)
    return round(v, 6)


def _insert(store: Any, row: dict[str, Any], event: str, payload: dict[str, Any]) -> None:
    content = audit.sha256_text(audit.canonical_json({k: row[k] for k in _CONTENT}))
    columns = [*_CONTENT, "audit_hash"]
    with store.transaction() as db:
        entry = audit.append(store, event, {**payload, "content_sha256": content},
                             actor=row["measured_by"])
        row["audit_hash"] = entry.hash
        db.execute(f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 - fixed names
                   f"VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns])
        feed.note_record_change(store, [payload["patient_id"]], "measurements",
                                row["measured_by"])
    if not store.conn.in_transaction:
        audit.checkpoint(store)


def _source(volume: Any, index: np.ndarray) -> tuple[str, int | None]:
    """Return (SOP instance UID, frame number) when every point lies on one acquired slice."""
    slices = {int(round(v)) for v in index[:, 0]}
    sops = volume.meta.get("sop_uids") or []
    frames = volume.meta.get("frame_numbers") or []
    if len(slices) != 1 or len(sops) != volume.shape[0]:
        return "", None  # across slices, or slices not one-to-one with instances (gaps)
    k = slices.pop()
    frame = frames[k] if k < len(frames) else None
    n_frames = sum(1 for s in sops if s == sops[k])
    return str(sops[k]), (int(frame) if frame is not None and n_frames > 1 else None)


def keep_measurement(store: Any, patient_id: str, volume: Any, *, kind: str,
                     points: Sequence[Sequence[float]], label: str = "",
                     mean: float | None = None, sd: float | None = None,
                     area_mm2: float | None = None) -> ViewerMeasurement:
    """Keep a distance (two points) or an ROI (its outline, 3 points or more) made on `volume`.

    `points` are fractional voxel indices (slice, row, column). A distance's length is computed
    from the volume's geometry; an ROI needs its `mean` (and optionally `sd`, `area_mm2`).
    """
    if kind not in KINDS:
        raise MeasurementError(f"must be one of {', '.join(KINDS)}", where="kind")
    index = np.asarray(points, dtype=float)
    need = 2 if kind == "distance" else 3
    if index.ndim != 2 or index.shape[1] != 3 or len(index) < need or (
            kind == "distance" and len(index) != 2):
        raise MeasurementError(f"needs {'two points' if kind == 'distance' else '3 points or more'}"
                               " (slice, row, column)", where="points")
    if not np.all(np.isfinite(index)):
        raise MeasurementError("points must be finite numbers", where="points")
    for point in index:
        if not all(-0.5 <= v <= n - 0.5 for v, n in zip(point, volume.shape, strict=True)):
            raise MeasurementError(f"point {[round(float(v), 2) for v in point]} is outside the "
                                   f"volume {volume.shape}", where="points")
    lps = volume.index_to_patient(index)
    length = float(np.linalg.norm(lps[1] - lps[0])) if kind == "distance" else None
    if kind == "roi" and mean is None:
        raise MeasurementError("an ROI needs its mean value", where="mean")
    sop, frame = _source(volume, index)
    existing = store.db.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE series_uid = ? AND "  # noqa: S608
                                "kind = ? AND status = 'kept'",
                                [volume.series_uid, kind]).fetchone()[0]
    default = f"{'Distance' if kind == 'distance' else 'ROI'} {existing + 1}"
    row: dict[str, Any] = {
        "uid": str(uuid.uuid4()), "patient_id": patient_id, "series_uid": volume.series_uid,
        "study_uid": volume.study_uid or "", "sop_uid": sop, "frame_number": frame,
        "frame_of_reference_uid": str(volume.meta.get("frame_of_reference_uid") or ""),
        "kind": kind, "label": " ".join((label or default).split())[:64],
        "points_index": json.dumps([[round(float(v), 4) for v in p] for p in index]),
        "points_lps": json.dumps([[round(float(v), 4) for v in p] for p in lps]),
        "length_mm": _finite(length, "length"), "mean": _finite(mean, "mean"),
        "sd": _finite(sd, "sd"), "area_mm2": _finite(area_mm2, "area"),
        "unit": "HU" if volume.modality == "CT" and kind == "roi" else "",
        "status": "kept", "withdraws": "", "reason": "",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "measured_by": require(store, "lesion.edit").login}
    _insert(store, row, "viewer.measured", {"patient_id": patient_id, "uid": row["uid"],
                                            "series_uid": volume.series_uid, "kind": kind})
    log.info("viewer %s %s kept on series %s", kind, row["uid"], volume.series_uid)
    return get_measurement(store, row["uid"])


def get_measurement(store: Any, uid: str) -> ViewerMeasurement:
    """Return one row by uid, or raise NotFoundError."""
    rows = list(store.db.query(f"SELECT * FROM {TABLE} WHERE uid = ?", [uid]))  # noqa: S608
    if not rows:
        raise NotFoundError(f"no viewer measurement {uid}", where="measurement")
    return _row_to(rows[0])


def withdraw_measurement(store: Any, uid: str, reason: str) -> ViewerMeasurement:
    """Withdraw a kept measurement (a new row; the kept one stays for the record)."""
    kept = get_measurement(store, uid)
    if kept.status != "kept":
        raise MeasurementError("is a withdrawal, not a measurement", where=uid)
    if uid not in {m.uid for m in measurements_for_series(store, kept.series_uid)}:
        raise MeasurementError("was already withdrawn", where=uid)
    reason = " ".join(str(reason).split())[:200]
    if not reason:
        raise MeasurementError("must not be empty", where="reason")
    row = {**{k: getattr(kept, k) for k in _CONTENT}, "uid": str(uuid.uuid4()),
           "points_index": json.dumps(kept.points_index),
           "points_lps": json.dumps(kept.points_lps), "status": "withdrawn", "withdraws": uid,
           "reason": reason, "measured_at": dt.datetime.now(dt.UTC).isoformat(
               timespec="microseconds"), "measured_by": require(store, "lesion.edit").login}
    _insert(store, row, "viewer.withdrawn", {"patient_id": kept.patient_id, "uid": row["uid"],
                                             "withdraws": uid})
    return get_measurement(store, row["uid"])


def _current(rows: list[dict[str, Any]]) -> list[ViewerMeasurement]:
    gone = {r["withdraws"] for r in rows if r["status"] == "withdrawn"}
    return [_row_to(r) for r in rows if r["status"] == "kept" and r["uid"] not in gone]


def measurements_for_series(store: Any, series_uid: str) -> list[ViewerMeasurement]:
    """Return the kept (not withdrawn) measurements of a series, oldest first."""
    if TABLE not in store.db.table_names():
        return []
    return _current(list(store.db.query(
        f"SELECT * FROM {TABLE} WHERE series_uid = ? ORDER BY measured_at, uid",  # noqa: S608
        [series_uid])))


def measurements_for_patient(store: Any, patient_id: str) -> list[ViewerMeasurement]:
    """Return the kept (not withdrawn) measurements of a patient, oldest first."""
    if TABLE not in store.db.table_names():
        return []
    return _current(list(store.db.query(
        f"SELECT * FROM {TABLE} WHERE patient_id = ? ORDER BY measured_at, uid",  # noqa: S608
        [patient_id])))


def verify_measurements(store: Any) -> list[audit.Problem]:
    """Return a problem for each row that differs from its audit entry, or whose entry or row
    is gone (for `audit.verify`, as `oncoboard.imaging.lesions.verify_lesions`)."""
    if TABLE not in store.db.table_names():
        return []
    by_hash = {e.hash: e for e in audit.entries(store) if e.event_type.startswith("viewer.")}
    problems: list[audit.Problem] = []
    seen: set[str] = set()
    for row in store.db.query(f"SELECT * FROM {TABLE}"):  # noqa: S608
        seen.add(row["audit_hash"])
        entry = by_hash.get(row["audit_hash"])
        content = audit.sha256_text(audit.canonical_json({k: row[k] for k in _CONTENT}))
        if entry is None:
            problems.append(audit.Problem(0, "deleted",
                                          f"viewer measurement {row['uid']} has no audit entry"))
        elif entry.payload.get("content_sha256") != content:
            problems.append(audit.Problem(entry.seq, "edited", f"viewer measurement "
                                          f"{row['uid']} differs from its audit entry"))
    for digest, entry in by_hash.items():
        if digest not in seen:
            problems.append(audit.Problem(entry.seq, "deleted", f"{entry.event_type} "
                                          f"{entry.payload.get('uid')} (entry {entry.seq}) is "
                                          "missing from the database"))
    return problems
