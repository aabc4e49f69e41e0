"""Synthetic chemotherapy-cycle notes (French and English) with a known hospitalisation risk.

SYNTHETIC - DEMONSTRATION ONLY. No package ships real clinical notes, so each "cycle" is drawn
from a known generative model:

1. structured items: age, ECOG, haemoglobin, number of agents, relative dose intensity;
2. latent clinical states, more frequent with poor ECOG and polychemotherapy: fever (with a
   temperature), neutropenia (with a neutrophil count), diarrhoea, vomiting, mucositis, fatigue,
   weight loss, dyspnoea, poor oral intake;
3. the probability of an unplanned hospitalisation within 30 days after the cycle, a logistic
   function of the structured items and the latent states (:data:`TRUTH`); the label is drawn
   from it, so the Bayes-optimal AUC is known;
4. the note: each present state is mentioned (usually) with one of several phrasings, absent
   states are sometimes explicitly negated ("pas de fièvre", "no fever", "apyrétique"), plus
   neutral sentences, some of which name signs without reporting them (warning-sign education,
   "en cas de fièvre", "risk of febrile neutropenia discussed"); abbreviations (NFS, PNN, T°,
   AEG, CBC, ANC, N/V, SOB) and typos (swapped, dropped or unaccented letters) are sprinkled in.

Every phrasing template has an id; :func:`split_templates` holds some out so that a test set can
be written only with phrasings the model never saw.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

STATES = ["fever", "neutropenia", "diarrhoea", "vomiting", "mucositis", "fatigue",
          "weight_loss", "dyspnoea", "poor_intake"]
TRUTH = {
    "intercept": -2.6, "age_per_10y": 0.18, "ecog": 0.35, "hb_below_10": 0.5,
    "hb_per_g": -0.12, "n_agents": 0.25, "dose_intensity": 0.8,
    "fever": 1.5, "neutropenia": 1.2, "diarrhoea": 0.9, "vomiting": 0.8, "mucositis": 0.5,
    "fatigue": 0.3, "weight_loss": 0.6, "dyspnoea": 0.7, "poor_intake": 0.6,
}
BASE_RATE = {"fever": 0.12, "neutropenia": 0.14, "diarrhoea": 0.18, "vomiting": 0.16,
             "mucositis": 0.12, "fatigue": 0.40, "weight_loss": 0.15, "dyspnoea": 0.12,
             "poor_intake": 0.15}

# (state, polarity) -> language -> templates; {t} temperature, {n} neutrophils (G/L).
POS, NEG = "present", "absent"
T: dict[tuple[str, str], dict[str, list[str]]] = {
    ("fever", POS): {
        "fr": ["Fièvre à {t}°C depuis hier.", "T° {t} ce matin.", "Patient fébrile à {t}.",
               "Pic fébrile à {t}°C avec frissons.", "Hyperthermie à {t} signalée par l'IDE.",
               "Episode de fièvre {t} la nuit dernière."],
        "en": ["Fever of {t} C since yesterday.", "Temp {t} this morning.",
               "Febrile at {t} with rigors.", "Spiked a fever to {t} overnight.",
               "Reports fevers up to {t} at home.", "T {t}, feels hot and shivery."]},
    ("fever", NEG): {
        "fr": ["Pas de fièvre.", "Apyrétique.", "Afébrile.", "Pas de fièvre ni frissons.",
               "Absence de fièvre rapportée.", "Fièvre : non."],
        "en": ["No fever.", "Afebrile.", "Denies fever or chills.", "Temp {t}, no fever.",
               "Without fever since last cycle.", "Fever: none."]},
    ("neutropenia", POS): {
        "fr": ["NFS : PNN à {n} G/L.", "Neutropénie à {n} G/L.", "PNN {n}, neutropénie.",
               "Neutropénie profonde (PNN {n}).", "Bilan : PNN effondrés à {n}.",
               "Aplasie avec PNN à {n} G/L."],
        "en": ["CBC: ANC {n}.", "Neutropenic, ANC {n}.", "ANC {n} on labs today.",
               "Neutropenia with ANC of {n}.", "Labs show neutropenia (ANC {n}).",
               "Absolute neutrophils {n}, neutropenic."]},
    ("neutropenia", NEG): {
        "fr": ["NFS correcte, pas de neutropénie.", "PNN normaux.", "Sans neutropénie.",
               "NFS sans particularité.", "Pas de neutropénie au bilan.",
               "Bilan biologique normal."],
        "en": ["CBC unremarkable.", "ANC normal.", "No neutropenia.",
               "Counts within normal limits.", "Labs without neutropenia.", "Normal CBC."]},
    ("diarrhoea", POS): {
        "fr": ["Diarrhée depuis 3 jours.", "Selles liquides, 6 par jour.",
               "Diarrhées importantes.", "Diarrhée grade 2.", "Se plaint de diarrhée.",
               "Transit accéléré avec diarrhées."],
        "en": ["Diarrhea for 3 days.", "Loose stools, 6 per day.", "Significant diarrhoea.",
               "Grade 2 diarrhea.", "Complains of diarrhea.", "Frequent watery stools."]},
    ("diarrhoea", NEG): {
        "fr": ["Pas de diarrhée.", "Transit normal.", "Sans diarrhée.", "Absence de diarrhée.",
               "Transit conservé.", "Ni diarrhée ni constipation."],
        "en": ["No diarrhea.", "Bowels normal.", "Denies diarrhea.", "Without diarrhoea.",
               "Normal bowel movements.", "No diarrhoea or constipation."]},
    ("vomiting", POS): {
        "fr": ["Vomissements répétés.", "Nausées et vomissements.", "Vomit depuis hier.",
               "Vomissements malgré les antiémétiques.", "N/V importants.",
               "Nausées persistantes avec vomissements."],
        "en": ["Repeated vomiting.", "Nausea and vomiting.", "Vomiting since yesterday.",
               "N/V despite antiemetics.", "Persistent emesis.", "Vomited several times."]},
    ("vomiting", NEG): {
        "fr": ["Pas de vomissement.", "Pas de nausées.", "Sans nausées ni vomissements.",
               "Absence de vomissements.", "Aucun vomissement.", "Nausées : non."],
        "en": ["No vomiting.", "No nausea.", "Denies nausea or vomiting.", "Without emesis.",
               "No N/V.", "Nausea: none."]},
    ("mucositis", POS): {
        "fr": ["Mucite buccale.", "Mucite grade 2.", "Aphtes douloureux.",
               "Bouche douloureuse, mucite.",
               "Stomatite gênant l'alimentation.", "Mucite importante."],
        "en": ["Oral mucositis.", "Grade 2 mucositis.", "Painful mouth sores.",
               "Sore mouth with mucositis.", "Stomatitis limiting eating.", "Severe mucositis."]},
    ("mucositis", NEG): {
        "fr": ["Pas de mucite.", "Muqueuses saines.", "Sans mucite."],
        "en": ["No mucositis.", "Oral mucosa intact.", "Without mouth sores."]},
    ("fatigue", POS): {
        "fr": ["Asthénie marquée.", "AEG avec asthénie.", "Fatigue importante.",
               "Très fatiguée.", "Asthénie grade 2.", "Altération de l'état général."],
        "en": ["Marked fatigue.", "Very tired.", "Significant fatigue.", "Feels exhausted.",
               "Grade 2 fatigue.", "Fatigue and malaise."]},
    ("fatigue", NEG): {
        "fr": ["Pas d'asthénie.", "Bon état général.", "Sans fatigue particulière."],
        "en": ["No fatigue.", "Good energy.", "Denies fatigue."]},
    ("weight_loss", POS): {
        "fr": ["Perte de poids de 4 kg.", "Amaigrissement récent.", "Perd du poids.",
               "Poids en baisse de 5 %.", "Dénutrition.", "Amaigrissement de 3 kg."],
        "en": ["Lost 4 kg.", "Recent weight loss.", "Losing weight.", "Weight down 5 %.",
               "Malnourished.", "3 kg weight loss."]},
    ("weight_loss", NEG): {
        "fr": ["Poids stable.", "Pas de perte de poids.", "Sans amaigrissement."],
        "en": ["Weight stable.", "No weight loss.", "Without weight loss."]},
    ("dyspnoea", POS): {
        "fr": ["Dyspnée d'effort.", "Essoufflement.", "Dyspnée au moindre effort.",
               "Gêne respiratoire.", "Dyspnée de repos.", "Polypnée."],
        "en": ["Short of breath.", "SOB on exertion.", "Dyspnea at rest.",
               "Breathless walking upstairs.", "Dyspnoea.", "Increased work of breathing."]},
    ("dyspnoea", NEG): {
        "fr": ["Pas de dyspnée.", "Eupnéique.", "Sans dyspnée."],
        "en": ["No dyspnea.", "Breathing comfortably.", "Denies SOB."]},
    ("poor_intake", POS): {
        "fr": ["Anorexie.", "Ne mange plus.", "Apports alimentaires réduits.",
               "Boit peu.", "Perte d'appétit.", "Anorexie et déshydratation."],
        "en": ["Poor oral intake.", "Not eating.", "Reduced appetite.", "Drinking little.",
               "Anorexia.", "Poor intake and dehydrated."]},
    ("poor_intake", NEG): {
        "fr": ["Appétit conservé.", "Bon appétit.", "S'alimente bien."],
        "en": ["Eating well.", "Appetite good.", "Good oral intake."]},
}
NEUTRAL = {
    "fr": ["Patient vu en consultation avant le cycle {c}.", "Patiente vue en HDJ pour C{c}.",
           "Vit avec son épouse.", "Examen clinique sans particularité par ailleurs.",
           "Poursuite du protocole prévu.", "Rendez-vous dans 3 semaines.",
           "Traitement habituel poursuivi.", "PS {e}.", "Pas d'autre plainte.",
           "Accord pour le cycle {c}."],
    "en": ["Seen in clinic before cycle {c}.", "Day-unit visit for C{c}.",
           "Lives with her husband.", "Exam otherwise unremarkable.",
           "Continue planned regimen.", "Follow-up in 3 weeks.", "Usual medications continued.",
           "PS {e}.", "No other complaints.", "OK to proceed with cycle {c}."],
}


# Hypothetical or educational mentions of signs: words of toxicity that are not findings.
HYPOTHETICAL = {
    "fr": ["Information sur les signes d'alerte (fièvre > 38 °C, diarrhée, mucite) remise.",
           "Consulter en urgence en cas de fièvre ou de diarrhée.",
           "Surveillance de la température et de la NFS à domicile.",
           "Risque de neutropénie fébrile expliqué au patient.",
           "Prescription d'antiémétiques en prévention des vomissements."],
    "en": ["Warning signs (fever > 38 C, diarrhoea, mouth sores) explained.",
           "Advised to call if fever or diarrhea.",
           "Temperature and CBC to be checked at home.",
           "Risk of febrile neutropenia discussed with the patient.",
           "Antiemetics prescribed to prevent vomiting."],
}


@dataclass
class Corpus:
    """Cycles in columns plus their notes."""

    columns: dict[str, np.ndarray]
    notes: list[str]


def split_templates(seed: int, held_out_fraction: float = 0.34
                    ) -> dict[tuple[str, str, str], tuple[list[int], list[int]]]:
    """Return (state, polarity, language) -> (training template ids, held-out template ids)."""
    rng = np.random.default_rng([seed, 9])
    out = {}
    for (state, pol), by_lang in T.items():
        for lang, templates in by_lang.items():
            ids = rng.permutation(len(templates)).tolist()
            k = max(1, int(round(len(templates) * held_out_fraction)))
            out[(state, pol, lang)] = (sorted(ids[k:]), sorted(ids[:k]))
    return out


def true_logit(c: dict[str, np.ndarray]) -> np.ndarray:
    """Return the generative log-odds of hospitalisation within 30 days."""
    t = TRUTH
    lp = (t["intercept"] + t["age_per_10y"] * (c["age"] - 65) / 10 + t["ecog"] * c["ecog"]
          + t["hb_below_10"] * (c["haemoglobin"] < 10) + t["hb_per_g"] * (c["haemoglobin"] - 12)
          + t["n_agents"] * (c["n_agents"] - 1) + t["dose_intensity"] * (c["dose_intensity"] - 0.8))
    for s in STATES:
        lp = lp + t[s] * c[s]
    return np.asarray(lp)


def sample(n: int, seed: int, templates: str, split: dict) -> Corpus:
    """Draw `n` cycles; notes use the 'train' or 'held_out' templates of `split`."""
    rng = np.random.default_rng([seed, 3])
    c: dict[str, np.ndarray] = {}
    c["age"] = np.round(rng.uniform(28, 88, n))
    c["ecog"] = rng.choice([0, 1, 2, 3], n, p=[0.35, 0.42, 0.18, 0.05]).astype(float)
    c["haemoglobin"] = np.round(rng.normal(11.8, 1.6, n), 1).clip(6.5, 17)
    c["n_agents"] = rng.choice([1, 2, 3], n, p=[0.35, 0.45, 0.20]).astype(float)
    c["dose_intensity"] = np.where(rng.random(n) < 0.7, 1.0, np.round(rng.uniform(0.6, 0.9, n), 2))
    frail = 0.45 * c["ecog"] + 0.3 * (c["n_agents"] - 1)
    for s in STATES:
        logit0 = np.log(BASE_RATE[s] / (1 - BASE_RATE[s]))
        c[s] = (rng.random(n) < 1 / (1 + np.exp(-(logit0 + frail - 0.6)))).astype(float)
    c["true_p"] = 1 / (1 + np.exp(-true_logit(c)))
    c["hospitalised"] = (rng.random(n) < c["true_p"]).astype(float)
    c["lang_fr"] = (rng.random(n) < 0.5).astype(float)
    which = 0 if templates == "train" else 1
    mentioned = {s: np.zeros(n) for s in STATES}
    notes = [_note(rng, {k: v[i] for k, v in c.items()}, split, which, mentioned, i)
             for i in range(n)]
    for s in STATES:    # +1 reported present, -1 reported absent, 0 not mentioned
        c[f"mention_{s}"] = mentioned[s]
    return Corpus(c, notes)


def _note(rng: np.random.Generator, row: dict[str, float], split: dict, which: int,
          mentioned: dict[str, np.ndarray], i: int) -> str:
    lang = "fr" if row["lang_fr"] else "en"
    sentences = [rng.choice(NEUTRAL[lang][:2])]
    for s in rng.permutation(STATES):
        present = bool(row[s])
        if present and rng.random() < 0.88:
            pol = POS
        elif not present and rng.random() < 0.45:
            pol = NEG
        else:
            continue
        ids = split[(s, pol, lang)][which]
        text = T[(s, pol)][lang][int(rng.choice(ids))]
        sentences.append(text)
        mentioned[s][i] = 1.0 if pol == POS else -1.0
    for _ in range(int(rng.integers(1, 4))):
        sentences.append(rng.choice(NEUTRAL[lang][2:]))
    if rng.random() < 0.3:
        sentences.append(rng.choice(HYPOTHETICAL[lang]))
    order = [sentences[0], *rng.permutation(sentences[1:]).tolist()]
    temp = rng.uniform(38.1, 40.2) if row["fever"] else rng.uniform(36.2, 37.4)
    anc = rng.uniform(0.1, 0.9) if row["neutropenia"] else rng.uniform(2.0, 6.0)
    t_txt, n_txt = f"{temp:.1f}", f"{anc:.1f}"
    if lang == "fr" and rng.random() < 0.5:   # French decimal comma, as often written
        t_txt, n_txt = t_txt.replace(".", ","), n_txt.replace(".", ",")
    note = " ".join(order).format(t=t_txt, n=n_txt, c=int(rng.integers(2, 7)),
                                  e=int(row["ecog"]))
    return _typos(rng, note)


def _typos(rng: np.random.Generator, text: str, rate: float = 0.03) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) < 5 or rng.random() > rate:
            continue
        kind = rng.integers(3)
        if kind == 0:
            k = int(rng.integers(1, len(w) - 2))
            w = w[:k] + w[k + 1] + w[k] + w[k + 2:]
        elif kind == 1:
            k = int(rng.integers(1, len(w) - 1))
            w = w[:k] + w[k + 1:]
        else:
            w = "".join(ch for ch in unicodedata.normalize("NFD", w)
                        if unicodedata.category(ch) != "Mn")
        words[i] = w
    return " ".join(words)
