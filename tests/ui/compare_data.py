"""A data folder with a baseline and a follow-up chest CT of one patient (comparison view).

Until the demo carries follow-up CTs, the pair is generated here: the demo's synthetic chest
phantom (tumour 30 mm) is the baseline; the follow-up is the same chest with a smaller tumour
(20 mm), scanned after a known rigid motion (`KNOWN`: rotation in degrees about x, y, z, then a
translation in mm) in its own Frame of Reference, six months later. Both are written as DICOM
and indexed, with the small test cohort's records (patient ``TEST-LU-002``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import demo_data
import numpy as np

PATIENT = "TEST-LU-002"
KNOWN = ((1.5, -1.0, 3.0), (8.0, -6.0, 11.25))
BASELINE_DATE, FOLLOWUP_DATE = "20260502", "20261116"


def _write(folder: Path, hu: np.ndarray, positions: np.ndarray, tag: str, date: str) -> str:
    from oncoboard.imaging import demo, synth

    uids = {"study": synth.make_uid(PATIENT, tag, "study"),
            "series": synth.make_uid(PATIENT, tag, "series"),
            "frame_of_reference": synth.make_uid(PATIENT, tag, "for")}
    header = {"PatientID": PATIENT, "PatientName": "Dubois^Marc", "PatientBirthDate": "19570930",
              "StudyDate": date, "StudyDescription": "CT thorax", "SeriesDescription":
              "Thorax 3.75 mm", "BodyPartExamined": "CHEST"}
    stored = (hu.astype(np.int32) + 1024).clip(0, 4095).astype(np.uint16)
    datasets = synth.slice_datasets(stored, positions, demo.AXIAL, demo.CT_SPACING[:2],
                                    uids=uids, modality="CT", thickness=demo.CT_SPACING[2],
                                    header=header)
    synth.write_datasets(datasets, folder / tag)
    return uids["series"]


def pair_affine(positions: np.ndarray) -> np.ndarray:
    """Return the affine of the phantom's axial grid."""
    from oncoboard.imaging import demo

    aff = np.eye(4)
    aff[:3, 0] = positions[1] - positions[0]
    aff[:3, 1] = [0.0, demo.CT_SPACING[0], 0.0]
    aff[:3, 2] = [demo.CT_SPACING[1], 0.0, 0.0]
    aff[:3, 3] = positions[0]
    return aff


def build_compare_dir(path: Path) -> dict[str, Any]:
    """Write the records, the two CTs and the index under `path`; return the facts."""
    from oncoboard.imaging import demo, index_paths, synth
    from oncoboard.imaging.registration import RigidTransform
    from oncoboard.store import open_store

    path.mkdir(parents=True, exist_ok=True)
    base, positions, centre = demo.chest_phantom({"seed": 7, "diameter_mm": 30})
    smaller, _, _ = demo.chest_phantom({"seed": 7, "diameter_mm": 20})
    aff = pair_affine(positions)
    mid = tuple(float(v) for v in aff[:3, 3] + aff[:3, :3] @ (np.array(base.shape) / 2.0))
    truth = RigidTransform.from_euler(*KNOWN, centre=mid)
    moved = synth.resample_rigid(smaller, aff, truth.array)
    moved += np.rint(np.random.default_rng(9).normal(0, 12, moved.shape)).astype(np.int16)
    store = open_store(path / "oncoboard.db")
    try:
        demo_data.write_small_cohort(store)
        prior_uid = _write(path / "dicom", base, positions, "baseline", BASELINE_DATE)
        current_uid = _write(path / "dicom", moved, positions, "followup", FOLLOWUP_DATE)
        index_paths(store, [path / "dicom"])
    finally:
        store.close()
    return {"prior": prior_uid, "current": current_uid, "truth": truth,
            "tumour_centre_prior_lps": centre}
