"""The PACS client against a real Orthanc on 127.0.0.1, and its errors against dead ports."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from orthanc import HOST, TEST_AET, OrthancServer, free_port, orthanc_fixture  # noqa: F401
from pydicom.uid import RLELossless

from oncoboard.config import PacsNode
from oncoboard.errors import NotFoundError, PacsError, StorageError
from oncoboard.imaging import pacs

pytestmark = pytest.mark.orthanc


def _move_kwargs(server: OrthancServer, **changes: object) -> dict[str, object]:
    values: dict[str, object] = dict(method="move", local_ae_title=TEST_AET,
                                     local_port=server.move_port, local_host=HOST)
    values.update(changes)
    return values


def _check_files(report: pacs.RetrieveReport, dest: Path, expected: list) -> None:
    by_uid = {ds.SOPInstanceUID: ds for ds in expected}
    assert len(report.files) == len(expected)
    assert report.failures == [] and not report.cancelled
    for path in report.files:
        assert path.parent == dest / report.study_uid
        got = pydicom.dcmread(path)
        assert path.name == f"{got.SOPInstanceUID}.dcm"
        original = by_uid.pop(got.SOPInstanceUID)
        assert got.StudyInstanceUID == report.study_uid
        if "PixelData" in original:
            assert np.array_equal(got.pixel_array, original.pixel_array)
    assert by_uid == {}


def test_echo_answers(orthanc: OrthancServer) -> None:
    result = pacs.echo(orthanc.node())
    assert result.node == "orthanc-test"
    assert 0 < result.elapsed_s < 5


def test_find_patients_with_wildcard_and_exact_id(orthanc: OrthancServer) -> None:
    node = orthanc.node()
    everyone = pacs.find(node, "patient", {"patient_id": "ONCO-PACS-*"})
    assert [p["patient_id"] for p in everyone] == ["ONCO-PACS-001", "ONCO-PACS-002"]
    [beta] = pacs.find(node, "patient", {"patient_id": "ONCO-PACS-002"})
    assert beta["patient_name"] == "Test^Beta"
    assert beta["birth_date"] == "1960-01-01"
    assert beta["n_studies"] == 1


def test_find_stops_at_the_limit(orthanc: OrthancServer) -> None:
    [first] = pacs.find(orthanc.node(), "series", limit=1)
    assert first["series_uid"] in {uid for st in orthanc.studies for uid in st.series}
    assert len(pacs.find(orthanc.node(), "series", limit=2)) == 2
    assert pacs.echo(orthanc.node())  # the cancelled query left the node usable


def test_find_studies_by_modality_date_and_patient(orthanc: OrthancServer) -> None:
    node = orthanc.node()
    ct_study, mr_study = orthanc.studies
    [ct] = pacs.find(node, "study", {"modality": "CT"})
    assert ct["study_uid"] == ct_study.study_uid
    assert ct["study_date"] == "2024-03-15"
    assert sorted(ct["modalities"]) == ["CT", "RTSTRUCT"]
    assert (ct["n_series"], ct["n_instances"]) == (2, 5)
    assert ct["patient_id"] == "ONCO-PACS-001" and ct["description"] == "Synthetic CT study"
    [mr] = pacs.find(node, "study", {"study_date": "20230101-20231231"})
    assert mr["study_uid"] == mr_study.study_uid
    assert [s["study_uid"] for s in pacs.find(node, "study", {"study_date": "20240101-"})] == [
        ct_study.study_uid]
    iso = pacs.find(node, "study", {"study_date": "2023-01-01..2023-12-31"})
    assert [s["study_uid"] for s in iso] == [mr_study.study_uid]
    assert [s["study_date"] for s in pacs.find(node, "study", {"study_date": "2024-03-15"})] == [
        "2024-03-15"]
    assert pacs.find(node, "study", {"patient_id": "ONCO-PACS-002", "modality": "CT"}) == []
    assert len(pacs.find(node, "study")) == 2


def test_find_series_of_a_study(orthanc: OrthancServer) -> None:
    node = orthanc.node()
    ct_study, mr_study = orthanc.studies
    series = pacs.find(node, "series", {"study_uid": ct_study.study_uid})
    assert {s["series_uid"] for s in series} == set(ct_study.series)
    assert {(s["modality"], s["n_instances"]) for s in series} == {("CT", 4), ("RTSTRUCT", 1)}
    [mr] = pacs.find(node, "series", {"modality": "MR"})
    assert mr["series_uid"] in mr_study.series and mr["study_uid"] == mr_study.study_uid


def test_bad_filters_are_refused_before_any_traffic() -> None:
    node = PacsNode("nowhere", "X", HOST, free_port())
    with pytest.raises(PacsError, match="cannot filter patients by modality"):
        pacs.find(node, "patient", {"modality": "CT"})
    with pytest.raises(PacsError, match="invalid study_date '2024-13'"):
        pacs.find(node, "study", {"study_date": "2024-13"})
    with pytest.raises(PacsError, match="unknown query level"):
        pacs.find(node, "instance", {})  # type: ignore[arg-type]
    with pytest.raises(PacsError, match="invalid study UID"):
        pacs.retrieve(node, dest=Path("/nonexistent"), study_uid="../etc")


@pytest.mark.parametrize("method", ["get", "move"])
def test_retrieve_study(orthanc: OrthancServer, tmp_path: Path, method: str) -> None:
    ct_study = orthanc.studies[0]
    seen: list[tuple[int, int]] = []
    kwargs = _move_kwargs(orthanc) if method == "move" else {}
    report = pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=ct_study.study_uid,
                           progress=lambda done, total, msg: seen.append((done, total)),
                           **kwargs)  # type: ignore[arg-type]
    _check_files(report, tmp_path, ct_study.instances)
    assert report.method == method and report.completed == 5 and report.failed == 0
    assert seen[-1] == (5, 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("method", ["get", "move"])
def test_retrieve_compressed_series_keeps_its_syntax(orthanc: OrthancServer, tmp_path: Path,
                                                     method: str) -> None:
    mr_study = orthanc.studies[1]
    [series_uid] = mr_study.series
    kwargs = _move_kwargs(orthanc) if method == "move" else {}
    report = pacs.retrieve(orthanc.node(), dest=tmp_path, series_uid=series_uid,
                           **kwargs)  # type: ignore[arg-type]
    assert report.study_uid == mr_study.study_uid  # looked up by C-FIND
    _check_files(report, tmp_path, mr_study.instances)
    for path in report.files:
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == RLELossless


def test_retrieve_one_series_of_a_study(orthanc: OrthancServer, tmp_path: Path) -> None:
    ct_study = orthanc.studies[0]
    rt_uid = next(uid for uid, dss in ct_study.series.items() if dss[0].Modality == "RTSTRUCT")
    report = pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=ct_study.study_uid,
                           series_uid=rt_uid)
    _check_files(report, tmp_path, ct_study.series[rt_uid])


@pytest.mark.parametrize("method", ["get", "move"])
def test_cancel_mid_transfer_leaves_nothing(orthanc: OrthancServer, tmp_path: Path,
                                            method: str) -> None:
    ct_study = orthanc.studies[0]
    received: list[int] = []
    kwargs = _move_kwargs(orthanc) if method == "move" else {}
    report = pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=ct_study.study_uid,
                           progress=lambda done, total, msg: received.append(done),
                           cancel=lambda: bool(received) and received[-1] >= 2,
                           **kwargs)  # type: ignore[arg-type]
    assert report.cancelled
    assert 2 <= max(received) < 5  # it stopped part-way
    assert report.files == []
    assert list(tmp_path.rglob("*.dcm")) == [] and list(tmp_path.rglob("*.part")) == []
    # The node is still usable afterwards.
    again = pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=ct_study.study_uid,
                          **kwargs)  # type: ignore[arg-type]
    assert len(again.files) == 5


def test_cancel_before_start(orthanc: OrthancServer, tmp_path: Path) -> None:
    report = pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=orthanc.studies[0].study_uid,
                           cancel=lambda: True)
    assert report.cancelled and report.files == []


@pytest.mark.parametrize("method", ["get", "move"])
def test_local_write_failure_is_named(orthanc: OrthancServer, tmp_path: Path,
                                      method: str) -> None:
    study_uid = orthanc.studies[0].study_uid
    (tmp_path / study_uid).write_text("a file where the study folder should go")
    kwargs = _move_kwargs(orthanc) if method == "move" else {}
    expected = (f"the study {study_uid} from PACS 'orthanc-test' at {HOST}:"
                r"\d+ cannot be saved: cannot write .*: File exists")
    with pytest.raises(StorageError, match=expected):
        pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=study_uid,
                      **kwargs)  # type: ignore[arg-type]


def test_unknown_move_destination(orthanc: OrthancServer, tmp_path: Path) -> None:
    with pytest.raises(PacsError) as err:
        pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid=orthanc.studies[0].study_uid,
                      **_move_kwargs(orthanc, local_ae_title="NOWHERE"))  # type: ignore[arg-type]
    message = err.value.message
    assert message.startswith(f"PACS 'orthanc-test' at {HOST}:{orthanc.dicom_port} failed the "
                              "C-MOVE")
    assert "move destination" in message and "'NOWHERE'" in message
    assert list(tmp_path.rglob("*.dcm")) == []


@pytest.mark.parametrize("method", ["get", "move"])
def test_unknown_study(orthanc: OrthancServer, tmp_path: Path, method: str) -> None:
    kwargs = _move_kwargs(orthanc) if method == "move" else {}
    with pytest.raises(NotFoundError, match=r"has no study 1\.2\.3\.4\.5$"):
        pacs.retrieve(orthanc.node(), dest=tmp_path, study_uid="1.2.3.4.5",
                      **kwargs)  # type: ignore[arg-type]
    with pytest.raises(PacsError, match=r"has no series 1\.2\.3\.4\.6$"):
        pacs.retrieve(orthanc.node(), dest=tmp_path, series_uid="1.2.3.4.6")


def test_unknown_calling_ae_title_is_rejected(orthanc: OrthancServer) -> None:
    with pytest.raises(PacsError) as err:
        pacs.echo(orthanc.node(calling_ae_title="STRANGER"))
    assert err.value.message == (
        f"PACS 'orthanc-test' at {HOST}:{orthanc.dicom_port} rejected the association: Calling "
        "AE title not recognised; the PACS does not know our AE title 'STRANGER': ask its "
        "administrator to register it")


def test_wrong_called_ae_title_is_rejected(orthanc: OrthancServer) -> None:
    with pytest.raises(PacsError, match="rejected the association: Called AE title not "
                                        "recognised; the PACS's AE title is not 'WRONG'"):
        pacs.find(orthanc.node(ae_title="WRONG"), "study")


def test_refused_connection() -> None:
    port = free_port()  # nothing listens there
    node = PacsNode("closed", "PACS", HOST, port, timeout_s=5)
    start = time.monotonic()
    with pytest.raises(PacsError) as err:
        pacs.echo(node)
    assert err.value.message.startswith(f"PACS 'closed' at {HOST}:{port} refused the connection")
    assert time.monotonic() - start < 2


def test_unknown_host_is_named_not_an_internal_error() -> None:
    node = PacsNode("typo", "PACS", "no-such-pacs.invalid", 104, timeout_s=5)
    with pytest.raises(PacsError) as err:
        pacs.echo(node)
    assert err.value.message.startswith("PACS 'typo': unknown host 'no-such-pacs.invalid'")


def test_silent_listener_times_out() -> None:
    # The kernel completes the TCP handshake from the backlog; nobody ever answers.
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        node = PacsNode("silent", "PACS", HOST, port, timeout_s=0.5)
        start = time.monotonic()
        with pytest.raises(PacsError) as err:
            pacs.echo(node)
        elapsed = time.monotonic() - start
    assert err.value.message == (
        f"PACS 'silent' at {HOST}:{port} accepted the connection but did not answer the "
        "association request within 0.5 s (is it a DICOM port?)")
    assert 0.4 < elapsed < 3


def test_move_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        node = PacsNode("any", "PACS", HOST, free_port(), timeout_s=1)
        with pytest.raises(PacsError, match=f"cannot receive the C-MOVE on local port {port}"):
            pacs.retrieve(node, dest=tmp_path, study_uid="1.2.3", method="move",
                          local_port=port, local_host=HOST)


def test_logs_carry_uids_but_no_patient_names(orthanc: OrthancServer, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG)
    try:
        node = orthanc.node()
        assert pacs.find(node, "study", {"patient_name": "Test^*"})
        study_uid = orthanc.studies[1].study_uid
        pacs.retrieve(node, dest=tmp_path, study_uid=study_uid, **_move_kwargs(orthanc))  # type: ignore[arg-type]
        pacs.retrieve(node, dest=tmp_path, study_uid=study_uid)
    finally:
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    assert study_uid in caplog.text and "orthanc-test" in caplog.text
    assert "Test^" not in caplog.text and "Alpha" not in caplog.text
    assert "Beta" not in caplog.text


def test_retrieve_into_store_indexes_the_study(orthanc: OrthancServer, tmp_path: Path) -> None:
    from oncoboard.config import Settings
    from oncoboard.imaging import list_series
    from oncoboard.store import open_store

    settings = Settings(data_dir=tmp_path, local_ae_title=TEST_AET, local_port=orthanc.move_port)
    store = open_store(tmp_path / "oncoboard.db")
    try:
        ct_study = orthanc.studies[0]
        report = pacs.retrieve_into_store(settings, store, orthanc.node(),
                                          study_uid=ct_study.study_uid, method="get")
        assert report.folder == tmp_path / "dicom" / "pacs"
        assert all(p.parent == tmp_path / "dicom" / "pacs" / ct_study.study_uid
                   for p in report.files)
        assert report.index.instances_indexed == 5
        indexed = {s.series_uid: s.n_instances for s in list_series(store)}
        assert indexed == {uid: len(dss) for uid, dss in ct_study.series.items()}
        assert report.to_dict()["index"]["instances_indexed"] == 5
    finally:
        store.close()
