"""The DICOM index: folders, zip, DICOMDIR, broken files, patient links, cancel, idempotence.

Every test runs on SQLite and on a PostgreSQL site database (the `store` fixture below; the
DICOM files and the cache stay in the data folder either way).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from imaging_helpers import sphere_series

from oncoboard.errors import DicomError, NotFoundError
from oncoboard.imaging import index as index_mod
from oncoboard.imaging.index import index_paths, list_series, relink_studies
from oncoboard.imaging.loader import load_series
from oncoboard.store import open_store


@pytest.fixture
def store(data_dir: Any, db_target: Any) -> Any:
    """Return a fresh store: the data folder's SQLite file (made first), or a PostgreSQL
    database."""
    s = open_store(db_target)
    yield s
    s.close()


def _add_patient(store: Any, pid: str, birth: str = "1960-01-01") -> None:
    store.db["patients"].insert({"id": pid, "birth_date": birth, "sex": "female",
                                 "imported_at": "2026-11-23T00:00:00+00:00"})


def _count(store: Any, table: str) -> int:
    return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_folder_with_broken_files(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "in" / "ct", n=8)
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    (tmp_path / "in" / "garbage.dcm").write_bytes(os.urandom(3000))
    truncated = tmp_path / "in" / "truncated.dcm"
    truncated.write_bytes(case.paths[0].read_bytes()[:-500])
    ds = pydicom.dcmread(case.paths[1])
    del ds.PixelData
    ds.SOPInstanceUID = "1.2.3.999"
    ds.save_as(tmp_path / "in" / "nopixels.dcm")
    header_only = tmp_path / "in" / "header_cut.dcm"
    header_only.write_bytes(case.paths[2].read_bytes()[:300])
    report = index_paths(store, [tmp_path / "in"], settings=settings)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert reasons["notes.txt"] == "not a DICOM file"
    assert reasons["garbage.dcm"] == "not a DICOM file"
    assert "truncated" in reasons["truncated.dcm"]
    assert "no pixel data" in reasons["nopixels.dcm"]
    assert "header_cut.dcm" in reasons
    assert report.instances_indexed == 8
    assert report.series_uids == [case.series_uid]
    vol = load_series(store, case.series_uid, settings=settings)
    np.testing.assert_array_equal(vol.voxels, case.expected)


def test_reindexing_is_idempotent(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=6)
    first = index_paths(store, [tmp_path], settings=settings)
    before = [list(store.db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
              for t in ("dicom_series", "dicom_instances")]
    second = index_paths(store, [tmp_path, case.paths[0]], settings=settings)
    after = [list(store.db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
             for t in ("dicom_series", "dicom_instances")]
    assert first.instances_indexed == 6
    assert second.instances_indexed == 0 and second.unchanged == 6
    assert before == after


def test_zip_and_dicomdir(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "src", n=5)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in case.paths:
            zf.write(p, f"DICOM/{p.name}")
        zf.writestr("README.txt", "hello")
    report = index_paths(store, [archive], settings=settings)
    assert report.instances_indexed == 5
    stored = store.db.execute("SELECT path FROM dicom_instances").fetchall()
    assert all(str(settings.data_dir / "dicom" / "zip") in r[0] for r in stored)
    assert [Path(p).name for p, _ in report.skipped] == ["README.txt"]
    vol = load_series(store, case.series_uid, settings=settings, use_cache=False)
    np.testing.assert_array_equal(vol.voxels, case.expected)


def test_dicomdir_lists_its_files(tmp_path: Any, store: Any, settings: Any) -> None:
    from pydicom.fileset import FileSet

    case = sphere_series(tmp_path / "src", n=4)
    fs = FileSet()
    for p in case.paths:
        fs.add(pydicom.dcmread(p))
    fs.write(tmp_path / "media")
    report = index_paths(store, [tmp_path / "media" / "DICOMDIR"], settings=settings)
    assert report.instances_indexed == 4
    vol = load_series(store, case.series_uid, settings=settings, use_cache=False)
    np.testing.assert_array_equal(vol.voxels, case.expected)


def test_zip_slip_is_refused(tmp_path: Any, store: Any, settings: Any) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.dcm", b"x")
    report = index_paths(store, [archive], settings=settings)
    assert "escapes" in report.skipped[0][1]
    assert not (settings.data_dir / "dicom" / "escape.dcm").exists()
    assert _zip_folder_entries(settings) == []  # the failed extraction is removed


@pytest.mark.parametrize(("rule", "birth", "linked"), [
    ("patient_id", "1960-01-01", True), ("patient_id", "1999-09-09", True),
    ("patient_id+birth_date", "1960-01-01", True),
    ("patient_id+birth_date", "1999-09-09", False)])
def test_patient_linking_rules(tmp_path: Any, store: Any, settings: Any, rule: str,
                               birth: str, linked: bool) -> None:
    from dataclasses import replace

    _add_patient(store, "PAT-7", birth)
    case = sphere_series(tmp_path / "ct", n=3, patient_id="PAT-7")
    report = index_paths(store, [tmp_path], settings=replace(settings, patient_match=rule))
    row = store.db.execute("SELECT patient_id, dicom_patient_id FROM dicom_studies").fetchone()
    assert row == (("PAT-7" if linked else None), "PAT-7")
    assert report.linked_patients == (["PAT-7"] if linked else [])
    # Listed under the patient either way (unlinked studies by their DICOM PatientID).
    assert [s.series_uid for s in list_series(store, "PAT-7")] == [case.series_uid]


def test_relink_after_patients_arrive(tmp_path: Any, store: Any, settings: Any) -> None:
    sphere_series(tmp_path / "ct", n=3, patient_id="LATE-1")
    index_paths(store, [tmp_path], settings=settings)
    assert list_series(store)[0].patient_id is None
    _add_patient(store, "LATE-1")
    assert relink_studies(store) == 1
    assert list_series(store)[0].patient_id == "LATE-1"
    assert relink_studies(store) == 0  # nothing left to link


def test_relink_follows_the_birth_date_rule(tmp_path: Any, store: Any, settings: Any) -> None:
    sphere_series(tmp_path / "a", n=3, patient_id="LATE-2", series="a")  # born 1960-01-01
    sphere_series(tmp_path / "b", n=3, patient_id="LATE-3", series="b")
    index_paths(store, [tmp_path], settings=settings)
    _add_patient(store, "LATE-2", birth="1960-01-01")
    _add_patient(store, "LATE-3", birth="1971-05-04")  # same ID, another person
    assert relink_studies(store, "patient_id+birth_date") == 1
    assert {s.dicom_patient_id: s.patient_id for s in list_series(store)} == {
        "LATE-2": "LATE-2", "LATE-3": None}


def test_cancel_before_writing_leaves_nothing(tmp_path: Any, store: Any, settings: Any) -> None:
    sphere_series(tmp_path / "ct", n=6)
    report = index_paths(store, [tmp_path], settings=settings, cancel=lambda: True)
    assert report.cancelled
    assert _count(store, "dicom_instances") == 0 and _count(store, "dicom_series") == 0


def test_cancel_between_series_keeps_whole_series_only(tmp_path: Any, store: Any,
                                                       settings: Any) -> None:
    import threading

    a = sphere_series(tmp_path / "a", n=4, series="A")
    b = sphere_series(tmp_path / "b", n=4, series="B")
    stop = threading.Event()
    calls: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        calls.append(message)
        if message == "writing series":
            stop.set()

    report = index_paths(store, [tmp_path], settings=settings, progress=progress, cancel=stop)
    assert report.cancelled and len(report.series_uids) == 1
    (uid,) = report.series_uids
    n = store.db.execute("SELECT count(*) FROM dicom_instances WHERE series_uid = ?",
                         [uid]).fetchone()[0]
    assert n == 4 and _count(store, "dicom_instances") == 4
    assert "reading headers" in calls
    assert uid == min(a.series_uid, b.series_uid)  # series are written in UID order


def test_failure_inside_a_series_rolls_it_back(tmp_path: Any, store: Any, settings: Any,
                                               monkeypatch: Any) -> None:
    sphere_series(tmp_path / "a", n=4, series="A")
    sphere_series(tmp_path / "b", n=4, series="B")
    real = index_mod.series_records
    calls = {"n": 0}

    def failing(store_: Any, uid: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise DicomError("simulated failure")
        return real(store_, uid)

    monkeypatch.setattr(index_mod, "series_records", failing)
    with pytest.raises(DicomError):
        index_paths(store, [tmp_path], settings=settings)
    counts = store.db.execute("SELECT series_uid, count(*) FROM dicom_instances "
                              "GROUP BY series_uid").fetchall()
    assert [c for _, c in counts] == [4]
    assert _count(store, "dicom_series") == 1


def test_changed_and_missing_files(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=5)
    index_paths(store, [tmp_path], settings=settings)
    load_series(store, case.series_uid, settings=settings)
    # Rewrite one slice with other values: the loader re-reads its header and the new pixels.
    ds = pydicom.dcmread(case.paths[0])
    ds.PixelData = np.full((24, 28), 1024 + 77, np.uint16).tobytes()
    ds.save_as(case.paths[0])
    vol = load_series(store, case.series_uid, settings=settings)
    assert "cached" not in vol.meta
    k = vol.meta["sop_uids"].index(ds.SOPInstanceUID)
    assert (vol.voxels[k] == 77).all()
    case.paths[1].unlink()
    with pytest.raises(DicomError, match="missing"):
        load_series(store, case.series_uid, settings=settings)


def test_unknown_series(store: Any) -> None:
    with pytest.raises(NotFoundError):
        load_series(store, "1.2.3.4.5")


def test_large_import_uses_the_pool(tmp_path: Any, store: Any, settings: Any,
                                    monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    monkeypatch.setattr(index_mod, "POOL_MIN_FILES", 4)
    case = sphere_series(tmp_path / "ct", n=10)
    report = index_paths(store, [tmp_path], settings=settings)
    assert report.instances_indexed == 10
    info = list_series(store)[0]
    assert info.n_frames == 10 and info.stacks[0]["orientation"] == "axial"
    assert info.series_uid == case.series_uid


def test_truncated_images_are_skipped(tmp_path: Any, store: Any, settings: Any) -> None:
    from pydicom import uid

    native = sphere_series(tmp_path / "in" / "native", n=3, series="native")
    rle = sphere_series(tmp_path / "in" / "rle", n=3, ts=uid.RLELossless, series="rle")
    # Encapsulated pixel data has an undefined length: only its fragments tell the cut.
    rle.paths[0].write_bytes(rle.paths[0].read_bytes()[:-20])
    # Native pixel data whose element is whole but shorter than rows x columns x bits.
    ds = pydicom.dcmread(native.paths[0])
    ds.PixelData = ds.PixelData[:-100]
    ds.save_as(native.paths[0])
    native.paths[1].write_bytes(native.paths[1].read_bytes()[:-300])
    report = index_paths(store, [tmp_path / "in"], settings=settings)
    reasons = {p: r for p, r in report.skipped}
    assert set(reasons) == {str(rle.paths[0]), str(native.paths[0]), str(native.paths[1])}
    assert all(r.startswith("truncated file (") for r in reasons.values())
    assert "1244 of the 1344 bytes" in reasons[str(native.paths[0])]
    assert report.instances_indexed == 3


def test_truncated_seg_is_skipped(tmp_path: Any, store: Any, settings: Any) -> None:
    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    case = sphere_series(tmp_path / "ct", n=6, thickness=2.0)
    sources = [pydicom.dcmread(p) for p in case.paths]
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    order = np.argsort([float(d.ImagePositionPatient[2]) for d in sources])
    seg = hd.seg.Segmentation(
        source_images=[sources[i] for i in order],
        pixel_array=np.ones((6, 24, 28), np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[desc],
        series_instance_uid=hd.UID(), series_number=50, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1")
    path = tmp_path / "seg" / "seg.dcm"
    path.parent.mkdir()
    seg.save_as(path)
    whole = path.read_bytes()
    for cut in (len(whole) - 10, len(whole) // 2):
        path.write_bytes(whole[:cut])
        report = index_paths(store, [path], settings=settings)
        assert [r.split(" (")[0] for _, r in report.skipped] == ["truncated file"], cut
    assert _count(store, "dicom_series") == 0


def _zip_folder_entries(settings: Any) -> list[str]:
    root = settings.data_dir / "dicom" / "zip"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_zip_without_dicom_leaves_nothing_extracted(tmp_path: Any, store: Any,
                                                    settings: Any) -> None:
    archive = tmp_path / "junk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "hello")
        zf.writestr("photos/b.jpg", b"\xff\xd8\xff\xe0" + bytes(100))
    report = index_paths(store, [archive], settings=settings)
    assert report.instances_indexed == 0
    assert _zip_folder_entries(settings) == []  # neither the folder nor its .complete marker
    # The skipped files are named inside the zip file, since their copies are gone.
    assert report.skipped == [(f"{archive}/a.txt", "not a DICOM file"),
                              (f"{archive}/photos/b.jpg", "not a DICOM file")]
    # A zip with DICOM keeps its folder (the index points into it) and marker.
    case = sphere_series(tmp_path / "src", n=3)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for p in case.paths:
            zf.write(p, p.name)
    assert index_paths(store, [good, archive], settings=settings).instances_indexed == 3
    (entry, marker) = _zip_folder_entries(settings)
    assert marker == f"{entry}.complete"


def test_failed_or_cancelled_zip_extraction_leaves_nothing(tmp_path: Any, store: Any,
                                                          settings: Any) -> None:
    case = sphere_series(tmp_path / "src", n=3)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for p in case.paths:
            zf.write(p, p.name)
    # Corrupt the last member's data: extraction fails after writing the first two (bad CRC).
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        last = zf.infolist()[-1]
    start = last.header_offset + 30 + len(last.filename.encode()) + len(last.extra)
    data[start + 200:start + 210] = bytes(10)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    report = index_paths(store, [broken], settings=settings)
    assert report.skipped[0][0] == str(broken) and "cannot extract" in report.skipped[0][1]
    assert _zip_folder_entries(settings) == []
    calls = []

    def cancel_after_first_member() -> bool:
        calls.append(1)
        return len(calls) > 1

    report = index_paths(store, [archive], settings=settings, cancel=cancel_after_first_member)
    assert report.cancelled and report.instances_indexed == 0
    assert _zip_folder_entries(settings) == []
    assert index_paths(store, [archive], settings=settings).instances_indexed == 3


def test_whole_files_are_not_called_truncated() -> None:
    from pydicom.data import get_testdata_file

    from oncoboard.imaging.headers import read_record

    # YBR_FULL_422 holds 2 values per pixel, not 3; pydicom's own cut files are caught.
    rec = read_record(get_testdata_file("SC_ybr_full_422_uncompressed.dcm"))
    assert rec.photometric == "YBR_FULL_422" and rec.has_pixels
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm"):
        with pytest.raises(DicomError, match="truncated file"):
            read_record(get_testdata_file(name))
    assert read_record(get_testdata_file("rtplan.dcm")).modality == "RTPLAN"
