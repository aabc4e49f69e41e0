"""``oncoboard import dicom``, ``oncoboard volume``, ``series list``, ``structures``; the demo."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from imaging_helpers import oblique_iop, sphere_series

from oncoboard.cli import main


def test_import_then_volume_npz(tmp_path: Any, data_dir: Any, capsys: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=7, iop=oblique_iop(15, 30), step=(0.3, 0.4, 2.0))
    (tmp_path / "ct" / "junk.bin").write_bytes(b"junk")
    # Exit 1 (README "Exit codes"): imported, but a file was skipped.
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "ct"),
                 "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["instances_indexed"] == 7
    assert report["skipped"] == [{"path": str(tmp_path / "ct" / "junk.bin"),
                                  "reason": "not a DICOM file"}]
    out = tmp_path / "v.npz"
    assert main(["--data-dir", str(data_dir), "volume", case.series_uid, "--out",
                 str(out)]) == 0
    with np.load(out) as npz:
        voxels, affine, meta = npz["voxels"], npz["affine"], json.loads(str(npz["meta"]))
    np.testing.assert_array_equal(voxels, case.expected)
    for k, pos in enumerate(case.positions):
        np.testing.assert_allclose(affine @ [k, 0, 0, 1], [*pos, 1], atol=1e-3)
    assert meta["series_uid"] == case.series_uid and meta["axes"] == ["slice", "row", "column"]
    assert any("tilt" in w for w in meta["warnings"])


def test_series_list_and_structures(tmp_path: Any, data_dir: Any, capsys: Any) -> None:
    from oncoboard.imaging import synth

    assert main(["--data-dir", str(data_dir), "series", "list"]) == 0
    assert "no series indexed (import images" in capsys.readouterr().out  # not silence

    case = sphere_series(tmp_path / "ct", n=8)
    contours = synth.circle_contours(case.centre, case.radius, case.positions, case.iop)
    rs = synth.rtstruct_dataset(case.datasets, [{"name": "GTV", "number": 1, "type": "GTV",
                                                 "contours": contours}], series_uid="1.2.3.79")
    synth.write_datasets([rs], tmp_path / "rs")
    main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path)])
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "series", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["modality"] for r in rows} == {"CT", "RTSTRUCT"}
    assert main(["--data-dir", str(data_dir), "series", "list", "--patient", "NOBODY"]) == 0
    assert capsys.readouterr().out.strip() == "no series indexed for patient NOBODY"
    assert main(["--data-dir", str(data_dir), "structures", case.series_uid, "--json"]) == 0
    (gtv,) = json.loads(capsys.readouterr().out)
    assert gtv["name"] == "GTV" and gtv["voxels"] > 0
    sphere_ml = 4 / 3 * np.pi * case.radius**3 / 1000
    assert gtv["volume_ml"] == pytest.approx(sphere_ml, rel=0.15)


def test_errors_are_one_line(tmp_path: Any, data_dir: Any, capsys: Any) -> None:
    assert main(["--data-dir", str(data_dir), "volume", "9.9.9", "--out",
                 str(tmp_path / "x.npz")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("oncoboard: error:") and "9.9.9" in err and "\n" not in err


def test_import_of_a_missing_path_is_one_line(tmp_path: Any, data_dir: Any,
                                             capsys: Any) -> None:
    sphere_series(tmp_path / "ct", n=3)
    missing = tmp_path / "nonexistent"
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "ct"),
                 str(missing)]) == 2
    out, err = capsys.readouterr()
    assert err == f"oncoboard: error: {missing}: no such file or folder\n" and out == ""
    # Checked before indexing: the good folder given with it is not half-imported.
    assert main(["--data-dir", str(data_dir), "series", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_import_of_a_folder_without_dicom_is_one_line(tmp_path: Any, data_dir: Any,
                                                      capsys: Any) -> None:
    jpegs = tmp_path / "jpegs"
    jpegs.mkdir()
    for i in range(12):
        (jpegs / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(jpegs)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"oncoboard: error: {jpegs}: no DICOM file found (12 files "
                                 "skipped: not a DICOM file; --json or the log lists them)\n")
    # --json still lists every skipped file (and the one-line error follows on stderr).
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(jpegs), "--json"]) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert len(report["skipped"]) == 12 and report["instances_indexed"] == 0
    assert err.count("\n") == 1 and "no DICOM file found" in err
    log_text = (data_dir / "logs" / "oncoboard.log").read_text(encoding="utf-8")
    assert f"skipped {jpegs / '0.jpg'}: not a DICOM file" in log_text


def test_import_of_a_mixed_folder_exits_1(tmp_path: Any, data_dir: Any, capsys: Any) -> None:
    sphere_series(tmp_path / "in" / "ct", n=3)
    (tmp_path / "in" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "in")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("3 files indexed in 1 series") and "skipped" in out and err == ""
    photo = tmp_path / "in" / "photo.jpg"
    assert f"  skipped {photo}: not a DICOM file" in out.splitlines()
    # Nothing skipped (unchanged files): 0.
    (tmp_path / "in" / "photo.jpg").unlink()
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "in")]) == 0


@pytest.mark.slow
def test_demo_imaging_puts_the_tumour_where_the_record_says(data_dir: Any) -> None:
    from oncoboard.config import load_settings
    from oncoboard.imaging.demo import generate_demo_imaging
    from oncoboard.imaging.loader import load_series
    from oncoboard.imaging.structures import load_structures, rasterise
    from oncoboard.patients.demo_cohort import generate
    from oncoboard.store import open_store

    cohort = generate()
    lung = cohort.group("lung")[:2]

    class Small:
        def group(self, name: str) -> list[Any]:
            return lung if name == "lung" else cohort.group(name)[:1]

    store = open_store(data_dir)
    settings = load_settings(data_dir)
    result = generate_demo_imaging(store, settings, Small())
    again = generate_demo_imaging(store, settings, Small())
    # planning CTs with their RTSTRUCT, earlier CTs (2 for a shrinking, 1 for a stable tumour), MR
    assert result.files_written == 2 * 81 + 3 * 80 + 48 and again.files_written == 0
    for patient in lung:
        facts = result.patients[patient.id]
        assert facts["tumour_diameter_mm"] == patient.tumour["diameter_mm"]
        vol = load_series(store, facts["series_uid"], settings=settings)
        assert vol.shape == (80, 256, 256) and vol.patient_id == patient.id
        (gtv,) = load_structures(store, facts["series_uid"])
        mask = rasterise(gtv, vol)
        centre = vol.index_to_patient(np.argwhere(mask)).mean(axis=0)
        np.testing.assert_allclose(centre, facts["tumour_centre_lps"], atol=1.5)
        assert abs(float(vol.voxels[mask].mean()) - 35) < 10  # the tumour is soft tissue
        lung_side = -1 if patient.tumour["side"] == "right" else 1
        assert np.sign(facts["tumour_centre_lps"][0]) == lung_side  # LPS: +x is the left
        for prior in facts["prior_studies"]:  # the same tumour, earlier, at another size
            assert prior["tumour_centre_lps"] == facts["tumour_centre_lps"]
            assert prior["study_date"] < facts["study_date"]
            assert prior["tumour_diameter_mm"] != facts["tumour_diameter_mm"]
    store.close()


def test_patients_imported_after_their_dicom_get_their_studies(tmp_path: Any, data_dir: Any,
                                                                capsys: Any) -> None:
    from oncoboard.imaging.index import list_series
    from oncoboard.patients import fhir_build as fb
    from oncoboard.store import open_store

    case = sphere_series(tmp_path / "ct", n=3, patient_id="LATE-7")  # birth date 1960-01-01
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "ct")]) == 0
    bundle = tmp_path / "late.json"
    bundle.write_text(json.dumps(fb.bundle([fb.patient("p1", "LATE-7", "Tard", "Test",
                                                       "1960-01-01", "female")])))
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "import", "patients", str(bundle)]) == 0
    assert "linked 1 DICOM study to their patients" in capsys.readouterr().out
    store = open_store(data_dir)
    [series] = list_series(store, "LATE-7")
    assert (series.series_uid, series.patient_id) == (case.series_uid, "LATE-7")
    store.close()
    # importing again: nothing left to link, nothing printed about it
    assert main(["--data-dir", str(data_dir), "import", "patients", str(bundle)]) == 0
    assert "linked" not in capsys.readouterr().out
