"""Geometry of loaded series: sphere at a known LPS position lands on the right voxels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from imaging_helpers import AXIAL, assert_geometry, mask_centroid_lps, oblique_iop, sphere_series

from oncoboard.imaging import synth
from oncoboard.imaging.loader import load_files


def _load_one(folder: Any) -> Any:
    volumes = load_files([folder])
    assert len(volumes) == 1
    return volumes[0]


def test_axial_sphere_lands_on_the_right_voxels(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s")
    vol = _load_one(case.folder)
    assert vol.voxels.dtype == np.int16
    assert vol.shape == case.expected.shape
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert_geometry(vol, case)
    np.testing.assert_allclose(vol.spacing, (2.0, 0.8, 0.7))
    np.testing.assert_allclose(mask_centroid_lps(vol, vol.voxels > 0), case.centre, atol=0.35)
    assert vol.modality == "CT" and vol.series_uid == case.series_uid
    assert vol.warnings == []


def test_patient_to_index_inverts_the_affine(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", iop=oblique_iop())
    vol = _load_one(case.folder)
    idx = vol.patient_to_index(case.centre)
    np.testing.assert_allclose(vol.index_to_patient(idx), case.centre, atol=1e-9)
    k, r, c = np.round(idx).astype(int)
    assert vol.voxels[k, r, c] == 1000


@pytest.mark.parametrize("iop", [
    oblique_iop(25, 15), oblique_iop(-40, 70),
    [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],   # sagittal
    [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],   # coronal
    [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0],   # axial, mirrored rows (normal points to the feet)
])
def test_other_orientations(tmp_path: Any, iop: list[float]) -> None:
    case = sphere_series(tmp_path / "s", iop=iop, step=1.5, radius=4.5)
    vol = _load_one(case.folder)
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert_geometry(vol, case)
    np.testing.assert_allclose(vol.normal, np.cross(iop[:3], iop[3:]), atol=1e-6)


def test_gantry_tilt_gives_an_exact_sheared_affine(tmp_path: Any) -> None:
    # Each slice moves 2 mm along z and 0.6 mm along y: a tilt of atan(0.6/2) = 16.7 degrees.
    case = sphere_series(tmp_path / "s", step=(0.0, 0.6, 2.0), n=14)
    vol = _load_one(case.folder)
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert_geometry(vol, case)
    assert vol.is_sheared
    assert vol.slice_thickness_normal == pytest.approx(2.0)
    assert vol.meta["tilt_degrees"] == pytest.approx(np.degrees(np.arctan(0.3)), abs=1e-2)
    assert any("tilt" in w for w in vol.warnings)


def test_missing_slices_are_kept_empty_and_reported(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", n=16, drop=(6, 7, 11))
    vol = _load_one(case.folder)
    assert vol.shape[0] == 16
    assert vol.meta["missing_slices"] == [6, 7, 11]
    assert any("3 missing slice(s)" in w and "6-7, 11" in w for w in vol.warnings)
    present = [k for k in range(16) if k not in (6, 7, 11)]
    np.testing.assert_array_equal(vol.voxels[present], case.expected)
    assert (vol.voxels[[6, 7, 11]] == vol.voxels.min()).all()
    np.testing.assert_allclose(vol.affine @ [16 - 1, 0, 0, 1], [*case.positions[-1], 1],
                               atol=1e-3)


def test_irregular_spacing_is_resampled_and_reported(tmp_path: Any) -> None:
    z = np.array([0, 2, 4, 6, 7.2, 9, 11, 13, 15.5, 17, 19, 21], float) - 10
    positions = np.stack([np.full_like(z, -10.0), np.full_like(z, -9.0), z], axis=1)
    case = sphere_series(tmp_path / "s", positions=positions)
    vol = _load_one(case.folder)
    assert vol.meta["resampled"] is True
    assert any("non-uniform slice spacing" in w for w in vol.warnings)
    assert vol.spacing[0] == pytest.approx(2.0)
    assert vol.shape[0] == 11  # 21 mm at a 2 mm step: 11 slices from the first position
    # Slices that fall exactly on an original position keep its values.
    np.testing.assert_allclose(vol.voxels[0], case.expected[0])
    np.testing.assert_allclose(vol.voxels[3], case.expected[3])


def test_sort_ignores_file_names_and_instance_numbers(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", seed=7)
    vol = _load_one(case.folder)
    np.testing.assert_allclose(vol.meta["slice_positions_mm"], case.positions[:, 2], atol=1e-4)


def test_single_slice(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", n=1, centre=(0.0, 0.0, -15.0), thickness=3.0)
    vol = _load_one(case.folder)
    assert vol.shape == (1, 24, 28)
    np.testing.assert_array_equal(vol.voxels, case.expected)
    assert vol.spacing[0] == pytest.approx(3.0)
    assert vol.meta["single_slice"] is True


def test_two_orientations_and_echoes_in_one_series_are_split(tmp_path: Any) -> None:
    a = sphere_series(tmp_path / "a", series="mixed", n=12, modality="MR",
                      header={"EchoNumbers": 1})
    sphere_series(tmp_path / "b", series="mixed", n=12, modality="MR",
                  header={"EchoNumbers": 2})
    sphere_series(tmp_path / "c", series="mixed", n=5, iop=[1.0, 0, 0, 0, 0, -1.0],
                  modality="MR", header={"EchoNumbers": 1})
    # The three writers reuse slice UIDs per index: make them distinct per folder.
    for sub in ("b", "c"):
        for i, p in enumerate(sorted((tmp_path / sub).glob("*.dcm"))):
            import pydicom

            ds = pydicom.dcmread(p)
            ds.SOPInstanceUID = synth.make_uid(sub, i)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(p)
    volumes = load_files([tmp_path])
    assert sorted(v.shape[0] for v in volumes) == [5, 12, 12]
    assert {v.series_uid for v in volumes} == {a.series_uid}
    big = [v for v in volumes if v.shape[0] == 12]
    assert {v.meta["stack"]["echo"] for v in big} == {1.0, 2.0}
    for v in volumes:
        assert any("3 stacks" in w for w in v.warnings)
    coronal = [v for v in volumes if v.shape[0] == 5][0]
    assert coronal.meta["stack"]["orientation"] == "coronal"


def test_duplicate_positions_split_by_acquisition(tmp_path: Any) -> None:
    sphere_series(tmp_path / "a", series="dup", n=8, header={"AcquisitionNumber": 1})
    sphere_series(tmp_path / "b", series="dup", n=8, header={"AcquisitionNumber": 2})
    import pydicom

    for i, p in enumerate(sorted((tmp_path / "b").glob("*.dcm"))):
        ds = pydicom.dcmread(p)
        ds.SOPInstanceUID = synth.make_uid("dup-b", i)
        ds.save_as(p)
    volumes = load_files([tmp_path])
    assert [v.shape[0] for v in volumes] == [8, 8]
    assert {v.meta["stack"]["acquisition"] for v in volumes} == {1, 2}


def test_enhanced_multiframe_mr_with_two_stacks(tmp_path: Any) -> None:
    iop = oblique_iop(10, 5)
    case = sphere_series(tmp_path / "ref", iop=iop, n=10, modality="MR", step=1.5)
    n = len(case.positions)
    positions = np.concatenate([case.positions[::-1], case.positions])  # frames out of order
    stored = np.concatenate([case.expected[::-1], case.expected // 2]).astype(np.int16)
    ds = synth.enhanced_dataset(stored, positions, iop, case.spacing,
                                uids={"study": "1.2.3", "series": "1.2.3.9"},
                                slopes=[2.0] * n + [4.0] * n, intercepts=[1.0] * (2 * n),
                                stack_ids=["1"] * n + ["2"] * n, signed=True)
    synth.write_datasets([ds], tmp_path / "mf")
    volumes = load_files([tmp_path / "mf"])
    assert len(volumes) == 2
    for vol in volumes:
        assert_geometry(vol, case)
        np.testing.assert_allclose(vol.voxels, case.expected * 2.0 + 1.0)
    assert sorted(v.meta["stack"]["stack_id"] for v in volumes) == ["1", "2"]


def test_monochrome1_is_inverted(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", photometric="MONOCHROME1", modality="MR",
                         intercepts=-1024.0)
    vol = _load_one(case.folder)
    # Stored s = HU + 1024 in 12 bits, inverted to 4095 - s, then rescaled: 4095 - 2048 - HU.
    np.testing.assert_array_equal(vol.voxels, 4095 - 2048 - case.expected.astype(np.int32))
    # The sphere was bright in stored values; MONOCHROME1 displays high values dark.
    assert vol.voxels[case.expected > 0].max() < vol.voxels[case.expected < 0].min()
    assert any("MONOCHROME1" in w for w in vol.warnings)


def test_per_slice_rescale(tmp_path: Any) -> None:
    slopes = np.linspace(0.5, 2.0, 16)
    intercepts = np.linspace(-1200, -1000, 16)
    case = sphere_series(tmp_path / "s", slopes=slopes, intercepts=intercepts, bits_stored=16,
                         signed=True)
    vol = _load_one(case.folder)
    assert vol.voxels.dtype == np.float32
    assert vol.meta["rescale_per_slice"] is True
    np.testing.assert_allclose(vol.voxels, case.expected, atol=1.01)


@pytest.mark.parametrize(("bits", "signed", "intercept", "dtype"), [
    (16, True, -1024.0, np.int16),     # signed 16-bit, actual values fit int16 after rescale
    (12, True, 0.0, np.int16),         # 12-bit signed stored in 16: sign extension
    (16, False, -1024.0, np.int16),    # unsigned 16-bit whose actual values fit int16
    (8, False, -1100.0, np.int16),     # 8-bit
])
def test_signed_unsigned_and_bit_depths(tmp_path: Any, bits: int, signed: bool,
                                        intercept: float, dtype: Any) -> None:
    scale = 1.0
    if bits == 8:
        scale = 10.0  # 8 bits cannot hold +-1000: store HU / 10 with slope 10
    case = sphere_series(tmp_path / "s", bits_stored=bits, signed=signed, intercepts=intercept,
                         slopes=[scale] * 16 if bits == 8 else 1.0,
                         modality="CT" if signed else "MR")
    vol = _load_one(case.folder)
    assert vol.voxels.dtype == dtype
    np.testing.assert_allclose(vol.voxels, case.expected, atol=scale / 2)


def test_unsigned_values_beyond_int16_become_float32(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", bits_stored=16, signed=False, intercepts=-1000.0,
                         modality="MR")
    import pydicom

    for p in case.paths:
        ds = pydicom.dcmread(p)
        arr = np.frombuffer(ds.PixelData, np.uint16).copy()
        arr[arr > 1000] = 65535
        ds.PixelData = arr.tobytes()
        ds.save_as(p)
    vol = _load_one(case.folder)
    assert vol.voxels.dtype == np.float32
    np.testing.assert_array_equal(vol.voxels, np.where(case.expected > 0, 64535.0, -1000.0))


def test_unsigned_stored_values_with_high_bits_set_are_masked(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", bits_stored=12)
    import pydicom

    for p in case.paths:
        ds = pydicom.dcmread(p)
        arr = np.frombuffer(ds.PixelData, np.uint16) | 0xF000  # overlay bits above BitsStored
        ds.PixelData = arr.tobytes()
        ds.save_as(p)
    vol = _load_one(case.folder)
    np.testing.assert_array_equal(vol.voxels, case.expected)


def test_vertical_axial_volume_affine_matches_nifti_style_reasoning(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "s", iop=AXIAL)
    vol = _load_one(case.folder)
    # voxels[k, r, c]: x grows with c, y with r, z with k for this orientation.
    assert vol.affine[0, 2] > 0 and vol.affine[1, 1] > 0 and vol.affine[2, 0] > 0
