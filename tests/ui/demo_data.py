"""A small synthetic data folder for the UI tests (no real patient data).

When the foundation's demo generator is importable it is used (the same cohort as README command
(a)); otherwise a few synthetic patients are written straight into a fresh store with the columns
of migration 1, and a synthetic CT volume is generated in memory for the viewer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat()


def _patient(db: Any, pid: str, family: str, given: str, birth: str, sex: str) -> None:
    db["patients"].insert({"id": pid, "source_system": "test", "source_id": pid,
                           "family_name": family, "given_name": given, "birth_date": birth,
                           "sex": sex, "synthetic": 1, "imported_at": NOW})


def write_small_cohort(store: Any) -> list[str]:
    """Write three synthetic patients with conditions, labs, treatments, notes and outcomes."""
    db = store.db
    with store.transaction():
        _patient(db, "TEST-BR-001", "Martin", "Claire", "1968-04-12", "female")
        _patient(db, "TEST-LU-002", "Dubois", "Marc", "1957-09-30", "male")
        _patient(db, "TEST-CH-003", "Nguyen", "Anne", "1949-01-05", "female")
        db["conditions"].insert_all([
            {"id": "c1", "patient_id": "TEST-BR-001", "source_id": "c1", "code": "C50.4",
             "display": "Malignant neoplasm of breast", "laterality": "left",
             "diagnosis_date": "2024-02-10", "pathological_t": "T2", "pathological_n": "N1",
             "pathological_m": "M0", "pathological_stage": "IIB", "grade": "2", "er": "positive",
             "pr": "positive", "her2": "negative", "ki67_percent": 22.0},
            {"id": "c2", "patient_id": "TEST-LU-002", "source_id": "c2", "code": "C34.1",
             "display": "Malignant neoplasm of upper lobe, lung", "diagnosis_date": "2025-03-01",
             "clinical_t": "T3", "clinical_n": "N2", "clinical_m": "M0",
             "clinical_stage": "IIIB"},
            {"id": "c3", "patient_id": "TEST-CH-003", "source_id": "c3", "code": "C18.7",
             "display": "Malignant neoplasm of sigmoid colon", "diagnosis_date": "2025-06-01",
             "clinical_stage": "III"}])
        obs = []
        for i, (day, neut, ldh) in enumerate([("2025-03-05", 5.1, 210), ("2025-05-02", 3.0, 260),
                                              ("2025-07-01", 1.2, 310), ("2025-09-01", 2.4, 240)]):
            obs.append({"id": f"o-n{i}", "patient_id": "TEST-LU-002", "source_id": f"o-n{i}",
                        "category": "laboratory", "code_system": "http://loinc.org",
                        "code": "751-8", "display": "Neutrophils", "value_num": neut,
                        "unit": "10*9/L", "effective": day})
            obs.append({"id": f"o-l{i}", "patient_id": "TEST-LU-002", "source_id": f"o-l{i}",
                        "category": "laboratory", "code_system": "http://loinc.org",
                        "code": "2532-0", "display": "LDH", "value_num": ldh, "unit": "U/L",
                        "effective": day, "reference_high": 225.0})
        obs.append({"id": "o-e", "patient_id": "TEST-LU-002", "source_id": "o-e",
                    "category": "ecog", "code_system": "http://loinc.org", "code": "89247-1",
                    "value_num": 1, "effective": "2025-09-01"})
        db["observations"].insert_all(obs)
        db["treatments"].insert_all([
            {"id": "t1", "patient_id": "TEST-LU-002", "source_id": "t1", "kind": "radiotherapy",
             "display": "Thoracic radiotherapy", "start_date": "2025-04-01",
             "end_date": "2025-05-12", "dose_gy": 60.0, "fractions": 30},
            {"id": "t2", "patient_id": "TEST-LU-002", "source_id": "t2", "kind": "systemic",
             "subkind": "immunotherapy", "regimen": "Durvalumab", "start_date": "2025-06-01"},
            {"id": "t3", "patient_id": "TEST-BR-001", "source_id": "t3", "kind": "surgery",
             "display": "Lumpectomy", "start_date": "2024-03-01", "end_date": "2024-03-01"}])
        db["outcomes"].insert_all([
            {"id": "h1", "patient_id": "TEST-LU-002", "source_id": "h1",
             "kind": "hospitalisation", "date": "2025-07-03", "end_date": "2025-07-09",
             "unplanned": 1, "detail": "febrile neutropenia"}])
        db["notes"].insert_all([
            {"id": "n1", "patient_id": "TEST-LU-002", "source_id": "n1",
             "note_type": "consultation", "author_role": "oncologist", "date": "2025-07-03",
             "language": "fr", "title": "Consultation",
             "text": "Patient admis pour fièvre à 38,9 °C. Neutropénie fébrile probable.\n\n"
                     "Poursuite de l'immunothérapie après récupération."},
            {"id": "n2", "patient_id": "TEST-LU-002", "source_id": "n2",
             "note_type": "radiology", "author_role": "radiologist", "date": "2025-03-02",
             "language": "en", "title": "CT chest",
             "text": "Right upper lobe mass of 48 mm with mediastinal lymph nodes."},
            {"id": "n3", "patient_id": "TEST-BR-001", "source_id": "n3",
             "note_type": "pathology", "author_role": "pathologist", "date": "2024-03-05",
             "language": "en", "title": "Pathology report",
             "text": "Invasive ductal carcinoma, grade 2, 22 mm, one positive node out of 12."}])
    return ["TEST-BR-001", "TEST-LU-002", "TEST-CH-003"]


def synthetic_ct(shape: tuple[int, int, int] = (60, 128, 128), seed: int = 0) -> Any:
    """Return a synthetic CT `Volume`: a body ellipse of soft tissue, lungs, spine, a tumour."""
    from oncoboard.imaging.volume import Structure, Volume

    rng = np.random.default_rng(seed)
    k, r, c = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    nk, nr, nc = shape
    vox = np.full(shape, -1000, dtype=np.int16)
    body = ((r - nr / 2) / (nr * 0.42)) ** 2 + ((c - nc / 2) / (nc * 0.46)) ** 2 < 1
    vox[body] = 40
    for side in (-1, 1):
        lung = ((r - nr * 0.45) / (nr * 0.25)) ** 2 + ((c - nc / 2 - side * nc * 0.2) /
                                                         (nc * 0.14)) ** 2 < 1
        vox[lung & body] = -850
    spine = ((r - nr * 0.78) / (nr * 0.06)) ** 2 + ((c - nc / 2) / (nc * 0.06)) ** 2 < 1
    vox[spine] = 700
    tumour = ((k - nk * 0.5) / 6) ** 2 + ((r - nr * 0.42) / 8) ** 2 + \
             ((c - nc * 0.3) / 8) ** 2 < 1
    vox[tumour] = 60
    vox = (vox + rng.normal(0, 12, shape)).astype(np.int16)
    spacing = (2.5, 0.8, 0.8)
    affine = np.diag([spacing[0], spacing[1], spacing[2], 1.0])
    # array axes (slice, row, column) -> LPS: slice along +z (S), row along +y (P), col along +x
    affine[:3, :3] = np.array([[0, 0, spacing[2]], [0, spacing[1], 0], [spacing[0], 0, 0]])
    affine[:3, 3] = (-nc * 0.4, -nr * 0.4, -100.0)
    vol = Volume(vox, affine, modality="CT", series_uid="1.2.826.0.1.3680043.8.498.1",
                 study_uid="1.2.826.0.1.3680043.8.498.2", patient_id="TEST-LU-002",
                 description="Synthetic chest CT",
                 window_presets=[("Header", 40.0, 400.0)])
    gtv = Structure(name="GTV", number=1, kind="seg", color=(240, 98, 90), mask=tumour,
                    mask_affine=affine.copy(), interpreted_type="GTV")
    return vol, [gtv]


def build_data_dir(path: Path) -> dict[str, Any]:
    """Create a data folder at `path` with the demo cohort (or the small one); describe it."""
    from oncoboard.store import open_store

    path.mkdir(parents=True, exist_ok=True)
    store = open_store(path)
    try:
        patients = write_small_cohort(store)
    finally:
        store.close()
    return {"data_dir": path, "patients": patients}
