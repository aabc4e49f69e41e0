"""Helpers of the board tests (a unique module name, importable from the test files)."""

from __future__ import annotations

from typing import Any

PATIENTS = [
    # id, family, given, birth, sex, diagnosis, stage
    ("BRC-001", "Martin", "Claire", "1961-03-14", "female", "C50.4", "IIA"),
    ("BRC-002", "Bernard", "Louise", "1975-09-02", "female", "C50.1", "IIIA"),
    ("LUN-001", "Durand", "Paul", "1950-12-30", "male", "C34.1", "IIIB"),
]


def add_patient(store: Any, pid: str, family: str, given: str, birth: str, sex: str,
                code: str, stage: str, synthetic: bool = True) -> None:
    """Insert a patient and their primary cancer as rows of migration 1."""
    store.db["patients"].insert({
        "id": pid, "family_name": family, "given_name": given, "birth_date": birth,
        "sex": sex, "synthetic": int(synthetic), "imported_at": "2026-01-01T00:00:00+00:00",
        "source_system": "test", "source_id": pid})
    store.db["conditions"].insert({
        "id": f"{pid}-c1", "patient_id": pid, "source_id": "c1", "is_primary_cancer": 1,
        "code_system": "http://hl7.org/fhir/sid/icd-10", "code": code,
        "display": "Malignant neoplasm", "diagnosis_date": "2026-06-01",
        "clinical_stage": stage, "er": "positive" if code.startswith("C50") else None})


def count(store: Any, table: str) -> int:
    """Return the number of rows of `table`."""
    return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
