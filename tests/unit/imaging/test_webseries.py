"""Viewing a PACS series without importing it (DICOMweb), against a real Orthanc.

The volume must be the one an import gives (voxels and affine), the visible slice comes first,
slices are cached on disk (owner-only, bounded, reused on reopen), and a series that vanishes,
a cancel or a refused request each say so and leave no stale cache.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from orthanc import (  # noqa: F401
    HAS_DICOMWEB,
    OrthancServer,
    Study,
    _base,
    orthanc_fixture,
    start_orthanc,
)
from pydicom.uid import CTImageStorage, MRImageStorage, generate_uid

from oncoboard.config import Settings
from oncoboard.errors import NotFoundError, PacsError
from oncoboard.imaging import pacs
from oncoboard.imaging.loader import load_series
from oncoboard.imaging.pixels import LoadCancelled
from oncoboard.imaging.webseries import RemoteSeries, cache_folder, open_remote

pytestmark = [pytest.mark.orthanc,
              pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")]


def oblique_series(study: Study, n: int = 12, *, modality: str = "CT",
                   mono1: bool = False) -> list[Any]:
    """Return an oblique series with per-slice rescale, sent to the PACS in shuffled order."""
    rng = np.random.default_rng(7)
    series_uid, frame_uid = generate_uid(), generate_uid()
    a = np.deg2rad(20)
    row, col = [np.cos(a), np.sin(a), 0.0], [0.0, 0.0, -1.0]
    normal = np.cross(row, col)
    out = []
    for k in range(n):
        ds = _base(CTImageStorage if modality == "CT" else MRImageStorage, study, series_uid,
                   modality, 7)
        ds.InstanceNumber = n - k  # not the geometric order
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [float(v) for v in np.array([-20.0, 5.0, 30.0])
                                   + 1.5 * k * normal]
        ds.ImageOrientationPatient = [*row, *col]
        ds.PixelSpacing = [0.8, 0.7]
        ds.SliceThickness = 1.5
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
        ds.Rows, ds.Columns = 20, 18
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 1 if modality == "CT" else 0
        if modality == "CT":
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024 + (k % 3)
            pixels = rng.integers(-2000, 2047, (20, 18)).astype(np.int16)
        else:
            ds.RescaleSlope, ds.RescaleIntercept = 0.5, 3
            pixels = rng.integers(0, 4095, (20, 18)).astype(np.uint16)
        ds.PixelData = pixels.tobytes()
        out.append(ds)
    order = rng.permutation(n)
    return [out[i] for i in order]


@pytest.fixture(scope="module")
def remote(orthanc: OrthancServer) -> dict[str, Any]:
    """Upload an oblique CT and an MR (non-integer rescale, MONOCHROME1) series; return UIDs."""
    study = Study("ONCO-VIEW-001", "View^Test", generate_uid(), "20250101")
    ct = oblique_series(study)
    mr = oblique_series(study, 6, modality="MR", mono1=True)
    gap = [ds for ds in oblique_series(study, 10) if ds.InstanceNumber != 6]  # slice 4 missing
    orthanc.upload(ct + mr + gap)
    return {"study": study.study_uid, "ct": ct[0].SeriesInstanceUID,
            "mr": mr[0].SeriesInstanceUID, "gap": gap[0].SeriesInstanceUID}


def imported(orthanc: OrthancServer, tmp_path: Path, series_uid: str) -> Any:
    from oncoboard.store import open_store

    settings = Settings(data_dir=tmp_path / "imported")
    settings.data_dir.mkdir()
    store = open_store(settings.db_path)
    try:
        pacs.retrieve_into_store(settings, store, orthanc.web_node(), series_uid=series_uid)
        return load_series(store, series_uid, use_cache=False)
    finally:
        store.close()


@pytest.mark.parametrize("which", ["ct", "mr", "gap"])
def test_remote_volume_equals_the_imported_one(orthanc: OrthancServer, remote: dict[str, Any],
                                               tmp_path: Path, which: str) -> None:
    settings = Settings(data_dir=tmp_path)
    series, volume = open_remote(settings, orthanc.web_node(), remote[which])
    local = imported(orthanc, tmp_path, remote[which])
    assert series.complete
    assert volume.shape == local.shape
    np.testing.assert_array_equal(np.asarray(volume.voxels), local.voxels)
    np.testing.assert_allclose(volume.affine, local.affine, atol=1e-9)
    assert volume.meta["sop_uids"] == local.meta["sop_uids"]
    assert volume.study_uid == local.study_uid == remote["study"]
    assert volume.warnings == local.warnings
    if which == "gap":
        assert volume.shape[0] == 10 and any("missing" in w or "gap" in w
                                             for w in volume.warnings)
    assert [p[0] for p in volume.window_presets] == [p[0] for p in local.window_presets]


def test_visible_slice_first_then_the_rest(orthanc: OrthancServer, remote: dict[str, Any],
                                           tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    series, volume = open_remote(settings, orthanc.web_node(), remote["ct"], visible=3,
                                 rest=False)
    assert series.missing == [k for k in range(12) if k != 3]
    assert np.any(np.asarray(volume.voxels[3]) != 0) and not np.any(volume.voxels[4])
    seen: list[int] = []
    series.fetch(progress=lambda done, total, _m: seen.append(done))
    assert series.complete and seen[-1] == 12
    local = imported(orthanc, tmp_path, remote["ct"])
    np.testing.assert_array_equal(np.asarray(volume.voxels), local.voxels)


def test_cache_is_private_bounded_and_reused(orthanc: OrthancServer, remote: dict[str, Any],
                                             tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    open_remote(settings, orthanc.web_node(), remote["ct"])
    folder = cache_folder(settings)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir(), key=lambda f: f.suffix)
    assert [f.suffix for f in files] == [".have", ".json", ".npy"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    # reopened: every slice comes from the cache, none from the PACS (the node is unreachable)
    again = RemoteSeries(orthanc.web_node(), remote["study"], remote["ct"], cache_dir=folder)
    again.open()
    assert again.complete
    again.node = orthanc.web_node(dicomweb_url="http://127.0.0.1:9/dicom-web")
    again.fetch([5])  # nothing missing: no request
    # bounded: a limit below both series keeps only the newest entry
    ct_bytes = files[2].stat().st_size
    small = Settings(data_dir=tmp_path, cache_max_bytes=ct_bytes + 2000)
    open_remote(small, orthanc.web_node(), remote["mr"])
    left = sorted(f.suffix for f in folder.iterdir())
    assert left == [".have", ".json", ".npy"]
    assert sum(f.stat().st_size for f in folder.glob("*.npy")) <= small.cache_max_bytes


def test_cancel_keeps_what_came_and_the_next_fetch_resumes(orthanc: OrthancServer,
                                                           remote: dict[str, Any],
                                                           tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 4

    with pytest.raises(LoadCancelled):
        open_remote(settings, orthanc.web_node(), remote["ct"], cancel=cancel)
    series = RemoteSeries(orthanc.web_node(), remote["study"], remote["ct"],
                          cache_dir=cache_folder(settings))
    series.open()
    assert 0 < len(series.missing) < 12
    series.fetch()
    assert series.complete


def test_series_deleted_between_search_and_view(tmp_path: Path) -> None:
    server = start_orthanc(tmp_path / "orthanc")
    try:
        study = Study("ONCO-VIEW-002", "Gone^Test", generate_uid(), "20250102")
        ct = oblique_series(study, 10)
        server.upload(ct)
        settings = Settings(data_dir=tmp_path)
        series = RemoteSeries(server.web_node(), "", ct[0].SeriesInstanceUID,
                              cache_dir=cache_folder(settings))
        series.open()
        series.fetch([2], rest=False)
        orthanc_id = server.http("/tools/lookup", ct[0].SeriesInstanceUID.encode())
        assert isinstance(orthanc_id, list)
        server.http(orthanc_id[0]["Path"], method="DELETE")
        with pytest.raises(NotFoundError, match="deleted since the search"):
            series.fetch()
        assert list(cache_folder(settings).iterdir()) == []  # nothing half-kept
        with pytest.raises(NotFoundError, match="deleted since the search"):
            open_remote(settings, server.web_node(), ct[0].SeriesInstanceUID)
    finally:
        server.stop()


def test_pacs_down_and_dimse_node_say_so(orthanc: OrthancServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(PacsError, match="refused the connection"):
        open_remote(settings, orthanc.web_node(dicomweb_url="http://127.0.0.1:9/dicom-web"),
                    "1.2.3")
    with pytest.raises(PacsError, match="DIMSE node"):
        open_remote(settings, orthanc.node(), "1.2.3")
    assert not cache_folder(settings).exists()


def test_cli_pacs_volume_writes_the_imported_volume(orthanc: OrthancServer,
                                                    remote: dict[str, Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from oncoboard.cli import main

    site = tmp_path / "site.toml"
    site.write_text(f'[[pacs]]\nname = "web"\ndicomweb_url = "{orthanc.dicomweb_url}"\n')
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    monkeypatch.setenv("ONCOBOARD_HOME", str(tmp_path / "data"))
    out = tmp_path / "ct.npz"
    assert main(["pacs", "volume", "--node", "web", "--series", remote["ct"], "--out",
                 str(out)]) == 0
    assert "12x20x18 int16" in capsys.readouterr().out
    local = imported(orthanc, tmp_path, remote["ct"])
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["voxels"], local.voxels)
        np.testing.assert_allclose(saved["affine"], local.affine, atol=1e-9)
    assert main(["pacs", "volume", "--node", "web", "--series", "1.2.999", "--out",
                 str(tmp_path / "x.npz")]) == 2  # not found
    assert "has no series 1.2.999" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_reopen_reuses_the_records_until_the_series_changes(tmp_path: Path) -> None:
    import json

    server = start_orthanc(tmp_path / "orthanc")
    try:
        study = Study("ONCO-VIEW-003", "Meta^Test", generate_uid(), "20250103")
        ct = oblique_series(study, 8)
        server.upload(ct[:7])
        settings = Settings(data_dir=tmp_path)
        uid = ct[0].SeriesInstanceUID
        _, first = open_remote(settings, server.web_node(), uid)
        assert first.shape[0] == 7 and first.description == "Synthetic CT series"
        [meta] = cache_folder(settings).glob("*.meta.json")
        assert stat.S_IMODE(meta.stat().st_mode) == 0o600
        kept = json.loads(meta.read_text())
        for record in kept["records"]:  # mark the kept copy: a reopen that reads it shows it
            record["series_description"] = "kept metadata"
        meta.write_text(json.dumps(kept))
        _, again = open_remote(settings, server.web_node(), uid)
        assert again.description == "kept metadata"
        server.upload(ct[7:])  # the series changed on the PACS: its metadata is read again
        series, changed = open_remote(settings, server.web_node(), uid)
        assert changed.shape[0] == 8 and changed.description == "Synthetic CT series"
        assert series.complete and len(list(cache_folder(settings).glob("*.npy"))) == 1
    finally:
        server.stop()


def test_series_with_a_gap_shows_its_visible_slice_first(orthanc: OrthancServer,
                                                         remote: dict[str, Any],
                                                         tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    series, volume = open_remote(settings, orthanc.web_node(), remote["gap"], visible=6,
                                 rest=False)
    assert volume.shape[0] == 10 and not series.complete
    assert np.any(volume.voxels[6] != 0) and not np.any(volume.voxels[8])
    series.fetch()
    local = imported(orthanc, tmp_path, remote["gap"])
    np.testing.assert_array_equal(np.asarray(volume.voxels), local.voxels)
