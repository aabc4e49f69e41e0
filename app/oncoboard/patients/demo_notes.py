"""Synthetic clinical notes (French and English) for the demo patients starting chemotherapy.

The notes mention or negate toxicity signs in varied phrasing, with the abbreviations
clinicians use (NF, AEG, T°, CTCAE grades, "RAS"), so the text search and the toxicity plugin
have something real to work on. All text is invented.
"""

from __future__ import annotations

import random

Note = tuple[str, int, str, str, str]   # (type, day offset, language, author role, text)

_FR_CONSULT = [
    "Consultation d'oncologie avant C1 de {reg}. Patient(e) de {age_hint}, PS {ps}. {dose} "
    "Pas de fièvre. Pas de diarrhée. Information sur les signes d'alerte (T° > 38 °C, "
    "diarrhée, mucite) remise.",
    "Cs onco pré-C1 {reg}. État général conservé, PS {ps}. {dose} Apyrétique, transit normal. "
    "Bilan biologique vérifié. Accord pour traitement.",
    "Consultation : début de {reg} ce jour. {dose} Pas de neuropathie, pas de nausées à "
    "l'interrogatoire. Poids stable.",
]
_EN_CONSULT = [
    "Oncology clinic before cycle 1 of {reg}. Performance status {ps}. {dose} No fever, no "
    "diarrhoea. Warning signs (temperature > 38 C, diarrhoea, mouth sores) explained.",
    "Pre-C1 review, {reg}. Patient well, PS {ps}. {dose} Afebrile, bowels normal. Bloods "
    "checked; OK to treat.",
    "Clinic letter: starting {reg} today. {dose} Denies nausea or vomiting. No neuropathy.",
]
_FR_FOLLOW = [
    "Appel téléphonique J{d} de C1 : asthénie grade {g}, nausées contrôlées. Pas de fièvre.",
    "Appel infirmier J{d} : diarrhée grade {g} depuis 48 h, pas de fièvre. Lopéramide "
    "débuté. Mucite grade 1.",
    "Tél J{d} : AEG, asthénie grade {g}. T° 38,4 °C ce matin, frissons. Suspicion de "
    "neutropénie fébrile : adressé(e) aux urgences.",
    "Suivi infirmier J{d} : RAS, pas de diarrhée, pas de mucite. Bonne tolérance.",
    "Appel J{d} : mucite grade {g} gênant l'alimentation, pas de fièvre. Bains de bouche.",
]
_EN_FOLLOW = [
    "Phone call day {d} of C1: fatigue grade {g}, nausea controlled with ondansetron. No "
    "fever.",
    "Nurse call day {d}: grade {g} diarrhoea for 2 days, afebrile. Loperamide started.",
    "Telephone triage day {d}: temperature 38.6 C and rigors, feels unwell. Sent to the "
    "emergency department (suspected febrile neutropenia).",
    "Nursing follow-up day {d}: no complaints, no diarrhoea, no mouth ulcers. Tolerating "
    "well.",
    "Phone call day {d}: oral mucositis grade {g}, eating soft food. No fever.",
]
_FR_HOSP = ["Neutropénie fébrile après C1 (NF grade 3)", "Diarrhée grade 3 avec déshydratation",
            "Mucite grade 3 et dénutrition"]
_EN_HOSP = ["Febrile neutropenia after cycle 1", "Grade 3 diarrhoea with dehydration",
            "Grade 3 mucositis with poor oral intake"]


def chemo_notes(rng: random.Random, i: int, start: int, reduced: bool,
                regimen: str) -> tuple[list[Note], tuple[int, int, str] | None]:
    """Return the notes of chemotherapy patient `i` and an optional hospitalisation.

    Parameters
    ----------
    start
        Day offset (from the demo reference date) of cycle 1.
    reduced
        Whether the regimen starts at a reduced dose (mentioned in the consultation note).
    regimen
        The regimen's name, as the notes mention it.

    Returns
    -------
    notes, hospitalisation
        Notes as (type, day offset, language, author role, text); hospitalisation as
        (day offset, length in days, reason) or None.
    """
    french = i % 3 != 0
    lang = "fr" if french else "en"
    consult, follow = (_FR_CONSULT, _FR_FOLLOW) if french else (_EN_CONSULT, _EN_FOLLOW)
    dose = ("Dose réduite d'emblée (80 %) compte tenu de l'âge." if french else
            "Starting at a reduced dose (80%) given age and comorbidities.") if reduced else \
        ("Pleine dose." if french else "Full dose.")
    notes: list[Note] = [("consultation", start, lang, "oncologist", rng.choice(consult).format(
        reg=regimen, ps=rng.choice([0, 1, 2]),
        age_hint="plus de 65 ans", dose=dose))]
    picks = rng.sample(range(len(follow)), k=rng.randint(1, 3))
    days = sorted(rng.sample(range(3, 15), k=len(picks)))
    for pick, d in zip(picks, days, strict=True):
        kind = rng.choice(["phone", "nursing"])
        role = "nurse" if kind == "nursing" or rng.random() < 0.6 else "oncologist"
        notes.append((kind, start + d, lang, role,
                      follow[pick].format(d=d, g=rng.choice([1, 2, 2, 3]))))
    if i == 5:  # one bilingual record: an English letter from another hospital
        notes.append(("discharge", start + 16, "en", "physician",
                      "Discharge summary: admitted with febrile neutropenia (FN), treated with "
                      "IV antibiotics, recovered. No diarrhoea."))
    hospital = None
    if i in (2, 5, 8):
        reasons = _FR_HOSP if french else _EN_HOSP
        reason = reasons[0] if i == 5 else rng.choice(reasons)  # 5's letter says FN
        hospital = (start + rng.randint(8, 14), rng.randint(2, 6), reason)
    return notes, hospital


_FR_ADJUVANT = [
    "Consultation d'oncologie après chirurgie du sein. Chimiothérapie adjuvante par {reg} "
    "proposée (4 cures). PS {ps}. Pas de fièvre, cicatrice propre. Information sur les signes "
    "d'alerte (T° > 38 °C, mucite, diarrhée) remise. Pose de PAC programmée.",
    "Cs onco : discussion de la chimiothérapie adjuvante ({reg}). État général conservé, PS "
    "{ps}. Apyrétique, pas de nausées. Bilan pré-thérapeutique vérifié, accord pour traitement.",
]
_EN_ADJUVANT = [
    "Oncology clinic after breast surgery. Adjuvant {reg} chemotherapy planned (4 cycles). "
    "Performance status {ps}. No fever, wound healed. Warning signs (temperature > 38 C, mouth "
    "sores, diarrhoea) explained. Port insertion booked.",
    "Clinic letter: adjuvant {reg} discussed and agreed. Patient well, PS {ps}. Afebrile, no "
    "nausea. Pre-treatment bloods checked; OK to treat.",
]


def prechemo_note(rng: random.Random, lang: str, regimen: str, ps: int) -> str:
    """Return the consultation note before adjuvant chemotherapy after breast surgery."""
    templates = _FR_ADJUVANT if lang == "fr" else _EN_ADJUVANT
    return rng.choice(templates).format(reg=regimen, ps=ps)
