"""A model result as a Comprehensive SR: made from the typed Prediction, parsed back by highdicom
with the same values, stored in Orthanc (STOW-RS) and fetched back unchanged."""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "imaging"))
from orthanc import HAS_DICOMWEB, OrthancServer, orthanc_fixture  # noqa: E402,F401
from test_board_case_view import _ct_with_gtv  # noqa: E402

from oncoboard.board import model_sr  # noqa: E402
from oncoboard.inference.prediction import Prediction  # noqa: E402


def prediction() -> Prediction:
    times = [0.0, 12.0, 24.0, 60.0]
    return Prediction.from_dict({
        "id": "pred-42", "patient_id": "LUN-001",
        "plugin": {"id": "relapse-demo", "name": "Relapse demo", "version": "2.1.0",
                   "task": "relapse", "model_sha256": "ab" * 32, "manifest_sha256": "cd" * 32,
                   "origin": "bundled", "signed": True, "synthetic": True,
                   "training_data": "synthetic"},
        "reference_date": "2026-11-23", "status": "ok", "refusal": [],
        "synthetic_label": "synthetic - demonstration only", "outside_intended_use": True,
        "population": {"checked": True, "in_population": False},
        "inputs": {"age": {"status": "measured", "value": 91, "unit": "years",
                           "source": {"observation": 3}},
                   "ki67": {"status": "imputed", "value": 20.5, "unit": "%"},
                   "histology": {"status": "given", "value": "adenocarcinoma"}},
        "outputs": {
            "rfs": {"kind": "survival", "label": "Relapse-free survival", "display": True,
                    "times": times, "time_unit": "mo", "quantity": "survival",
                    "values": [1, 0.9123456789012345, 0.81, 0.6],
                    "lower": [1, 0.88, 0.75, 0.51], "upper": [1, 0.94, 0.86, 0.69],
                    "interval_level": 0.95},
            "p5y": {"kind": "probability", "label": "Relapse by 5 years", "display": True,
                    "value": 0.4, "lower": 0.31, "upper": 0.49, "interval_level": 0.9},
            "score": {"kind": "score", "label": "Risk score", "display": True,
                      "value": 3.25}},
        "warnings": [{"code": "synthetic", "message": "synthetic - demonstration only",
                      "input": None},
                     {"code": "extrapolated", "message": "age 91 years: above the oldest "
                      "patient of the training data (85); the estimate is extrapolated",
                      "input": "age"},
                     {"code": "imputed", "message": "ki67: missing; 20.5 % used",
                      "input": "ki67"}],
        "app_version": "0.1.0", "created_at": "2026-11-22T10:00:00.000+00:00"})


def evidence(tmp_path: Path) -> pydicom.Dataset:
    folder = _ct_with_gtv(tmp_path, "LUN-001")
    return pydicom.dcmread(sorted((folder / "ct").glob("*.dcm"))[0], stop_before_pixels=True)


def check(read: dict, pred: Prediction) -> None:
    assert read["Algorithm Name"] == "Relapse demo" and read["Algorithm Version"] == "2.1.0"
    assert read["Plugin identifier"] == "relapse-demo"
    assert read["Model file SHA-256"] == "ab" * 32 and read["Manifest SHA-256"] == "cd" * 32
    assert read["Oncoboard prediction identifier"] == "pred-42"
    assert read["Model trained on synthetic data"] == "Yes"
    assert read["Patient outside intended population"] == "Yes"
    assert read["Estimate extrapolated"] == "Yes" and read["extrapolated inputs"] == ["age"]
    assert read["inputs"] == {"age": (91, "measured", "years"), "ki67": (20.5, "imputed", "%"),
                              "histology": ("adenocarcinoma", "given", None)}
    rfs = pred.outputs["rfs"]
    assert read["outputs"]["rfs"] == [
        (v, t, lo, hi, 0.95) for v, t, lo, hi in zip(rfs.values, rfs.times, rfs.lower,  # type: ignore[arg-type]
                                                      rfs.upper, strict=True)]  # type: ignore[arg-type]
    assert read["outputs"]["rfs"][1][0] == 0.9123456789012345  # exact, not a 16-char string
    assert read["outputs"]["p5y"] == [(0.4, None, 0.31, 0.49, 0.9)]
    assert read["outputs"]["score"] == [(3.25, None, None, None, None)]
    assert read["labels"]["p5y"] == "Relapse by 5 years"
    assert read["warnings"] == [w.text() for w in pred.warnings]


def test_model_sr_round_trips_through_highdicom(tmp_path: Path) -> None:
    import highdicom as hd

    pred = prediction()
    image = evidence(tmp_path)
    sr = model_sr.model_result_sr(pred, [image])
    parsed = hd.sr.ComprehensiveSR.from_dataset(sr)
    assert parsed.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert parsed.StudyInstanceUID == image.StudyInstanceUID and sr.PatientID == "LUN-001"
    check(model_sr.read_model_result(sr), pred)


@pytest.mark.orthanc
@pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")
def test_model_sr_stored_in_orthanc_comes_back_the_same(tmp_path: Path,
                                                        orthanc: OrthancServer) -> None:
    from oncoboard.imaging import pacs

    pred = prediction()
    image = evidence(tmp_path)
    sr = model_sr.model_result_sr(pred, [image])
    [result] = pacs.store(orthanc.web_node(), [sr], study_uid=str(image.StudyInstanceUID))
    assert result.stored, result.reason
    from dicomweb_client.api import DICOMwebClient

    back = DICOMwebClient(orthanc.dicomweb_url).retrieve_instance(
        str(image.StudyInstanceUID), str(sr.SeriesInstanceUID), str(sr.SOPInstanceUID))
    check(model_sr.read_model_result(back), pred)
