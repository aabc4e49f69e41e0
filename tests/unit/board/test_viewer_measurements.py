"""Distances and ROIs kept from the viewer: stored per patient and series, audited, withdrawn
by a new row, and sent to the PACS in the TID 1500 report (round trip through Orthanc)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "imaging"))
from orthanc import HAS_DICOMWEB, OrthancServer, orthanc_fixture  # noqa: E402,F401
from test_board_case_view import _ct_with_gtv, _store_prediction  # noqa: E402

from oncoboard import audit  # noqa: E402
from oncoboard.board import dicom_out, meetings, send  # noqa: E402
from oncoboard.board.trail import verify_trail  # noqa: E402
from oncoboard.imaging import display  # noqa: E402
from oncoboard.imaging import measurements as vm  # noqa: E402


@pytest.fixture
def ct(store, tmp_path):
    """Return the indexed CT volume of LUN-001 (a tumour around slice 15)."""
    from oncoboard.imaging import index_paths, list_series, load_series

    index_paths(store, [_ct_with_gtv(tmp_path, "LUN-001")])
    uid = next(s.series_uid for s in list_series(store, "LUN-001") if s.modality == "CT")
    return load_series(store, uid)


def roi_outline(centre: tuple[float, float], radius: float, k: int) -> list[list[float]]:
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return [[k, centre[0] + radius * np.sin(a), centre[1] + radius * np.cos(a)] for a in t]


def test_kept_distance_and_roi_are_stored_audited_and_withdrawn(store, ct) -> None:
    d = vm.keep_measurement(store, "LUN-001", ct, kind="distance",
                            points=[[15, 24, 34], [15, 24, 46]])
    assert d.length_mm == pytest.approx(12 * 0.9) and d.label == "Distance 1"
    assert d.sop_uid == ct.meta["sop_uids"][15] and d.study_uid == ct.study_uid
    assert np.allclose(d.points_lps, ct.index_to_patient(np.array(d.points_index)), atol=1e-3)
    plane = np.asarray(ct.voxels[15])
    mask = display.ellipse_mask(plane.shape, (24, 40), (4, 4))
    stats = display.roi_stats(plane, mask, 0.81)
    r = vm.keep_measurement(store, "LUN-001", ct, kind="roi", label="GTV density",
                            points=roi_outline((24, 40), 4, 15), mean=stats["mean"],
                            sd=stats["sd"], area_mm2=stats["area_mm2"])
    assert r.unit == "HU" and r.mean == pytest.approx(70, abs=1)
    across = vm.keep_measurement(store, "LUN-001", ct, kind="distance",
                                 points=[[10, 24, 34], [20, 24, 34]])
    assert across.sop_uid == "" and across.length_mm == pytest.approx(25.0)
    assert [m.uid for m in vm.measurements_for_series(store, ct.series_uid)] == [
        d.uid, r.uid, across.uid]
    gone = vm.withdraw_measurement(store, across.uid, "drawn on the wrong slices")
    assert gone.status == "withdrawn" and gone.withdraws == across.uid
    assert [m.uid for m in vm.measurements_for_patient(store, "LUN-001")] == [d.uid, r.uid]
    events = [e.event_type for e in audit.entries(store) if e.event_type.startswith("viewer.")]
    assert events == ["viewer.measured"] * 3 + ["viewer.withdrawn"]
    assert verify_trail(store).ok
    store.db.execute("UPDATE viewer_measurements SET mean = 10 WHERE uid = ?", [r.uid])
    report = verify_trail(store)
    assert not report.ok and any("differs from its audit entry" in p.detail
                                 for p in report.problems)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "angle", "points": [[0, 0, 0], [1, 1, 1]]}, "must be one of"),
    ({"kind": "distance", "points": [[0, 0, 0]]}, "needs two points"),
    ({"kind": "distance", "points": [[0, 0, 0], [0, 0, 999]]}, "outside the volume"),
    ({"kind": "roi", "points": [[1, 1, 1], [1, 2, 2], [1, 3, 1]]}, "needs its mean"),
    ({"kind": "roi", "points": [[1, 1, 1], [1, 2, 2], [1, 3, 1]], "mean": float("nan")},
     "not a finite number"),
])
def test_bad_measurements_are_refused_with_the_reason(store, ct, kwargs, message) -> None:
    with pytest.raises(vm.MeasurementError, match=message):
        vm.keep_measurement(store, "LUN-001", ct, **kwargs)
    assert vm.measurements_for_patient(store, "LUN-001") == []


@pytest.mark.orthanc
@pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")
def test_kept_measurements_go_in_the_tid1500_report_and_come_back(store, ct,
                                                                  orthanc: OrthancServer) -> None:
    import highdicom as hd
    import pydicom
    from dicomweb_client.api import DICOMwebClient

    _store_prediction(store, "LUN-001")
    meeting = meetings.create_meeting(store, date="2026-11-23", specialty="thorax", title="RCP")
    meetings.add_case(store, meeting.id, "LUN-001", question="SBRT?")
    d = vm.keep_measurement(store, "LUN-001", ct, kind="distance",
                            points=[[15, 24, 34], [15, 24, 46]], label="tumour width")
    r = vm.keep_measurement(store, "LUN-001", ct, kind="roi", label="GTV density",
                            points=roi_outline((24, 40), 4, 16), mean=70.25, sd=3.5,
                            area_mm2=40.5)
    vm.keep_measurement(store, "LUN-001", ct, kind="distance",
                        points=[[10, 24, 34], [20, 24, 34]])  # across slices: not sent
    node = orthanc.web_node()
    items = send.send_case(store, None, meeting.id, "LUN-001", node)
    [sr_item] = [i for i in items if i.kind == "measurement-report"]
    assert sr_item.status == "sent"
    sr = DICOMwebClient(orthanc.dicomweb_url).retrieve_instance(
        ct.study_uid, *_series_and_sop(orthanc, sr_item.sop_uid))
    assert isinstance(sr, pydicom.Dataset)
    hd.sr.Comprehensive3DSR.from_dataset(sr)  # highdicom parses what the PACS holds
    back = {g["label"]: g for g in dicom_out.read_measurements(sr)}
    assert set(back) == {"tumour width", "GTV density"}
    assert back["tumour width"]["sop_uid"] == d.sop_uid
    assert back["tumour width"]["values"] == {"Length": d.length_mm}
    assert np.allclose(back["tumour width"]["points"], d.image_points())
    assert back["GTV density"]["sop_uid"] == r.sop_uid == ct.meta["sop_uids"][16]
    assert back["GTV density"]["values"] == {"Mean": 70.25, "Standard Deviation": 3.5,
                                             "Area": 40.5}
    assert np.allclose(back["GTV density"]["points"][:-1], r.image_points())  # closed outline
    # only what is missing is sent again: a withdrawal makes a new report, sent alone
    assert {i.status for i in send.send_case(store, None, meeting.id, "LUN-001", node)} == {
        "already sent"}
    vm.withdraw_measurement(store, r.uid, "ROI on the vessel")
    again = send.send_case(store, None, meeting.id, "LUN-001", node)
    assert [(i.kind, i.status) for i in again if i.status != "already sent"] == [
        ("measurement-report", "sent")]


def _series_and_sop(orthanc: OrthancServer, sop_uid: str) -> tuple[str, str]:
    [found] = orthanc.http("/tools/lookup", sop_uid.encode())  # type: ignore[misc]
    tags = orthanc.http(f"/instances/{found['ID']}/simplified-tags")
    assert isinstance(tags, dict)
    return str(tags["SeriesInstanceUID"]), sop_uid
