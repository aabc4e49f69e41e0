"""Record access for the inputs: a patient's record as of a date, and named derivations.

:class:`RecordView` is how input assembly reads the record (the patient's observations,
conditions and treatments as they stood on the reference date, each query made once per patient
and shared by every plugin); :data:`DERIVATIONS` are the values computed from several of its
items. (The module was ``derived.py``: it holds the access the derivations are built on, not only
derivations.)

A manifest input with ``source = {type = "derived", derivation = "nlr"}`` gets its value from
:data:`DERIVATIONS`. Each derivation takes a :class:`RecordView` (patient, reference date, look-back
window) and returns a :class:`Derived` (value, unit, and the record items it used, for the input
snapshot) or None when an ingredient is missing. Nothing is guessed: a missing ingredient makes the
whole value missing, and the input's missing-value policy applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoboard.patients import codes

if TYPE_CHECKING:
    from oncoboard.store import Store


@dataclass
class Derived:
    """A derived value and where it came from."""

    value: float | str
    unit: str | None = None
    used: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class RecordView:
    """The record of one patient as seen on a reference date (queries cached)."""

    def __init__(self, store: Store, patient_id: str, reference_date: dt.date, *,
                 retrospective: bool = False, record: Any = None):
        """Open the view; `record` replaces :mod:`oncoboard.patients.record` as the source of
        the rows (same functions and results; e.g. rows fetched for many patients at once).

        ``retrospective``: the record is read long after the reference date (local validation):
        a treatment started after it is what happened next, not a plan known on the day, so a
        treatment input does not count it; and a tumour field the import copied onto the
        primary cancer from a dated observation (TNM, grade, receptors, Ki67, markers) takes
        the latest such observation on or before the date (none: the field is missing).
        """
        from oncoboard.patients import record as default_record

        self.store, self.patient_id, self.date = store, patient_id, reference_date
        self.retrospective = retrospective
        self._record = record if record is not None else default_record
        self._cache: dict[Any, Any] = {}

    def _memo(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def patient(self) -> Any:
        """Return the patient (record.Patient)."""
        return self._memo("patient", lambda: self._record.get_patient(self.store,
                                                                      self.patient_id))

    def age(self) -> int | None:
        """Return the age in completed years on the reference date."""
        birth = self.patient.birth_date
        if not birth:
            return None
        b = dt.date.fromisoformat(birth[:10])
        d = self.date
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))

    def primary_cancer(self) -> Any:
        """Return the primary cancer diagnosed on or before the reference date, or None."""
        def find() -> Any:
            found = [c for c in self._record.conditions(self.store, self.patient_id)
                     if c.is_primary_cancer and (c.diagnosis_date or "")[:10]
                     <= self.date.isoformat()]
            if found and self.retrospective:
                return self._tumour_fields_as_of(found[0])
            return found[0] if found else None
        return self._memo("cancer", find)

    def _tumour_fields_as_of(self, cancer: Any) -> Any:
        """Return the cancer with its observation-fed fields as they stood on the date.

        The import copies TNM, grade, receptor, Ki67 and marker observations onto the primary
        cancer (the last one wins, whatever its date) and keeps the observations: a field fed
        by observations of the cancer is re-read from the latest one on or before the date.
        A field with no such observation (given with the condition itself) has no date and is
        kept as recorded.
        """
        import dataclasses

        from oncoboard.patients import importer

        changes: dict[str, Any] = {}
        markers = dict(cancer.markers or {})
        fed: dict[tuple[str, str], list[Any]] = {}  # (system, code) -> observations, oldest first
        for category in ("stage", "tumor-marker"):  # the categories the import copies
            for o in self._record.observations(self.store, self.patient_id, category=category):
                if o.condition_id == cancer.id:
                    fed.setdefault((o.code_system, o.code), []).append(o)
        day = self.date.isoformat()
        for key, every in fed.items():
            c = codes.lookup(*key)
            if c is None or c.category not in ("stage", "tumor-marker"):
                continue
            known = [o for o in every if o.effective and o.effective[:10] <= day]
            last = known[-1] if known else None
            if key in importer._CONDITION_FIELDS:
                changes[importer._CONDITION_FIELDS[key]] = None if last is None else (
                    last.value_text or (None if last.value_num is None
                                        else f"{last.value_num:g}"))
            elif key == importer._KI67:
                changes["ki67_percent"] = None if last is None else last.value_num
            elif last is None:
                markers.pop(c.key, None)
            else:
                markers[c.key] = last.value_num if last.value_num is not None \
                    else last.value_text
        if markers != (cancer.markers or {}):
            changes["markers"] = markers
        return dataclasses.replace(cancer, **changes) if changes else cancer

    def observations(self, system: str, code: str, window_days: int | None) -> list[Any]:
        """Return a code's observations in the window before the reference date, oldest first."""
        def find() -> list[Any]:
            rows: list[Any] = self._record.observations(self.store, self.patient_id, code=code,
                                             system=system, before=self.date.isoformat())
            if window_days is not None:
                floor = (self.date - dt.timedelta(days=window_days)).isoformat()
                rows = [o for o in rows if (o.effective or "")[:10] >= floor]
            return rows
        rows: list[Any] = self._memo(("obs", system, code, window_days), find)
        return rows

    def latest(self, key: str, window_days: int | None) -> Any:
        """Return the latest observation of the code named `key` in the window, or None."""
        c = codes.BY_KEY[key]
        rows = [o for o in self.observations(c.system, c.code, window_days) if o.value is not None]
        return rows[-1] if rows else None

    def treatments(self) -> list[Any]:
        """Return every treatment of the patient."""
        rows: list[Any] = self._memo("treatments", lambda: self._record.treatments(
            self.store, self.patient_id))
        return rows

    def notes(self) -> list[Any]:
        """Return every note of the patient."""
        rows: list[Any] = self._memo("notes", lambda: self._record.notes(self.store,
                                                                         self.patient_id))
        return rows


def used(obs: Any) -> dict[str, Any]:
    """Return the snapshot entry of an observation used for a value."""
    return {"observation_id": obs.id, "code": obs.code, "effective": obs.effective,
            "value": obs.value, "unit": obs.unit}


def _nlr(rv: RecordView, window: int) -> Derived | None:
    n, ly = rv.latest("neutrophils", window), rv.latest("lymphocytes", window)
    if n is None or ly is None or not ly.value_num:
        return None
    return Derived(n.value_num / ly.value_num, "1", [used(n), used(ly)])


def _ldh_uln(rv: RecordView, window: int) -> Derived | None:
    ldh = rv.latest("ldh", window)
    if ldh is None or ldh.value_num is None:
        return None
    notes = []
    uln = ldh.reference_high
    if not uln:
        uln = codes.BY_KEY["ldh"].normal_high
        notes.append(f"LDH upper limit of normal not in the record: {uln:g} U/L from the code "
                     f"table")
    return Derived(ldh.value_num / float(uln), "1", [used(ldh)], notes)


def _dnlr(rv: RecordView, window: int) -> Derived | None:
    """Derived NLR (LIPI): neutrophils / (white cells - neutrophils), same canonical unit."""
    n, w = rv.latest("neutrophils", window), rv.latest("leukocytes", window)
    if n is None or w is None or n.value_num is None or w.value_num is None:
        return None
    src, notes = [used(n), used(w)], []
    if (n.effective or "")[:10] != (w.effective or "")[:10]:
        notes.append(f"neutrophils ({(n.effective or '?')[:10]}) and white cells "
                     f"({(w.effective or '?')[:10]}) are from different days")
    other = w.value_num - n.value_num
    if other <= 0:  # a refusal (not a finite number), with the reason as a warning
        return Derived(float("nan"), "1", src, [*notes, f"white cells {w.value_num:g} not above "
                                                     f"neutrophils {n.value_num:g}: dNLR "
                                                     f"undefined"])
    return Derived(n.value_num / other, "1", src, notes)


def _ldh_uln_lab(rv: RecordView, window: int) -> Derived | None:
    """LDH / the upper limit of normal stored with that very observation (no fallback)."""
    ldh = rv.latest("ldh", window)
    if ldh is None or ldh.value_num is None:
        return None
    src = [{**used(ldh), "reference_high": ldh.reference_high}]
    if not ldh.reference_high:
        return Derived(float("nan"), "1", src, [
            "LDH has no upper limit of normal stored with it (the lab's reference range): the "
            "score compares LDH with the reporting lab's own limit and uses no default"])
    return Derived(ldh.value_num / float(ldh.reference_high), "1", src)


def _age_at_diagnosis(rv: RecordView, window: int) -> Derived | None:
    """Age in whole years on the diagnosis date of the primary cancer."""
    from oncoboard.dates import age_at

    cancer = rv.primary_cancer()
    if cancer is None or not cancer.diagnosis_date:
        return None
    age = age_at(rv.patient.birth_date, cancer.diagnosis_date)
    if age is None:
        return None
    return Derived(float(age), "a", [{"condition_id": cancer.id,
                                      "diagnosis_date": cancer.diagnosis_date[:10]}])


def _crcl_jelliffe(rv: RecordView, window: int) -> Derived | None:
    scr, age, sex = rv.latest("creatinine", window), rv.age(), rv.patient.sex
    if scr is None or not scr.value_num or age is None or sex not in ("female", "male"):
        return None
    crcl = (98 - 0.8 * (age - 20)) / scr.value_num  # mg/dL, per 1.73 m2 (Jelliffe 1973)
    if sex == "female":
        crcl *= 0.9
    return Derived(crcl, "mL/min", [used(scr), {"age": age, "sex": sex}])


def _bmi(rv: RecordView, window: int) -> Derived | None:
    w, h = rv.latest("weight", window), rv.latest("height", None)
    if w is None or h is None or not h.value_num:
        return None
    return Derived(w.value_num / (h.value_num / 100) ** 2, "kg/m2", [used(w), used(h)])


def current_systemic(rv: RecordView, window: int) -> Any:
    """Return the systemic treatment current on the reference date (or the next planned one).

    Chemotherapy comes first: the regimen's agents and dose intensity are what the toxicity
    scores mean, even when endocrine or targeted therapy started or is planned alongside.
    """
    day = rv.date.isoformat()
    floor = (rv.date - dt.timedelta(days=window)).isoformat()
    systemic = [t for t in rv.treatments() if t.kind == "systemic" and t.start_date]
    chemo = [t for t in systemic if (t.subkind or "").lower() == "chemotherapy"]
    for pool in (chemo, systemic):
        ongoing = [t for t in pool if floor <= t.start_date[:10] <= day
                   and (not t.end_date or t.end_date[:10] >= floor)]
        planned = [t for t in pool if t.start_date[:10] > day]
        if ongoing:
            return ongoing[-1]
        if planned:
            return planned[0]
    return None


def _dose_intensity(rv: RecordView, window: int) -> Derived | None:
    t = current_systemic(rv, window)
    if t is None or t.dose_intensity is None:
        return None
    return Derived(float(t.dose_intensity), "1", [{"treatment_id": t.id,
                                                  "dose_intensity": t.dose_intensity}])


def _n_agents(rv: RecordView, window: int) -> Derived | None:
    t = current_systemic(rv, window)
    if t is None or not t.agents:
        return None
    return Derived(float(len(t.agents)), "1", [{"treatment_id": t.id, "agents": t.agents}])


SITE_GROUPS = {
    "gi": ("C15", "C16", "C17", "C18", "C19", "C20", "C21", "C22", "C23", "C24", "C25"),
    "gu": ("C60", "C61", "C62", "C63", "C64", "C65", "C66", "C67", "C68"),
    "lung": ("C33", "C34"),
    "breast": ("C50",),
    "gyn": ("C51", "C52", "C53", "C54", "C55", "C56", "C57", "C58"),
}


def _site_group(rv: RecordView, window: int) -> Derived | None:
    cancer = rv.primary_cancer()
    if cancer is None or not cancer.code:
        return None
    code = cancer.code.upper()
    group = next((g for g, prefixes in SITE_GROUPS.items() if code.startswith(prefixes)), "other")
    return Derived(group, None, [{"condition_id": cancer.id, "code": cancer.code}])


KI67_CUTOFF_PERCENT = 10.0  # PREDICT v2.1: Ki67 "positive" above 10 % of tumour cells


def _ki67_status(rv: RecordView, window: int) -> Derived | None:
    cancer = rv.primary_cancer()
    if cancer is not None and cancer.ki67_percent is not None:
        pct, src = float(cancer.ki67_percent), {"condition_id": cancer.id}
    else:
        obs = rv.latest("ki67", window)
        if obs is None or obs.value_num is None:
            return None
        pct, src = float(obs.value_num), used(obs)
    status = "positive" if pct > KI67_CUTOFF_PERCENT else "negative"
    return Derived(status, None, [{**src, "ki67_percent": pct}],
                   [f"Ki67 {pct:g} % -> {status} (cut-off {KI67_CUTOFF_PERCENT:g} %)"])


TAXANES = ("paclitaxel", "docetaxel", "cabazitaxel", "nab-paclitaxel")
ANTHRACYCLINES = ("doxorubicin", "epirubicin", "daunorubicin", "adriamycin")


def _chemo_generation(rv: RecordView, window: int) -> Derived | None:
    # Given or planned, as for the engine's treatment predicates (horm, traz, bis).
    chemo = [t for t in rv.treatments() if t.kind == "systemic"
             and (t.subkind or "").lower() == "chemotherapy"]
    if not chemo:
        return Derived("none", None, [{"chemotherapy": "none recorded"}])
    agents = {a.lower() for t in chemo for a in (t.agents or [])}
    names = " ".join(sorted(agents) + [(t.regimen or "").lower() for t in chemo])
    src = [{"treatment_id": t.id, "regimen": t.regimen, "agents": t.agents} for t in chemo]
    if any(x in names for x in TAXANES):
        return Derived("third", None, src)
    if any(x in names for x in ANTHRACYCLINES):
        return Derived("second", None, src)
    return None  # a chemotherapy of another generation: the input's missing policy decides


DerivationFn = Callable[[RecordView, int], Derived | None]

#: name -> (function, description)
DERIVATIONS: dict[str, tuple[DerivationFn, str]] = {
    "nlr": (_nlr, "Neutrophil-to-lymphocyte ratio (latest counts in the window)."),
    "ldh_uln_ratio": (_ldh_uln, "LDH divided by its upper limit of normal (the lab's reference "
                                "high, else the code table's)."),
    "dnlr": (_dnlr, "Derived neutrophil-to-lymphocyte ratio (LIPI): neutrophils / (white cells - "
                    "neutrophils), latest counts in the window; refused when white cells do not "
                    "exceed neutrophils."),
    "ldh_uln_ratio_lab": (_ldh_uln_lab, "LDH divided by the upper limit of normal stored with "
                                        "that observation (the reporting lab's); refused when "
                                        "none is stored (no default)."),
    "age_at_diagnosis": (_age_at_diagnosis, "Age in whole years on the diagnosis date of the "
                                            "primary cancer."),
    "crcl_jelliffe": (_crcl_jelliffe, "Creatinine clearance, Jelliffe formula (mL/min/1.73 m2, "
                                      "x0.9 for women)."),
    "bmi": (_bmi, "Body-mass index, kg/m2 (weight in the window, latest height)."),
    "n_agents": (_n_agents, "Number of agents in the current or next planned systemic "
                            "regimen."),
    "dose_intensity": (_dose_intensity, "Relative dose intensity (1 = standard dose) of the "
                                        "current or next planned systemic regimen."),
    "ki67_status": (_ki67_status, "Ki67 positive (> 10 % of tumour cells, PREDICT's cut-off) or "
                                  "negative, from the cancer's Ki67 index or the latest Ki67."),
    "chemo_generation": (_chemo_generation, "Chemotherapy generation as in PREDICT: third if a "
                                            "taxane was given, second if an anthracycline "
                                            "without a taxane, none if no chemotherapy."),
    "cancer_site_group": (_site_group, "Primary cancer site group from ICD-10: gi, gu, lung, "
                                       "breast, gyn or other."),
}


#: What each derivation needs, in clinical words: ("lab", code key, words, window: True when the
#: derivation's window applies), ("age",), ("sex",), ("diagnosis",), ("regimen", what it needs).
INGREDIENTS: dict[str, list[tuple[Any, ...]]] = {
    "nlr": [("lab", "neutrophils", "neutrophil count", True),
            ("lab", "lymphocytes", "lymphocyte count", True)],
    "ldh_uln_ratio": [("lab", "ldh", "LDH", True)],
    "dnlr": [("lab", "neutrophils", "neutrophil count", True),
             ("lab", "leukocytes", "white cell count", True)],
    "ldh_uln_ratio_lab": [("lab", "ldh", "LDH", True)],
    "age_at_diagnosis": [("diagnosis",), ("age",)],
    "crcl_jelliffe": [("lab", "creatinine", "serum creatinine", True), ("age",), ("sex",)],
    "bmi": [("lab", "weight", "weight", True), ("lab", "height", "height", False)],
    "n_agents": [("regimen", "its agents")],
    "dose_intensity": [("regimen", "its dose intensity")],
    "ki67_status": [("lab", "ki67", "Ki67 index", True)],
    "chemo_generation": [("chemo",)],
    "cancer_site_group": [("diagnosis",)],
}

#: Derivations by what a clinician calls them.
DERIVATION_WORDS = {
    "nlr": "the neutrophil-to-lymphocyte ratio", "ldh_uln_ratio": "LDH relative to its upper "
    "limit of normal", "dnlr": "the derived neutrophil-to-lymphocyte ratio",
    "ldh_uln_ratio_lab": "LDH relative to the lab's upper limit of normal",
    "age_at_diagnosis": "the age at diagnosis", "crcl_jelliffe": "the creatinine clearance "
    "(Jelliffe)", "bmi": "the body-mass index", "n_agents": "the number of chemotherapy agents",
    "dose_intensity": "the dose intensity", "ki67_status": "the Ki67 status",
    "chemo_generation": "the chemotherapy generation", "cancer_site_group": "the cancer site",
}


def missing_ingredients(rv: RecordView, derivation: str, window: int) -> str:
    """Return, in clinical words, why a derivation has no value on the reference date.

    ``"the creatinine clearance (Jelliffe) cannot be computed: no serum creatinine in the 60
    days before 2026-11-30"``; each missing ingredient is named.
    """
    what = DERIVATION_WORDS.get(derivation, derivation)
    before = f"before {rv.date.isoformat()}"
    missing: list[str] = []
    for item in INGREDIENTS.get(derivation, []):
        kind = item[0]
        if kind == "lab":
            _, key, words, windowed = item
            obs = rv.latest(key, window if windowed else None)
            if obs is None or obs.value_num is None:
                missing.append(f"no {words} in the {window} days {before}" if windowed
                               else f"no {words} recorded {before}")
        elif kind == "age" and rv.age() is None:
            missing.append("no birth date (age unknown)")
        elif kind == "sex" and rv.patient.sex not in ("female", "male"):
            missing.append("sex not recorded as female or male")
        elif kind == "diagnosis":
            cancer = rv.primary_cancer()
            if cancer is None or not cancer.diagnosis_date or not cancer.code:
                missing.append("no primary cancer with its diagnosis date and ICD-10 code")
        elif kind == "regimen":
            t = current_systemic(rv, window)
            missing.append(f"no systemic treatment current or planned around {rv.date}"
                           if t is None else f"the regimen {t.regimen or t.id} does not record "
                                             f"{item[1]}")
        elif kind == "chemo":
            missing.append("the recorded chemotherapy is neither anthracycline- nor "
                           "taxane-based (enter the generation in calculator mode)")
    if not missing:
        missing.append(f"an ingredient is missing in the {window} days {before}")
    return f"{what} cannot be computed: " + "; ".join(missing)

