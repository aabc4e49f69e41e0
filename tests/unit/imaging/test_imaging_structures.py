"""RTSTRUCT and SEG rasterised onto the referenced volume with exact geometry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
import pytest
from imaging_helpers import mask_centroid_lps, oblique_iop, sphere_series

from oncoboard.imaging import synth
from oncoboard.imaging.index import index_paths
from oncoboard.imaging.loader import load_files, load_series
from oncoboard.imaging.structures import fill_polygon, load_structures, rasterise, read_structures
from oncoboard.imaging.volume import Structure


def _square(vol: Any, k: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Return the LPS contour around voxels rows r0..r1, columns c0..c1 of slice k."""
    corners = np.array([[k, r0 - 0.5, c0 - 0.5], [k, r0 - 0.5, c1 + 0.5],
                        [k, r1 + 0.5, c1 + 0.5], [k, r1 + 0.5, c0 - 0.5]], float)
    return vol.index_to_patient(corners)


@pytest.mark.parametrize("geometry", ["axial", "oblique", "tilted"])
def test_cube_contours_fill_exactly_their_voxels(tmp_path: Any, geometry: str) -> None:
    kwargs: dict[str, Any] = {"axial": {}, "oblique": {"iop": oblique_iop(30, 20)},
                              "tilted": {"step": (0.0, 0.7, 2.0)}}[geometry]
    case = sphere_series(tmp_path / "ct", n=12, **kwargs)
    (vol,) = load_files([case.folder])
    contours = [(k, _square(vol, k, 5, 12, 7, 15)) for k in range(3, 9)]
    rs = synth.rtstruct_dataset(case.datasets, [{"name": "CUBE", "number": 1, "type": "GTV",
                                                 "contours": contours}], series_uid="1.2.3.77")
    synth.write_datasets([rs], tmp_path / "rs", names=["rs.dcm"])
    (structure,) = read_structures(str(tmp_path / "rs" / "rs.dcm"))
    assert structure.name == "CUBE" and structure.interpreted_type == "GTV"
    assert structure.referenced_series_uid == case.series_uid
    expected = np.zeros(vol.shape, bool)
    expected[3:9, 5:13, 7:16] = True
    np.testing.assert_array_equal(rasterise(structure, vol), expected)


def test_sphere_contours_match_the_sphere(tmp_path: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=16, radius=5.5)
    (vol,) = load_files([case.folder])
    contours = synth.circle_contours(case.centre, case.radius, case.positions, case.iop,
                                     points=128)
    structure = Structure("GTV", 1, "rtstruct", contours=[p for _, p in contours])
    mask = rasterise(structure, vol)
    truth = vol.voxels > 0
    assert (mask != truth).sum() <= 0.03 * truth.sum()
    np.testing.assert_allclose(mask_centroid_lps(vol, mask), case.centre, atol=0.3)


def test_inner_contour_makes_a_hole() -> None:
    outer = np.array([[1.5, 1.5], [1.5, 10.5], [10.5, 10.5], [10.5, 1.5]])
    inner = np.array([[4.5, 4.5], [4.5, 7.5], [7.5, 7.5], [7.5, 4.5]])
    ring = fill_polygon(outer[:, 0], outer[:, 1], 12, 12) ^ fill_polygon(
        inner[:, 0], inner[:, 1], 12, 12)
    assert ring[2:11, 2:11].sum() == 81 - 9 and not ring[5:8, 5:8].any()


def test_structures_found_through_the_index(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=10)
    contours = synth.circle_contours(case.centre, case.radius, case.positions, case.iop)
    rs = synth.rtstruct_dataset(case.datasets, [{"name": "GTV", "number": 1, "type": "GTV",
                                                 "contours": contours}], series_uid="1.2.3.78")
    synth.write_datasets([rs], tmp_path / "rs")
    index_paths(store, [tmp_path], settings=settings)
    by_image = load_structures(store, case.series_uid)
    by_rtstruct = load_structures(store, "1.2.3.78")
    assert [s.name for s in by_image] == [s.name for s in by_rtstruct] == ["GTV"]
    vol = load_series(store, case.series_uid, settings=settings)
    assert rasterise(by_image[0], vol).sum() > 0.9 * (vol.voxels > 0).sum()


def test_pydicom_rtstruct_reads() -> None:
    from pydicom.data import get_testdata_file

    structures = read_structures(get_testdata_file("rtstruct.dcm"))
    assert structures and all(s.kind == "rtstruct" for s in structures)
    assert any(s.contours for s in structures)


def test_highdicom_seg_is_aligned(tmp_path: Any, store: Any, settings: Any) -> None:
    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    case = sphere_series(tmp_path / "ct", n=10, iop=oblique_iop(20, 10), thickness=2.0)
    sources = [pydicom.dcmread(p) for p in case.paths]
    order = np.argsort([np.dot(np.cross(case.iop[:3], case.iop[3:]),
                               np.asarray(d.ImagePositionPatient, float)) for d in sources])
    sources = [sources[i] for i in order]
    truth = case.expected > 0
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=truth.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[desc],
        series_instance_uid=hd.UID(), series_number=50, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1", omit_empty_frames=True)
    seg.save_as(tmp_path / "seg.dcm")
    index_paths(store, [tmp_path], settings=settings)
    (structure,) = load_structures(store, case.series_uid)
    assert structure.kind == "seg" and structure.name == "Tumour"
    vol = load_series(store, case.series_uid, settings=settings)
    np.testing.assert_array_equal(rasterise(structure, vol), truth)


def _rtstruct_on_sphere(tmp_path: Any, n: int = 8) -> tuple[Any, Any]:
    case = sphere_series(tmp_path / "ct", n=n)
    contours = synth.circle_contours(case.centre, case.radius, case.positions, case.iop)
    rs = synth.rtstruct_dataset(case.datasets, [{"name": "GTV", "number": 1, "type": "GTV",
                                                 "contours": contours}], series_uid="1.2.3.77")
    (path,) = synth.write_datasets([rs], tmp_path / "rs", names=["RS.dcm"])
    return case, path


def test_truncated_rtstruct_is_skipped_at_index_time(tmp_path: Any, store: Any,
                                                     settings: Any) -> None:
    case, path = _rtstruct_on_sphere(tmp_path)
    whole = path.read_bytes()
    # QA's cuts were 20000 and 3000 bytes of a larger file; these cut this one inside the
    # contour data, inside the ROI sequence header, and 2 bytes short of the end.
    for cut in (len(whole) // 2, 1000, len(whole) - 2):
        path.write_bytes(whole[:cut])
        report = index_paths(store, [tmp_path / "ct", path], settings=settings)
        assert [(p, r.split(" (")[0]) for p, r in report.skipped] == [
            (str(path), "truncated file")], cut
        assert store.db.execute("SELECT count(*) FROM dicom_series WHERE modality = "
                                "'RTSTRUCT'").fetchone()[0] == 0
        assert load_structures(store, case.series_uid) == []


def test_structures_of_a_file_truncated_after_indexing_raise(tmp_path: Any, store: Any,
                                                             settings: Any) -> None:
    from oncoboard.errors import DicomError

    case, path = _rtstruct_on_sphere(tmp_path)
    index_paths(store, [tmp_path / "ct", path], settings=settings)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DicomError, match="truncated file") as info:
        load_structures(store, case.series_uid)
    assert info.value.file == str(path)


def test_unreadable_contour_data_raises_naming_file_and_roi(tmp_path: Any, capsys: Any,
                                                           data_dir: Any) -> None:
    from oncoboard.cli import main

    case, path = _rtstruct_on_sphere(tmp_path)
    ds = pydicom.dcmread(path)
    contour = ds.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = contour.ContourData[:-2]  # a whole file, but 2 values short
    ds.save_as(path)
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "ct"),
                 str(path)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "structures", case.series_uid]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"oncoboard: error: {path}: ROI GTV: contour data ")
    assert err.count("\n") == 1
