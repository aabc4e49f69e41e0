"""Codes Oncoboard understands, with the canonical unit each value is stored in.

This table is the contract between the importers (which convert every value to the canonical
unit, with pint) and the plugins (whose manifests name these codes and units). LOINC is used where
a LOINC code exists; items with no standard code use the local system :data:`LOCAL`.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
LOCAL = "urn:oncoboard:code"


@dataclass(frozen=True)
class Code:
    """A coded observation Oncoboard knows."""

    system: str
    code: str
    key: str            # short name used in manifests, CSV headers and the UI
    display: str
    unit: str | None    # canonical unit (UCUM, as pint understands it); None for coded values
    category: str       # laboratory | vital-signs | tumor-marker | stage | ecog | survey | other
    normal_low: float | None = None
    normal_high: float | None = None
    molar_mass: float | None = None  # g/mol, for mass <-> amount conversions (mg/dL <-> umol/L)


CODES: tuple[Code, ...] = (
    # blood counts and chemistry
    Code(LOINC, "751-8", "neutrophils", "Neutrophils [#/volume] in Blood", "10*9/L", "laboratory", 1.8, 7.5),
    Code(LOINC, "731-0", "lymphocytes", "Lymphocytes [#/volume] in Blood", "10*9/L", "laboratory", 1.0, 4.0),
    Code(LOINC, "2532-0", "ldh", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "laboratory", 135.0, 225.0),
    Code(LOINC, "1751-7", "albumin", "Albumin [Mass/volume] in Serum or Plasma", "g/L", "laboratory", 35.0, 50.0, 66470.0),
    Code(LOINC, "1988-5", "crp", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", "laboratory", 0.0, 5.0),
    Code(LOINC, "718-7", "haemoglobin", "Hemoglobin [Mass/volume] in Blood", "g/dL", "laboratory", 12.0, 16.0, 16114.5),
    Code(LOINC, "2160-0", "creatinine", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "laboratory", 0.6, 1.2, 113.12),
    Code(LOINC, "26464-8", "leukocytes", "Leukocytes [#/volume] in Blood", "10*9/L", "laboratory", 4.0, 10.0),
    Code(LOINC, "777-3", "platelets", "Platelets [#/volume] in Blood", "10*9/L", "laboratory", 150.0, 400.0),
    # vitals
    Code(LOINC, "29463-7", "weight", "Body weight", "kg", "vital-signs"),
    Code(LOINC, "8302-2", "height", "Body height", "cm", "vital-signs"),
    Code(LOINC, "8310-5", "temperature", "Body temperature", "degC", "vital-signs", 36.0, 37.8),
    # performance status
    Code(LOINC, "89247-1", "ecog", "ECOG Performance Status score", None, "ecog"),
    # TNM (mCODE)
    Code(LOINC, "21905-5", "clinical_t", "Primary tumor.clinical [Class] Cancer", None, "stage"),
    Code(LOINC, "21906-3", "clinical_n", "Regional lymph nodes.clinical [Class] Cancer", None, "stage"),
    Code(LOINC, "21907-1", "clinical_m", "Distant metastases.clinical [Class] Cancer", None, "stage"),
    Code(LOINC, "21908-9", "clinical_stage", "Stage group.clinical Cancer", None, "stage"),
    Code(LOINC, "21899-0", "pathological_t", "Primary tumor.pathology Cancer", None, "stage"),
    Code(LOINC, "21900-6", "pathological_n", "Regional lymph nodes.pathology Cancer", None, "stage"),
    Code(LOINC, "21901-4", "pathological_m", "Distant metastases.pathology Cancer", None, "stage"),
    Code(LOINC, "21902-2", "pathological_stage", "Stage group.pathology Cancer", None, "stage"),
    # tumour characteristics and markers
    Code(LOINC, "21889-1", "tumour_size", "Size Tumor", "mm", "tumor-marker"),
    Code(LOINC, "21893-3", "positive_nodes", "Regional lymph nodes positive [#] Specimen", "1", "tumor-marker"),
    Code(LOINC, "16112-5", "er", "Estrogen receptor [Interpretation] in Tissue", None, "tumor-marker"),
    Code(LOINC, "16113-3", "pr", "Progesterone receptor [Interpretation] in Tissue", None, "tumor-marker"),
    Code(LOINC, "48676-1", "her2", "HER2 [Interpretation] in Tissue", None, "tumor-marker"),
    Code(LOCAL, "ki67", "ki67", "Ki-67 proliferation index", "%", "tumor-marker"),
    Code(LOCAL, "histologic-grade", "grade", "Histologic grade (1-3)", None, "tumor-marker"),
    Code(LOCAL, "er-fmol", "estrec", "Estrogen receptor level", "fmol/mg", "tumor-marker"),
    Code(LOCAL, "pr-fmol", "progrec", "Progesterone receptor level", "fmol/mg", "tumor-marker"),
    Code(LOCAL, "pdl1-tps", "pdl1_tps", "PD-L1 tumour proportion score", "%", "tumor-marker"),
    Code(LOCAL, "screen-detected", "screen_detected", "Tumour detected by screening", None, "other"),
    Code(LOCAL, "menopausal-status", "menopausal_status", "Menopausal status (pre/post)", None, "other"),
    # geriatric assessment items used by the CARG toxicity score
    Code(LOCAL, "hearing", "hearing", "Hearing (excellent/good/fair/poor/deaf)", None, "survey"),
    Code(LOCAL, "falls-6m", "falls_6m", "Falls in the last 6 months", "1", "survey"),
    Code(LOCAL, "walk-one-block", "walk_limited", "Limited in walking one block", None, "survey"),
    Code(LOCAL, "medication-help", "needs_medication_help", "Needs help taking medications", None, "survey"),
    Code(LOCAL, "social-decrease", "social_decreased", "Social activities decreased because of health", None, "survey"),
    # disease status (mCODE CancerDiseaseStatus): value SNOMED, see DISEASE_STATUS
    Code(LOINC, "97509-4", "disease_status", "Cancer disease status", None, "disease-status"),
)

#: Disease-status values (SNOMED) that become outcomes, and the outcome kind they become.
DISEASE_STATUS: dict[str, str] = {
    "271299001": "progression",   # Patient's condition worsened
    "58184002": "relapse",        # Recurrent disease
    "268910001": "response",      # Patient's condition improved
    "359746009": "other",         # Patient's condition stable
    "550991000124107": "response",  # Malignant neoplasm in full remission
}

#: Systemic agents Oncoboard classifies: lower-case name -> (subkind, ATC code).
AGENTS: dict[str, tuple[str, str]] = {
    "tamoxifen": ("endocrine", "L02BA01"), "letrozole": ("endocrine", "L02BG04"),
    "anastrozole": ("endocrine", "L02BG03"), "exemestane": ("endocrine", "L02BG06"),
    "trastuzumab": ("targeted", "L01FD01"), "pertuzumab": ("targeted", "L01FD02"),
    "durvalumab": ("immunotherapy", "L01FF03"), "pembrolizumab": ("immunotherapy", "L01FF02"),
    "nivolumab": ("immunotherapy", "L01FF01"), "atezolizumab": ("immunotherapy", "L01FF05"),
    "doxorubicin": ("chemotherapy", "L01DB01"), "epirubicin": ("chemotherapy", "L01DB03"),
    "cyclophosphamide": ("chemotherapy", "L01AA01"), "paclitaxel": ("chemotherapy", "L01CD01"),
    "docetaxel": ("chemotherapy", "L01CD02"), "carboplatin": ("chemotherapy", "L01XA02"),
    "cisplatin": ("chemotherapy", "L01XA01"), "oxaliplatin": ("chemotherapy", "L01XA03"),
    "fluorouracil": ("chemotherapy", "L01BC02"), "capecitabine": ("chemotherapy", "L01BC06"),
    "gemcitabine": ("chemotherapy", "L01BC05"), "pemetrexed": ("chemotherapy", "L01BA04"),
    "irinotecan": ("chemotherapy", "L01CE02"), "etoposide": ("chemotherapy", "L01CB01"),
    "vinorelbine": ("chemotherapy", "L01CA04"), "leucovorin": ("chemotherapy", "V03AF03"),
}

#: Bounds (canonical unit) outside which a value cannot be right, e.g. ECOG 7 or Ki-67 140 %.
BOUNDS: dict[str, tuple[float, float]] = {"ecog": (0, 5), "ki67": (0, 100),
                                          "pdl1_tps": (0, 100)}


def impossible_value(code: Code | None, value: float | None) -> str | None:
    """Return why `value` cannot be a value of `code` (None when it can, or is unknown)."""
    if code is None or value is None:
        return None
    low, high = BOUNDS.get(code.key, (0.0, float("inf")) if code.category in
                           ("laboratory", "vital-signs", "tumor-marker", "survey") else
                           (float("-inf"), float("inf")))
    if low <= value <= high:
        return None
    span = f"between {low:g} and {high:g}" if high != float("inf") else f"at least {low:g}"
    return f"{code.key} {value:g} is impossible (must be {span})"


#: Other LOINC codes of the same quantity (another method, or the mCODE/Synthea choice):
#: their values are stored under the code of :data:`CODES` named here (the key), the code as
#: received kept with the row. Same property and scale only: 770-8 (neutrophils in %) is not
#: an alias of 751-8 (count per volume).
ALIASES: dict[tuple[str, str], str] = {
    (LOINC, "6690-2"): "leukocytes",    # Leukocytes [#/volume] in Blood by Automated count
    (LOINC, "26499-4"): "neutrophils",  # Neutrophils [#/volume] in Blood
    (LOINC, "753-4"): "neutrophils",    # Neutrophils [#/volume] in Blood by Manual count
    (LOINC, "26474-7"): "lymphocytes",  # Lymphocytes [#/volume] in Blood
    (LOINC, "26515-7"): "platelets",    # Platelets [#/volume] in Blood
    (LOINC, "14682-9"): "creatinine",   # Creatinine [Moles/volume] in Serum or Plasma
    (LOINC, "3141-9"): "weight",        # Body weight Measured
    (LOINC, "85337-4"): "er",    # Estrogen receptor Ag [Presence] in Breast cancer specimen (IHC)
    (LOINC, "85339-0"): "pr",    # Progesterone receptor Ag [Presence] ... (IHC)
    (LOINC, "85319-2"): "her2",  # HER2 [Presence] in Breast cancer specimen by Immune stain
    (LOINC, "85318-4"): "her2",  # HER2 [Presence] in Breast cancer specimen by FISH
}

#: Code systems that are ICD-10 (WHO and national editions, as URL or OID).
ICD10_SYSTEMS = frozenset({ICD10, "http://hl7.org/fhir/sid/icd-10-cm",
                           "urn:oid:2.16.840.1.113883.6.3", "urn:oid:2.16.840.1.113883.6.90"})

BY_KEY: dict[str, Code] = {c.key: c for c in CODES}
BY_CODE: dict[tuple[str, str], Code] = {
    **{alias: BY_KEY[key] for alias, key in ALIASES.items()},
    **{(c.system, c.code): c for c in CODES}}


def is_icd10(system: str | None) -> bool:
    """Return whether a code system is ICD-10 (any edition: icd-10, icd-10-cm, icd-10-fr...)."""
    return bool(system) and (system in ICD10_SYSTEMS or "icd-10" in str(system).lower())


def lookup(system: str | None, code: str | None) -> Code | None:
    """Return the known code for (system, code), or None when Oncoboard does not know it.

    An alias (:data:`ALIASES`) returns the Code it stands for, whose ``code`` differs.
    """
    if code is None:
        return None
    return BY_CODE.get((system or "", code))
