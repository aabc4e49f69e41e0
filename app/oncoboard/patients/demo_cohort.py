"""Generate the synthetic demo cohort as FHIR R4 resources (deterministic, seeded).

Three groups, every patient tagged synthetic and given an obviously fictitious name:

- ``DEMO-BR-001..012``: early breast cancer after surgery (relapse forecasting): pathological
  TNM, size, nodes, grade, ER/PR/HER2, Ki67, receptor levels, menopausal status, screening,
  surgery, and endocrine therapy / chemotherapy / trastuzumab where indicated. Patients starting
  adjuvant chemotherapy also have the pre-chemotherapy work-up (blood count, creatinine, weight,
  height, ECOG, the CARG questionnaire items) and a consultation note, so the toxicity plugins
  apply to them too.
- ``DEMO-BR-013``: five years after surgery on letrozole, free of recurrence: the board asks
  whether to extend endocrine therapy (CTS5).
- ``DEMO-LU-001..010``: stage III-IV NSCLC planned for radiotherapy plus immunotherapy (response
  prediction): ECOG, PD-L1 TPS (not for all), blood counts, LDH with its ULN, albumin, CRP and
  haemoglobin within 30 days before the planned start; tumour descriptors for the imaging demo.
- ``DEMO-CH-001..010``: patients aged 65+ starting chemotherapy (toxicity risk): regimen, agents,
  dose intensity, cycles, haemoglobin, creatinine (some in umol/L), weight, height, the CARG
  geriatric items, French and English notes mentioning or negating toxicities, and unplanned
  hospitalisations after a cycle.

Dates: every date is an offset from the reference date, the day the demo tumour board meets
(``generate(date=...)``; ``oncoboard demo --date``, default today), so the record always looks
current to the plugins' look-back windows. For a given seed the cohort is the same whatever the
date (same patients, values, notes and ages on the reference date); only the dates move.
:data:`REFERENCE_DATE` is the default of :func:`generate`, for callers that need fixed dates.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncoboard.patients import codes
from oncoboard.patients import fhir_build as fb
from oncoboard.patients.demo_notes import chemo_notes, prechemo_note
from oncoboard.patients.staging import stage_group

SEED = 20261130
#: Default reference date of :func:`generate` (``oncoboard demo`` uses today instead).
REFERENCE_DATE = dt.date(2026, 11, 30)
POS, NEG = (codes.SNOMED, "10828004"), (codes.SNOMED, "260385009")
_FAMILY = ["Fictif", "Exemple", "Maquette", "Specimen", "Simulé", "Prototype", "Modèle",
           "Essai", "Factice", "Imaginaire", "Virtuel", "Synthèse"]
_GIVEN_F = ["Alpha", "Bêta", "Gamma", "Delta", "Epsilon", "Zêta", "Thêta", "Iota", "Kappa",
            "Lambda", "Sigma", "Oméga"]
_GIVEN_M = ["Test", "Démo", "Essai", "Proto", "Fictus", "Simul", "Nemo", "Quidam", "Lambda",
            "Omicron", "Rho", "Tau"]


@dataclass
class DemoPatient:
    """One synthetic patient: its FHIR resources and what the imaging demo needs to match it."""

    id: str
    group: str                       # breast | lung | chemo
    resources: list[dict[str, Any]]
    tumour: dict[str, Any] = field(default_factory=dict)  # lung: diameter_mm, lobe, side...
    planned_start: str | None = None
    #: Date (ISO) for the patient's demo imaging study: the lung planning CT (day of the
    #: pre-treatment bloods) or the breast diagnostic MR (a week after diagnosis).
    study_date: str | None = None

    def bundle(self) -> dict[str, Any]:
        """Return the patient's FHIR Bundle."""
        return fb.bundle(self.resources, bundle_id=f"{self.id.lower()}-bundle")


@dataclass
class DemoCohort:
    """The whole cohort."""

    seed: int
    reference_date: str
    patients: list[DemoPatient]

    def group(self, name: str) -> list[DemoPatient]:
        """Return the patients of one group (breast, lung, chemo)."""
        return [p for p in self.patients if p.group == name]


def _day(ref: dt.date) -> Callable[[int], str]:
    """Return a function giving the ISO date `days` after the reference date."""
    return lambda days: (ref + dt.timedelta(days=days)).isoformat()


def _birth(rng: random.Random, ref: dt.date, age: int) -> str:
    # 1-300 days past a birthday: `age` completed years on the reference date, whatever it is.
    return (ref - dt.timedelta(days=int(age * 365.25) + rng.randint(1, 300))).isoformat()


def _person(rng: random.Random, ref: dt.date, pid: str, i: int, age: int,
            sex: str) -> dict[str, Any]:
    given = (_GIVEN_F if sex == "female" else _GIVEN_M)[i % 12]
    family = f"{_FAMILY[(i * 5 + len(pid)) % 12]}-{pid[5:7]}"
    return fb.patient(pid.lower(), pid, family, given, _birth(rng, ref, age), sex)


def _obs(pid: str, n: list[int], key: str, date: str, **kw: Any) -> dict[str, Any]:
    n[0] += 1
    return fb.observation(f"{pid.lower()}-obs-{n[0]}", pid.lower(), key, date, **kw)


def _stage_breast(size: int, nodes: int) -> tuple[str, str, str]:
    t = "T1" if size <= 20 else "T2" if size <= 50 else "T3"
    n = "N0" if nodes == 0 else "N1" if nodes <= 3 else "N2" if nodes <= 9 else "N3"
    stage = stage_group("breast", t, n, "M0")
    assert stage is not None
    return t, n, stage


def breast_patient(rng: random.Random, i: int, ref: dt.date = REFERENCE_DATE,
                   seed: int = SEED) -> DemoPatient:
    """Return early breast cancer patient number `i` (1-based), after surgery, on date `ref`."""
    pid, r = f"DEMO-BR-{i:03d}", f"demo-br-{i:03d}"
    _d = _day(ref)
    age = rng.randint(34, 80)
    n = [0]
    dx, surgery = -rng.randint(70, 120), -rng.randint(25, 45)
    size, nodes = rng.randint(8, 60), rng.choice([0, 0, 0, 0, 1, 2, 3, 5, 8, 12])
    grade = rng.choice([1, 2, 2, 3, 3])
    er_pos = rng.random() < 0.75
    pr_pos = er_pos and rng.random() < 0.8
    her2_pos = i in (3, 7, 11)
    t, nn, stage = _stage_breast(size, nodes)
    res = [_person(rng, ref, pid, i, age, "female"),
           fb.condition(f"{r}-dx", r, f"C50.{rng.choice([1, 2, 4, 4, 5, 8])}",
                        "Malignant neoplasm of breast", _d(dx), morphology=rng.choice(
                            ["8500/3", "8500/3", "8520/3"]),
                        laterality=rng.choice(["left", "right"]), stage=stage,
                        stage_type="pathological")]
    path = _d(surgery)
    res += [
        _obs(pid, n, "menopausal_status", _d(dx), coded=(codes.LOCAL,
                                                       "pre" if age < 50 else "post")),
        _obs(pid, n, "tumour_size", path, value=size, unit="mm"),
        _obs(pid, n, "positive_nodes", path, value=nodes, unit="1"),
        _obs(pid, n, "grade", path, value=None, coded=None, text=None) | {
            "valueInteger": grade},
        _obs(pid, n, "er", path, coded=POS if er_pos else NEG),
        _obs(pid, n, "pr", path, coded=POS if pr_pos else NEG),
        _obs(pid, n, "her2", path, coded=POS if her2_pos else NEG),
        _obs(pid, n, "ki67", path, value=rng.randint(5, 60) if grade > 1 else rng.randint(3, 15),
             unit="%"),
        _obs(pid, n, "estrec", path, value=rng.randint(20, 600) if er_pos else rng.randint(0, 9),
             unit="fmol/mg"),
        _obs(pid, n, "progrec", path, value=rng.randint(15, 800) if pr_pos else rng.randint(0, 9),
             unit="fmol/mg"),
        _obs(pid, n, "screen_detected", _d(dx), boolean=rng.random() < 0.45),
        _obs(pid, n, "pathological_t", path, coded=(None, t)),
        _obs(pid, n, "pathological_n", path, coded=(None, nn)),
        _obs(pid, n, "pathological_m", path, coded=(None, "M0")),
        _obs(pid, n, "pathological_stage", path, coded=(None, stage)),
        fb.procedure(f"{r}-surgery", r, "surgery",
                     rng.choice(["Lumpectomy with sentinel node biopsy",
                                 "Mastectomy with axillary dissection"]), path)]
    start = surgery + rng.randint(20, 35)
    chemo = nodes > 0 or grade == 3 or not er_pos or her2_pos
    if chemo:
        for agent in ("epirubicin", "cyclophosphamide"):
            res.append(fb.medication(f"{r}-ec-{agent[:4]}", r, agent, _d(start),
                                     kind="MedicationRequest", regimen="EC", group=f"{r}-ec",
                                     cycles=4, dose_intensity=1.0, line=1, status="active"))
    if her2_pos:
        res.append(fb.medication(f"{r}-trastuzumab", r, "trastuzumab", _d(start),
                                 kind="MedicationRequest", regimen="trastuzumab 1 year",
                                 cycles=18, line=1, status="active"))
    if er_pos:  # after the 4 three-weekly EC cycles when there is chemotherapy
        res.append(fb.medication(f"{r}-endocrine", r, "tamoxifen" if age < 50 else "letrozole",
                                 _d(start + (90 if chemo else 5)),
                                 regimen="adjuvant endocrine therapy", line=1))
    if chemo:  # drawn from its own generator: the rest of the cohort stays as it was
        res += _prechemo_workup(random.Random(f"{seed}:{pid}:work-up"), pid, n, ref,
                                min(start, 0), "EC", "fr" if i % 2 else "en")
    return DemoPatient(pid, "breast", res, study_date=_d(dx + 7))


def followup_breast_patient(ref: dt.date = REFERENCE_DATE, seed: int = SEED) -> DemoPatient:
    """Return ``DEMO-BR-013``: five years after surgery on letrozole, free of recurrence.

    The board asks whether to extend endocrine therapy (the CTS5 question); PREDICT and
    relapse-gbsg2, whose survival counts from surgery, are outside their intended use on her.
    Drawn from a generator of its own: the rest of the cohort stays as it was.
    """
    rng = random.Random(f"{seed}:follow-up")
    pid, r, i = "DEMO-BR-013", "demo-br-013", 13
    _d, n = _day(ref), [0]
    age, size, nodes, grade = 67, 22, 2, 2
    dx = -(5 * 365 + rng.randint(60, 90))
    path, start = dx + rng.randint(25, 45), dx + rng.randint(75, 95)  # surgery, then letrozole
    t, nn, stage = _stage_breast(size, nodes)
    res = [_person(rng, ref, pid, i, age, "female"),
           fb.condition(f"{r}-dx", r, "C50.4", "Malignant neoplasm of breast", _d(dx),
                        morphology="8500/3", laterality="left", stage=stage,
                        stage_type="pathological"),
           _obs(pid, n, "menopausal_status", _d(dx), coded=(codes.LOCAL, "post")),
           _obs(pid, n, "tumour_size", _d(path), value=size, unit="mm"),
           _obs(pid, n, "positive_nodes", _d(path), value=nodes, unit="1"),
           _obs(pid, n, "grade", _d(path), value=None, coded=None, text=None) | {
               "valueInteger": grade},
           _obs(pid, n, "er", _d(path), coded=POS),
           _obs(pid, n, "pr", _d(path), coded=POS),
           _obs(pid, n, "her2", _d(path), coded=NEG),
           _obs(pid, n, "ki67", _d(path), value=12, unit="%"),
           _obs(pid, n, "estrec", _d(path), value=rng.randint(80, 400), unit="fmol/mg"),
           _obs(pid, n, "progrec", _d(path), value=rng.randint(40, 300), unit="fmol/mg"),
           _obs(pid, n, "screen_detected", _d(dx), boolean=True),
           _obs(pid, n, "pathological_t", _d(path), coded=(None, t)),
           _obs(pid, n, "pathological_n", _d(path), coded=(None, nn)),
           _obs(pid, n, "pathological_m", _d(path), coded=(None, "M0")),
           _obs(pid, n, "pathological_stage", _d(path), coded=(None, stage)),
           fb.procedure(f"{r}-surgery", r, "surgery", "Lumpectomy with sentinel node biopsy",
                        _d(path)),
           fb.medication(f"{r}-endocrine", r, "letrozole", _d(start),
                         regimen="adjuvant endocrine therapy", line=1),
           fb.document(f"{r}-note-1", r, "consultation", _d(-rng.randint(7, 20)),
                       "Consultation de suivi à 5 ans. Létrozole bien toléré, pas de signe de "
                       "récidive clinique ni à la mammographie. Question RCP : prolonger "
                       "l'hormonothérapie ?", "fr", "oncologist")]
    return DemoPatient(pid, "breast", res, study_date=_d(dx + 7))


def _prechemo_workup(rng: random.Random, pid: str, n: list[int], ref: dt.date, before: int,
                     regimen: str, lang: str) -> list[dict[str, Any]]:
    """Return the pre-chemotherapy visit of a breast patient: bloods, ECOG, CARG items, note.

    Parameters
    ----------
    before
        Day offset the visit precedes (the earlier of the first cycle and the board).
    """
    _d, r = _day(ref), pid.lower()
    visit = before - rng.randint(3, 10)
    day, ps = _d(visit), rng.choice([0, 0, 1, 1, 2])
    in_umol = rng.random() < 0.5
    creat = round(rng.uniform(0.55, 1.2), 2)
    res = [
        _obs(pid, n, "haemoglobin", day, value=round(rng.uniform(10.5, 14.8), 1), unit="g/dL",
             ref_low=12, ref_high=16),
        _obs(pid, n, "creatinine", day, value=round(creat * 88.42) if in_umol else creat,
             unit="umol/L" if in_umol else "mg/dL", ref_low=45 if in_umol else 0.5,
             ref_high=90 if in_umol else 1.0),
        _obs(pid, n, "weight", day, value=round(rng.uniform(50, 95), 1), unit="kg"),
        _obs(pid, n, "height", day, value=rng.randint(150, 178), unit="cm"),
        _obs(pid, n, "ecog", day, value=ps),
        # The CARG questionnaire, asked at the nurse's pre-chemotherapy visit.
        _obs(pid, n, "hearing", day, coded=(codes.LOCAL, rng.choice(
            ["excellent", "good", "good", "fair"]))),
        _obs(pid, n, "falls_6m", day, value=rng.choice([0, 0, 0, 0, 1]), unit="1"),
        _obs(pid, n, "walk_limited", day, boolean=rng.random() < 0.15),
        _obs(pid, n, "needs_medication_help", day, boolean=rng.random() < 0.1),
        _obs(pid, n, "social_decreased", day, boolean=rng.random() < 0.25)]
    text = prechemo_note(rng, lang, regimen, ps)
    res.append(fb.document(f"{r}-note-1", r, "consultation", day, text, lang, "oncologist"))
    return res


def lung_patient(rng: random.Random, i: int, ref: dt.date = REFERENCE_DATE) -> DemoPatient:
    """Return NSCLC patient number `i`, planned for radiotherapy plus immunotherapy."""
    pid, r = f"DEMO-LU-{i:03d}", f"demo-lu-{i:03d}"
    _d = _day(ref)
    sex, age = rng.choice(["male", "male", "female"]), rng.randint(48, 82)
    lobe = rng.choice(["upper", "upper", "middle", "lower"])
    side = "right" if lobe == "middle" else rng.choice(["left", "right"])
    icd = {"upper": "C34.1", "middle": "C34.2", "lower": "C34.3"}[lobe]
    stage4 = i > 7
    t = rng.choice(["T2", "T3", "T4"])
    nn, m = rng.choice(["N2", "N3"]) if not stage4 else "N2", "M1a" if stage4 else "M0"
    if not stage4:
        rng.choice(["IIIA", "IIIB", "IIIC"])  # keeps the random stream of the other values
    stage = stage_group("lung", t, nn, m)  # AJCC 8th, from the TNM (was drawn at random)
    start = rng.randint(7, 14)  # planned start, days after the board
    n = [0]
    res = [_person(rng, ref, pid, i, age, sex),
           fb.condition(f"{r}-dx", r, icd, "Malignant neoplasm of bronchus and lung",
                        _d(-rng.randint(30, 60)), morphology=rng.choice(["8140/3", "8070/3"]),
                        laterality=side, stage=stage)]
    day = -rng.randint(1, 14)  # labs before the board, < 30 days before the start
    anc_unit = rng.choice(["10*9/L", "10*3/uL"])
    ldh_uln = rng.choice([225, 225, 250])
    res += [
        _obs(pid, n, "clinical_t", _d(day), coded=(None, t)),
        _obs(pid, n, "clinical_n", _d(day), coded=(None, nn)),
        _obs(pid, n, "clinical_m", _d(day), coded=(None, m)),
        _obs(pid, n, "clinical_stage", _d(day), coded=(None, stage)),
        _obs(pid, n, "ecog", _d(day), value=rng.choice([0, 1, 1, 1, 2])),
        _obs(pid, n, "neutrophils", _d(day), value=(anc := round(rng.uniform(2.0, 11.0), 1)),
             unit=anc_unit, ref_low=1.8, ref_high=7.5),
        _obs(pid, n, "lymphocytes", _d(day), value=(lymph := round(rng.uniform(0.5, 2.8), 2)),
             unit="10*9/L", ref_low=1.0, ref_high=4.0),
        _obs(pid, n, "ldh", _d(day), value=rng.randint(150, 480), unit="U/L", ref_low=135,
             ref_high=ldh_uln),
        _obs(pid, n, "crp", _d(day), value=round(rng.uniform(1, 80), 1), unit="mg/L",
             ref_high=5),
        _obs(pid, n, "haemoglobin", _d(day), value=round(rng.uniform(9.5, 15.5), 1),
             unit="g/dL", ref_low=12, ref_high=16)]
    # the white cell count (LIPI's dNLR) follows from the differential drawn above, without a
    # draw of its own (the other demo values stay as they were): neutrophils + lymphocytes +
    # 0.7 x 10^9/L of monocytes, eosinophils and basophils (10*3/uL = 10*9/L)
    res.append(_obs(pid, n, "leukocytes", _d(day), value=round(anc + lymph + 0.7, 1),
                    unit="10*9/L", ref_low=4.0, ref_high=10.0))
    albumin = round(rng.uniform(28, 46), 1)
    res.append(_obs(pid, n, "albumin", _d(day), value=albumin / 10 if i % 3 == 0 else albumin,
                    unit="g/dL" if i % 3 == 0 else "g/L", ref_low=3.5 if i % 3 == 0 else 35,
                    ref_high=5.0 if i % 3 == 0 else 50))
    if i not in (4, 9):
        res.append(_obs(pid, n, "pdl1_tps", _d(day - 10), value=rng.choice(
            [0, 1, 5, 30, 50, 60, 80, 95]), unit="%"))
    dose, fx = rng.choice([(60, 30), (60, 30), (66, 33), (55, 20)])
    res.append(fb.procedure(f"{r}-rt", r, "radiotherapy", "Thoracic radiotherapy", _d(start),
                            end=_d(start + fx * 7 // 5), status="preparation", dose_gy=dose,
                            fractions=fx, body_site=f"{side} {lobe} lobe"))
    agent = "pembrolizumab" if stage4 else "durvalumab"
    res.append(fb.medication(f"{r}-io", r, agent, _d(start + (0 if stage4 else 42)),
                             kind="MedicationRequest", regimen=agent, status="draft",
                             cycles=rng.choice([13, 17, 24]), line=1, dose_intensity=1.0))
    tumour = {"diameter_mm": rng.randint(18, 65), "lobe": lobe, "side": side, "t": t,
              "n": nn, "m": m, "seed": rng.randint(0, 2**31 - 1)}
    return DemoPatient(pid, "lung", res, tumour=tumour, planned_start=_d(start),
                       study_date=_d(day))


_CHEMO_CASES = [  # (ICD-10, label, regimen, agents, cycles)
    ("C18.7", "Malignant neoplasm of sigmoid colon", "FOLFOX", ["oxaliplatin", "fluorouracil",
                                                               "leucovorin"], 12),
    ("C16.0", "Malignant neoplasm of cardia", "FLOT", ["docetaxel", "oxaliplatin",
                                                      "fluorouracil", "leucovorin"], 8),
    ("C67.9", "Malignant neoplasm of bladder", "gemcitabine-cisplatin",
     ["gemcitabine", "cisplatin"], 4),
    ("C50.9", "Malignant neoplasm of breast", "weekly paclitaxel", ["paclitaxel"], 12),
    ("C34.1", "Malignant neoplasm of upper lobe, bronchus or lung", "carboplatin-pemetrexed",
     ["carboplatin", "pemetrexed"], 4),
    ("C56", "Malignant neoplasm of ovary", "carboplatin-paclitaxel",
     ["carboplatin", "paclitaxel"], 6),
    ("C20", "Malignant neoplasm of rectum", "capecitabine", ["capecitabine"], 8),
    ("C18.2", "Malignant neoplasm of ascending colon", "CAPOX", ["oxaliplatin",
                                                                "capecitabine"], 8),
    ("C16.3", "Malignant neoplasm of pyloric antrum", "FOLFIRI", ["irinotecan",
                                                                 "fluorouracil",
                                                                 "leucovorin"], 12),
    ("C34.3", "Malignant neoplasm of lower lobe, bronchus or lung", "carboplatin-etoposide",
     ["carboplatin", "etoposide"], 4),
]


def chemo_patient(rng: random.Random, i: int, ref: dt.date = REFERENCE_DATE) -> DemoPatient:
    """Return patient number `i` aged 65+ starting chemotherapy."""
    pid, r = f"DEMO-CH-{i:03d}", f"demo-ch-{i:03d}"
    _d = _day(ref)
    icd, label, regimen, agents, cycles = _CHEMO_CASES[i - 1]
    sex = "female" if icd[:3] in ("C50", "C56") else rng.choice(["male", "female"])
    age = rng.randint(65, 88)
    start = -rng.randint(20, 40)
    n = [0]
    res = [_person(rng, ref, pid, i, age, sex),
           fb.condition(f"{r}-dx", r, icd, label, _d(start - rng.randint(20, 60)),
                        stage=rng.choice(["II", "III", "IV"]))]
    day = _d(start - rng.randint(1, 7))
    creat_mgdl = round(rng.uniform(0.6, 1.9), 2)
    in_umol = i % 2 == 0
    height = rng.randint(150, 165) if sex == "female" else rng.randint(162, 182)
    res += [
        _obs(pid, n, "haemoglobin", day, value=round(rng.uniform(8.8, 14.5), 1), unit="g/dL",
             ref_low=12, ref_high=16),
        _obs(pid, n, "creatinine", day, value=round(creat_mgdl * 88.42) if in_umol
             else creat_mgdl, unit="umol/L" if in_umol else "mg/dL",
             ref_low=53 if in_umol else 0.6, ref_high=106 if in_umol else 1.2),
        _obs(pid, n, "weight", day, value=round(rng.uniform(48, 92), 1), unit="kg"),
        _obs(pid, n, "height", day, value=height, unit="cm"),
        _obs(pid, n, "ecog", day, value=rng.choice([0, 1, 1, 2])),
        _obs(pid, n, "hearing", day, coded=(codes.LOCAL, rng.choice(
            ["excellent", "good", "good", "fair", "poor"]))),
        _obs(pid, n, "falls_6m", day, value=rng.choice([0, 0, 0, 1, 2]), unit="1"),
        _obs(pid, n, "walk_limited", day, boolean=rng.random() < 0.35),
        _obs(pid, n, "needs_medication_help", day, boolean=rng.random() < 0.25),
        _obs(pid, n, "social_decreased", day, boolean=rng.random() < 0.4)]
    intensity = rng.choice([1.0, 1.0, 1.0, 0.8, 0.75])
    for agent in agents:
        res.append(fb.medication(f"{r}-{agent[:5]}", r, agent, _d(start),
                                 kind="MedicationAdministration" if i % 3 == 0 else
                                 "MedicationStatement", regimen=regimen, group=f"{r}-reg",
                                 cycles=cycles, dose_intensity=intensity, line=1,
                                 status="in-progress" if i % 3 == 0 else "active"))
    notes, hospital = chemo_notes(rng, i, start, intensity < 1.0, regimen)
    for k, (note_type, days, lang, role, text) in enumerate(notes):
        res.append(fb.document(f"{r}-note-{k + 1}", r, note_type, _d(days), text, lang, role))
    if hospital is not None:
        days, length, reason = hospital
        res.append(fb.encounter(f"{r}-hosp", r, _d(days), _d(days + length), reason))
    return DemoPatient(pid, "chemo", res, planned_start=_d(start))


def generate(seed: int = SEED, date: dt.date | str | None = None) -> DemoCohort:
    """Return the demo cohort (13 breast, 10 lung, 10 chemotherapy patients).

    Parameters
    ----------
    seed
        Another seed gives another (still deterministic) cohort.
    date
        Reference date (the demo board's day; ISO string or date); every date of the cohort is
        relative to it. Default :data:`REFERENCE_DATE`. The same seed gives the same patients
        and values on any date.
    """
    ref = REFERENCE_DATE if date is None else dt.date.fromisoformat(str(date)[:10])
    rng = random.Random(seed)
    patients = [breast_patient(rng, i, ref, seed) for i in range(1, 13)]
    patients += [lung_patient(rng, i, ref) for i in range(1, 11)]
    patients += [chemo_patient(rng, i, ref) for i in range(1, 11)]
    patients.insert(12, followup_breast_patient(ref, seed))
    return DemoCohort(seed, ref.isoformat(), patients)
