"""Record builders shared by the patients tests (a uniquely named module: every test folder has
its own conftest, and `from conftest import` picks whichever was imported first)."""

from __future__ import annotations

from typing import Any

from oncoboard.patients import fhir_build as fb


def basic_patient(pid: str = "p1", mrn: str = "MRN-1", birth: str = "1950-02-03",
                  sex: str = "female") -> dict[str, Any]:
    return fb.patient(pid, mrn, "Testcase", "Anna", birth, sex)


def full_record() -> list[dict[str, Any]]:
    """Return one patient with a resource of every imported type."""
    return [
        basic_patient(),
        fb.condition("c1", "p1", "C50.4", "Breast cancer", "2020-01-10", morphology="8500/3",
                     laterality="left", stage="IIA", stage_type="pathological"),
        fb.observation("o-creat", "p1", "creatinine", "2020-01-05", value=88.4, unit="umol/L",
                       ref_low=45, ref_high=90),
        fb.observation("o-hb", "p1", "haemoglobin", "2020-01-05", value=118, unit="g/L"),
        fb.observation("o-ldh", "p1", "ldh", "2020-01-05", value=300, unit="U/L", ref_low=135,
                       ref_high=250),
        fb.observation("o-pt", "p1", "pathological_t", "2020-02-01", coded=(None, "T2")),
        fb.observation("o-pn", "p1", "pathological_n", "2020-02-01", coded=(None, "N1")),
        fb.observation("o-er", "p1", "er", "2020-02-01", coded=(fb.codes.SNOMED, "10828004")),
        fb.observation("o-her2", "p1", "her2", "2020-02-01", coded=(fb.codes.SNOMED,
                                                                   "260385009")),
        fb.observation("o-ki67", "p1", "ki67", "2020-02-01", value=20, unit="%"),
        fb.observation("o-size", "p1", "tumour_size", "2020-02-01", value=2.2, unit="cm"),
        fb.observation("o-ecog", "p1", "ecog", "2020-02-01", value=1),
        fb.observation("o-ecog2", "p1", "ecog", "2020-06-01", value=2),
        fb.procedure("s1", "p1", "surgery", "Lumpectomy", "2020-02-01"),
        fb.procedure("r1", "p1", "radiotherapy", "Breast RT", "2020-03-01", end="2020-04-01",
                     dose_gy=50, fractions=25),
        fb.medication("m1", "p1", "paclitaxel", "2020-05-01", regimen="weekly paclitaxel",
                      group="g1", cycles=12, dose_intensity=0.8),
        fb.medication("m2", "p1", "trastuzumab", "2020-05-01", regimen="weekly paclitaxel",
                      group="g1", cycles=12, dose_intensity=1.0, kind="MedicationRequest"),
        fb.medication("m3", "p1", "letrozole", "2020-09-01", kind="MedicationAdministration",
                      status="completed", end="2020-10-01"),
        fb.document("n1", "p1", "nursing", "2020-05-10", "Pas de fièvre. Diarrhée grade 2.",
                    "fr", "nurse"),
        fb.encounter("e1", "p1", "2020-05-12", "2020-05-15", "neutropénie fébrile"),
    ]
