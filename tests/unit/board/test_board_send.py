"""Results back to the PACS per board case, against Orthanc with DICOMweb and DIMSE."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "imaging"))
from orthanc import HAS_DICOMWEB, OrthancServer, orthanc_fixture  # noqa: E402,F401
from test_board_case_view import _ct_with_gtv, _store_prediction  # noqa: E402

from oncoboard.board import dicom_out, meetings, model_sr, send  # noqa: E402

pytestmark = [pytest.mark.orthanc,
              pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")]


@pytest.fixture
def case(store, tmp_path):
    from oncoboard.imaging import index_paths

    index_paths(store, [_ct_with_gtv(tmp_path, "LUN-001")])
    _store_prediction(store, "LUN-001", outside=True)
    m = meetings.create_meeting(store, date="2026-11-23", specialty="thorax", title="RCP thorax")
    meetings.add_case(store, m.id, "LUN-001", question="Surgery or SBRT?")
    meetings.add_case(store, m.id, "BRC-001", question="No images")
    return m


def _fetch(orthanc: OrthancServer, sop_uid: str) -> pydicom.Dataset:
    from io import BytesIO

    [found] = orthanc.http("/tools/lookup", sop_uid.encode())  # type: ignore[misc]
    raw = orthanc.http(f"/instances/{found['ID']}/file", raw=True)
    assert isinstance(raw, bytes), raw
    return pydicom.dcmread(BytesIO(raw), force=raw[128:132] != b"DICM")


@pytest.mark.parametrize("kind", ["dicomweb", "dimse"])
def test_send_stores_pdf_sr_and_kos_once(store, case, orthanc: OrthancServer, kind: str) -> None:
    from oncoboard import audit

    node = orthanc.web_node() if kind == "dicomweb" else orthanc.node()
    items = send.send_meeting(store, None, case.id, node)
    by_item = {i.item.split(":")[0]: i for i in items}
    assert by_item["case"].status == "skipped" and "no imaging study" in by_item["case"].reason
    assert {i.status for i in items if i.patient_id == "LUN-001"} == {"sent"}
    study_uid = store.db.execute("SELECT study_uid FROM dicom_studies").fetchone()[0]
    pdf = _fetch(orthanc, by_item["report-pdf"].sop_uid)
    assert pdf.Modality == "DOC" and pdf.StudyInstanceUID == study_uid
    assert pdf.PatientID == "LUN-001"
    assert bytes(pdf.EncapsulatedDocument)[:5] == b"%PDF-"
    sr = _fetch(orthanc, by_item["model-sr"].sop_uid)
    assert sr.StudyInstanceUID == study_uid and sr.Modality == "SR"
    read = model_sr.read_model_result(sr)  # highdicom parses what the PACS holds
    assert read["Model file SHA-256"] == "fe" * 32 and read["Algorithm Version"] == "1.0.0"
    assert read["Patient outside intended population"] == "Yes"
    assert read["Model trained on synthetic data"] == "Yes"
    assert read["Estimate extrapolated"] == "No"
    assert read["outputs"]["p5y"] == [(0.3, None, 0.21, 0.39, 0.95)]
    assert read["inputs"] == {"age": (65, "None", None)}
    ko = _fetch(orthanc, by_item["key-image-ko"].sop_uid)
    assert ko.Modality == "KO"
    # Sending again sends nothing; the records and the audit trail say what was sent.
    again = send.send_meeting(store, None, case.id, node, patient_id="LUN-001")
    assert {i.status for i in again} == {"already sent"}
    rows = send.sent_items(store, case.id)
    assert len(rows) == 3 and all(r["status"] == "sent" and r["sent_by"] for r in rows)
    assert len([e for e in audit.entries(store) if e.event_type == "board.sent"]) == 3


def test_a_failed_store_is_not_sent_with_the_reason_then_resent(store, case, tmp_path) -> None:
    from orthanc import HOST, free_port, make_studies, start_orthanc

    from oncoboard.config import PacsNode

    down = PacsNode("down", dicomweb_url=f"http://{HOST}:{free_port()}/dicom-web", timeout_s=2)
    items = send.send_case(store, None, case.id, "LUN-001", down)
    assert {i.status for i in items} == {"not sent"}
    assert all("refused the connection" in i.reason for i in items)
    server = start_orthanc(tmp_path / "orthanc2")
    try:
        up = server.web_node(name="down")
        items = send.send_case(store, None, case.id, "LUN-001", up)
        assert {i.status for i in items} == {"sent"}
    finally:
        server.stop()
    del make_studies


def test_tid1500_round_trip_on_real_generated_images(tmp_path) -> None:
    folder = _ct_with_gtv(tmp_path, "LUN-009")
    images = sorted((pydicom.dcmread(p) for p in (folder / "ct").glob("*.dcm")),
                    key=lambda d: int(d.InstanceNumber))
    a, b = images[15], images[16]
    measurements = [
        dicom_out.Measurement("distance", "long axis", 12.5, [(30.0, 20.0), (44.0, 26.0)],
                              str(a.SOPInstanceUID)),
        dicom_out.Measurement("roi", "GTV density", 70.2, [(35.0, 20.0), (45.0, 20.0),
                                                           (45.0, 28.0), (35.0, 28.0)],
                              str(b.SOPInstanceUID), sd=4.1, area_mm2=64.8)]
    sr = dicom_out.measurement_report(measurements, [a, b], observer="Petit^Marc")
    import highdicom as hd

    parsed = hd.sr.Comprehensive3DSR.from_dataset(sr)
    assert parsed.StudyInstanceUID == a.StudyInstanceUID
    back = dicom_out.read_measurements(sr)
    assert [g["sop_uid"] for g in back] == [a.SOPInstanceUID, b.SOPInstanceUID]
    assert back[0]["values"] == {"Length": 12.5}
    assert back[1]["values"] == {"Mean": 70.2, "Standard Deviation": 4.1, "Area": 64.8}
    assert np.allclose(back[0]["points"], [(30.0, 20.0), (44.0, 26.0)])


def test_lesion_measurements_go_as_tid1500_and_come_back_the_same(store, case,
                                                                  orthanc: OrthancServer) -> None:
    import highdicom as hd

    from oncoboard.imaging import lesions

    series_uid = store.db.execute(
        "SELECT series_uid FROM dicom_series WHERE modality = 'CT'").fetchone()[0]
    lesions.define_lesion(store, "LUN-001", kind="target", label="lung RUL")
    lesions.define_lesion(store, "LUN-001", kind="target", label="subcarinal node", is_node=True)
    first = lesions.record_on_series(store, "LUN-001", 1, series_uid=series_uid, slice_index=15,
                                     long_axis=((24, 34), (24, 46)))
    node_reading = lesions.record_on_series(store, "LUN-001", 2, series_uid=series_uid,
                                            slice_index=14, long_axis=((20, 10), (20, 22)),
                                            short_axis=((16, 16), (24, 16)))
    node = orthanc.web_node()
    items = send.send_case(store, None, case.id, "LUN-001", node)
    [sr_item] = [i for i in items if i.kind == "measurement-report"]
    assert sr_item.status == "sent" and sr_item.item.startswith("measurements-sr:")
    sr = _fetch(orthanc, sr_item.sop_uid)
    parsed = hd.sr.Comprehensive3DSR.from_dataset(sr)  # highdicom parses what the PACS holds
    assert parsed.StudyInstanceUID == first.study_uid and sr.PatientID == "LUN-001"
    back = {g["label"]: g for g in dicom_out.read_measurements(sr)}
    assert set(back) == {"Lesion 1 lung RUL: long axis", "Lesion 2 subcarinal node: long axis",
                         "Lesion 2 subcarinal node: short axis"}
    long_ = back["Lesion 1 lung RUL: long axis"]
    assert long_["sop_uid"] == first.sop_uid
    assert long_["values"] == {"Length": first.long_axis_mm}
    assert np.allclose(long_["points"], [(p[2], p[1]) for p in first.long_axis_index])
    short = back["Lesion 2 subcarinal node: short axis"]
    assert short["sop_uid"] == node_reading.sop_uid != first.sop_uid
    assert short["values"] == {"Length": node_reading.short_axis_mm}
    # Sending again sends nothing new; a re-measurement makes a new report, sent alone.
    again = send.send_case(store, None, case.id, "LUN-001", node)
    assert {i.status for i in again} == {"already sent"}
    lesions.record_on_series(store, "LUN-001", 1, series_uid=series_uid, slice_index=15,
                             long_axis=((24, 33), (24, 47)))
    third = send.send_case(store, None, case.id, "LUN-001", node)
    assert [(i.kind, i.status) for i in third if i.status != "already sent"] == [
        ("measurement-report", "sent")]
    back = {g["label"]: g for g in dicom_out.read_measurements(
        _fetch(orthanc, [i for i in third if i.status == "sent"][0].sop_uid))}
    assert back["Lesion 1 lung RUL: long axis"]["values"]["Length"] == 12.6


def test_pacs_refusing_one_item_leaves_it_not_sent_then_sends_only_it(store, case,
                                                                       tmp_path) -> None:
    """A PACS whose rule drops key-object selections (an Orthanc Lua filter): its STOW-RS
    answer says stored, the check after the store finds it missing; the others are sent."""
    from orthanc import start_orthanc

    script, lifted = tmp_path / "filter.lua", tmp_path / "rule-lifted"
    script.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n"
                      f"  local f = io.open('{lifted}')\n"
                      "  if f then f:close() return true end\n"
                      "  return dicom.Modality ~= 'KO'\nend\n")
    server = start_orthanc(tmp_path / "orthanc-filter", {"LuaScripts": [str(script)]})
    try:
        node = server.web_node()
        items = {i.kind: i for i in send.send_case(store, None, case.id, "LUN-001", node)}
        ko = items.pop("key-object-selection")
        assert ko.status == "not sent" and "does not hold it" in ko.reason and not ko.sop_uid
        assert {i.status for i in items.values()} == {"sent"}
        rows = send.case_status(store, case.id, "LUN-001")
        assert any(r["kind"] == "key-object-selection" and r["status"] == "not sent"
                   and "does not hold it" in r["reason"] for r in rows)
        lifted.write_text("")  # the PACS's rule lifted
        again = send.send_case(store, None, case.id, "LUN-001", node)
        assert sorted((i.kind, i.status) for i in again) == sorted(
            [(k, "already sent") for k in items] + [("key-object-selection", "sent")])
    finally:
        server.stop()
