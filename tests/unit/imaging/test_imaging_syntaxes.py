"""Transfer syntaxes: every supported one decodes to the right values; others fail clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from imaging_helpers import assert_geometry, sphere_series
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut

from oncoboard.errors import DicomError
from oncoboard.imaging import pixels, synth
from oncoboard.imaging.loader import load_files

DATA = Path(__file__).resolve().parents[2] / "data" / "imaging"

SIZE = {"rows": 32, "cols": 36}  # OpenJPEG's encoder needs at least 32 pixels a side
LOSSLESS = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.ExplicitVRBigEndian,
            uid.DeflatedExplicitVRLittleEndian, uid.RLELossless, uid.JPEGLSLossless,
            uid.JPEG2000Lossless]


@pytest.mark.parametrize("ts", LOSSLESS, ids=lambda t: uid.UID(t).keyword)
def test_generated_series_in_lossless_syntaxes(tmp_path: Any, ts: str) -> None:
    case = sphere_series(tmp_path / "s", n=6, ts=ts, **SIZE)
    for p in case.paths:
        assert pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts
    (vol,) = load_files([case.folder])
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert_geometry(vol, case)
    assert vol.meta["transfer_syntaxes"] == [ts]


def test_signed_values_survive_compression(tmp_path: Any) -> None:
    for ts in (uid.RLELossless, uid.JPEGLSLossless, uid.JPEG2000Lossless):
        case = sphere_series(tmp_path / uid.UID(ts).keyword, n=4, ts=ts, bits_stored=16,
                             signed=True, intercepts=0.0, **SIZE)
        (vol,) = load_files([case.folder])
        np.testing.assert_array_equal(vol.voxels, case.expected)


def test_lossy_syntaxes_decode_close_and_warn(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "jls", n=4, ts=uid.JPEGLSNearLossless, **SIZE)
    (vol,) = load_files([case.folder])
    assert np.abs(vol.voxels.astype(int) - case.expected).max() <= 2
    assert any("lossy" in w for w in vol.warnings)


def test_jpeg_baseline_8bit(tmp_path: Any) -> None:
    # 8-bit stored values (HU / 10 + 128) so that baseline JPEG can hold them.
    case = sphere_series(tmp_path / "jpg", n=4, bits_stored=8, slopes=[10.0] * 4,
                         intercepts=-1280.0, ts=uid.JPEGBaseline8Bit, modality="CT")
    (vol,) = load_files([case.folder])
    assert vol.meta["transfer_syntaxes"] == [uid.JPEGBaseline8Bit]
    inside = case.expected > 0
    assert np.abs(vol.voxels[inside].astype(float) - 1000).mean() < 30
    assert np.abs(vol.voxels[~inside].astype(float) + 1000).mean() < 30


def test_htj2k_lossless(tmp_path: Any) -> None:
    codestream = (DATA / "ramp_40x32_12bit_htj2k_lossless.j2c").read_bytes()
    r, c = np.mgrid[0:32, 0:40]
    expected = (r * 37 + c * 101 + (r * c) % 17) % 4096
    (ds,) = synth.slice_datasets(np.zeros((1, 32, 40), np.uint16), np.zeros((1, 3)),
                                 [1, 0, 0, 0, 1, 0], (1.0, 1.0),
                                 uids={"study": "1.2.3", "series": "1.2.3.1"})
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = uid.HTJ2KLossless
    ds.save_as(tmp_path / "ht.dcm", enforce_file_format=True)
    (vol,) = load_files([tmp_path / "ht.dcm"])
    np.testing.assert_array_equal(vol.voxels[0], expected - 1024)


def test_compressed_series_decoded_in_the_process_pool(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    monkeypatch.setattr(pixels, "POOL_MIN_FRAMES", 2)
    case = sphere_series(tmp_path / "s", n=12, ts=uid.RLELossless, **SIZE)
    seen: list[int] = []
    (vol,) = load_files([case.folder], progress=lambda done, total, msg: seen.append(done))
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert seen[-1] == 12
    pool = pixels.get_pool()
    assert pool._mp_context.get_start_method() in ("forkserver", "spawn")


BUNDLED = ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
           "MR_small_expb.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
           "MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm", "JPEG2000.dcm", "693_J2KI.dcm",
           "rtdose.dcm", "rtdose_rle.dcm", "rtdose_expb.dcm", "image_dfl.dcm",
           "liver_1frame.dcm", "MR_small_padded.dcm", "SC_rgb_small_odd_big_endian.dcm",
           "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle_2frame.dcm", "examples_ybr_color.dcm"]


@pytest.mark.parametrize("name", BUNDLED)
def test_pydicom_bundled_files_match_pydicom(name: str) -> None:
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    ref = ds.pixel_array
    (vol,) = load_files([path])
    if ds.get("SamplesPerPixel", 1) == 3:
        rgb = ref.astype(np.float32)  # pydicom returns RGB (YBR converted) by default
        ref = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    elif "PerFrameFunctionalGroupsSequence" in ds:
        ref = _enhanced_rescale(ref, ds)
    else:
        ref = apply_modality_lut(ref, ds)
    ref = ref.reshape(-1, *ref.shape[-2:])
    n_frames = ref.shape[0]
    if n_frames > 1 and "GridFrameOffsetVector" in ds:
        offsets = np.asarray(ds.GridFrameOffsetVector, float)
        ref = ref[np.argsort(offsets * np.sign(offsets[-1] - offsets[0] or 1))]
    np.testing.assert_allclose(vol.voxels, ref, rtol=1e-5, atol=1e-3)


def _enhanced_rescale(ref: np.ndarray, ds: Any) -> np.ndarray:
    """Apply each frame's PixelValueTransformation (pydicom's modality LUT ignores them) and
    sort the frames along the slice normal."""
    shared = ds.SharedFunctionalGroupsSequence[0]
    ref = ref.reshape(-1, *ref.shape[-2:]).astype(np.float64)
    iop = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    dist = []
    for k, frame in enumerate(ds.PerFrameFunctionalGroupsSequence[:ref.shape[0]]):
        pvt = frame.get("PixelValueTransformationSequence") or shared.get(
            "PixelValueTransformationSequence")
        if pvt:
            ref[k] = ref[k] * float(pvt[0].RescaleSlope) + float(pvt[0].RescaleIntercept)
        dist.append(float(np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient,
                                     float) @ normal))
    return ref[np.argsort(dist)]


def test_rtdose_frames_follow_grid_frame_offsets() -> None:
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    (vol,) = load_files([path])
    ipp = np.asarray(ds.ImagePositionPatient, float)
    offsets = np.asarray(ds.GridFrameOffsetVector, float)
    for k in range(vol.shape[0]):
        np.testing.assert_allclose(vol.affine @ [k, 0, 0, 1],
                                   [*(ipp + [0, 0, sorted(offsets)[k]]), 1], atol=1e-4)


def _write_with_syntax(tmp_path: Any, ts: str, payload: bytes) -> Path:
    (ds,) = synth.slice_datasets(np.zeros((1, 8, 8), np.uint16), np.zeros((1, 3)),
                                 [1, 0, 0, 0, 1, 0], (1.0, 1.0),
                                 uids={"study": "1.2.3", "series": "1.2.3.2"})
    ds.PixelData = encapsulate([payload])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts
    path = tmp_path / "odd.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_undecodable_syntax_names_the_syntax_and_file(tmp_path: Any) -> None:
    path = _write_with_syntax(tmp_path, uid.MPEG2MPML, b"\x00\x00\x01\xb3" + b"\x00" * 60)
    with pytest.raises(DicomError) as info:
        load_files([path])
    assert "MPEG2" in info.value.message
    assert str(path) in info.value.message
    assert "\n" not in info.value.message


def test_corrupt_compressed_stream_gives_a_clear_error(tmp_path: Any) -> None:
    path = _write_with_syntax(tmp_path, uid.JPEG2000Lossless, b"\xff\x4f\xff\x51" + b"\x13" * 40)
    with pytest.raises(DicomError) as info:
        load_files([path])
    assert "JPEG 2000" in info.value.message and str(path) in info.value.message


@pytest.mark.parametrize("ts", [uid.JPEGLSLossless, uid.RLELossless, uid.JPEG2000Lossless],
                         ids=lambda t: uid.UID(t).keyword)
def test_compressed_enhanced_multiframe(tmp_path: Any, ts: str) -> None:
    case = sphere_series(tmp_path / "ref", n=6, **SIZE)
    stored = (case.expected.astype(np.int32) + 1024).astype(np.uint16)
    ds = synth.enhanced_dataset(stored[::-1], case.positions[::-1], case.iop, case.spacing,
                                uids={"study": "1.2.3", "series": "1.2.3.10"}, modality="CT",
                                intercepts=-1024.0, bits_stored=12, signed=False)
    synth.write_datasets([ds], tmp_path / "mf", ts)
    (vol,) = load_files([tmp_path / "mf"])
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert_geometry(vol, case)


def test_broken_pool_falls_back_to_this_process(tmp_path: Any, monkeypatch: Any) -> None:
    from concurrent.futures.process import BrokenProcessPool

    def broken(*args: Any) -> None:
        raise BrokenProcessPool("a worker died")

    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    monkeypatch.setattr(pixels, "POOL_MIN_FRAMES", 2)
    monkeypatch.setattr(pixels, "_decode_in_pool", broken)
    case = sphere_series(tmp_path / "s", n=5, ts=uid.RLELossless, **SIZE)
    (vol,) = load_files([case.folder])
    np.testing.assert_array_equal(vol.voxels, case.expected)


# Files of the pydicom-data package (offline, made by other tools than ours).
EXTERNAL = ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm",
            "emri_small_jpeg_2k_lossless.dcm", "emri_small_jpeg_ls_lossless.dcm",
            "eCT_Supplemental.dcm", "MR2_J2KR.dcm", "MR2_J2KI.dcm", "JPEG-LL.dcm",
            "JPGLosslessP14SV1_1s_1f_8b.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
            "693_J2KR.dcm", "US1_J2KR.dcm", "SC_rgb_expb_32bit_2frame.dcm",
            "color3d_jpeg_baseline.dcm", "OBXXXX1A_rle_2frame.dcm"]


@pytest.mark.parametrize("name", EXTERNAL)
def test_pydicom_data_files_match_pydicom(name: str) -> None:
    pytest.importorskip("data_store")
    test_pydicom_bundled_files_match_pydicom(name)


def test_enhanced_ct_geometry_from_per_frame_groups() -> None:
    pytest.importorskip("data_store")
    path = get_testdata_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    (vol,) = load_files([path])
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    spacing = np.asarray(shared.PixelMeasuresSequence[0].PixelSpacing, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted((np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, float)
                        for f in ds.PerFrameFunctionalGroupsSequence),
                       key=lambda p: float(p @ normal))
    for k, pos in enumerate(positions):
        np.testing.assert_allclose(vol.affine @ [k, 0, 0, 1], [*pos, 1], atol=1e-4)
    np.testing.assert_allclose(vol.affine[:3, 2], iop[:3] * spacing[1], atol=1e-6)
    np.testing.assert_allclose(vol.affine[:3, 1], iop[3:] * spacing[0], atol=1e-6)


@pytest.mark.parametrize("signed", [False, True])
def test_jpeg2000_decoded_on_threads_without_the_pool(tmp_path: Any, monkeypatch: Any,
                                                      signed: bool) -> None:
    """OpenJPEG through imagecodecs releases the GIL: a J2K series decodes on threads of this
    process (no pool), to the same values as pydicom's decoder."""
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    monkeypatch.setattr(pixels, "get_pool", lambda: pytest.fail("the pool was started"))
    case = sphere_series(tmp_path / "s", n=10, ts=uid.JPEG2000Lossless, signed=signed,
                         bits_stored=16 if signed else 12, intercepts=0.0 if signed else -1024.0,
                         **SIZE)
    seen: list[int] = []
    (vol,) = load_files([case.folder], progress=lambda done, total, msg: seen.append(done))
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert seen[-1] == 10
    fast = pixels._decode_j2k  # and each frame equals pydicom's own decoding
    path = sorted(case.folder.glob("*.dcm"))[0]
    ds = pydicom.dcmread(path)
    job = pixels.FrameJob(str(path), None, None, str(ds.file_meta.TransferSyntaxUID), 0, 1,
                          ds.Rows, ds.Columns, 1, ds.BitsAllocated, ds.BitsStored, signed,
                          "MONOCHROME2", 0)
    np.testing.assert_array_equal(fast(ds.PixelData, job), ds.pixel_array)
