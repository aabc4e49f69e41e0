"""Observation values: value[x] to (number in the canonical unit | normalised text)."""

from __future__ import annotations

from typing import Any

from oncoboard import units
from oncoboard.dates import age_in_years
from oncoboard.patients import codes
from oncoboard.patients.fhir_import import Context
from oncoboard.patients.fhir_map import _ECOG_ANSWERS, coded_text, codings

_UCUM = "http://unitsofmeasure.org"


def quantity_unit(q: Any) -> str | None:
    """Return the unit of a Quantity: the UCUM code, else the human-readable unit.

    A code of another system (a laboratory's own unit codes, e.g. ``GPL``) is not a unit pint
    can read: the human-readable unit is used then, and the code only when there is no unit.
    """
    if q is None:
        return None
    if q.system not in (None, _UCUM) and q.unit:
        return str(q.unit)
    unit = q.code or q.unit
    return str(unit) if unit else None


def _canonical(ctx: Context, known: codes.Code | None, value: float, unit: str | None,
               where: str, what: str = "value") -> tuple[float, str | None]:
    """Return (value, unit) in the canonical unit of `known` (unchanged for unknown codes)."""
    if known is None or known.unit is None:
        return value, unit
    if unit is None:
        if known.unit == "1":
            return value, "1"
        raise ctx.error(f"{what} {value:g} has no unit (expected {known.unit} or a unit "
                        "convertible to it)", where)
    converted = units.to_canonical(value, unit, known.unit, known.molar_mass,
                                   file=str(ctx.path), where=where)
    return converted, known.unit


def fill_value(ctx: Context, m: Any, known: codes.Code | None, row: dict[str, Any],
               where: str) -> None:
    """Set value_num/value_text/unit/original_*/reference_* of an observation row."""
    q = m.valueQuantity
    unit: str | None = None
    if q is not None and q.value is not None:
        unit = quantity_unit(q)
        row["original_value"], row["original_unit"] = f"{q.comparator or ''}{q.value}", unit
        if q.comparator:  # "<5 mg/L": value_num holds the bound, the comparator is kept
            row["extra"]["comparator"] = q.comparator
        if known is None and unit is not None:
            try:
                units.check_unit(unit)
            except ValueError:
                row["extra"]["unit_not_understood"] = True
        row["value_num"], row["unit"] = _canonical(ctx, known, float(q.value), unit, where)
    elif m.valueCodeableConcept is not None:
        cc = m.valueCodeableConcept
        answers = [c for _, c, _ in codings(cc) if c in _ECOG_ANSWERS]
        if answers:
            row["value_num"] = float(_ECOG_ANSWERS[answers[0]])
        row["value_text"] = coded_text(known.key if known else None, cc)
        row["original_value"] = "|".join(f"{s or ''}#{c or ''}" for s, c, _ in codings(cc)) \
            or getattr(cc, "text", None)
    elif m.valueInteger is not None:
        row["original_value"] = str(m.valueInteger)
        # an integer has no unit: for a code measured in a unit (creatinine 88: umol/L or
        # mg/dL?) it is refused as a Quantity without unit is; scores (ECOG) are unitless
        row["value_num"], row["unit"] = _canonical(ctx, known, float(m.valueInteger), None,
                                                   where)
    elif m.valueBoolean is not None:
        row["value_text"] = "yes" if m.valueBoolean else "no"
        row["original_value"] = str(m.valueBoolean).lower()
    elif m.valueString is not None:
        text = str(m.valueString)
        row["value_text"] = coded_text(known.key, _Text(text)) if known and \
            known.key in ("er", "pr", "her2") else text
        row["original_value"] = text
        try:
            row["value_num"] = float(text) if known is None or known.unit is None else None
        except ValueError:
            pass
    elif m.valueDateTime is not None:
        row["value_text"] = row["original_value"] = str(m.valueDateTime)
    elif _other_value(m) is not None:  # range, ratio (a titre 1:160), period, time
        row["value_text"] = row["original_value"] = _other_value(m)
    elif m.dataAbsentReason is None and not m.component:
        raise ctx.error("no value (value[x], component or dataAbsentReason)", where)
    if m.dataAbsentReason is not None:  # why there is no value: kept, e.g. "not-performed"
        row["extra"]["data_absent_reason"] = next(
            (c for _, c, _ in codings(m.dataAbsentReason) if c), m.dataAbsentReason.text)
    if m.component:
        row["extra"]["components"] = [_component(c) for c in m.component]
    _reference_range(ctx, m, known, row, unit, where)


def _component(c: Any) -> dict[str, Any]:
    """Return one Observation.component as stored in ``extra.components``."""
    q = c.valueQuantity
    if q is not None and q.value is not None:
        value: Any = float(q.value)
    elif c.valueCodeableConcept is not None:
        value = coded_text(None, c.valueCodeableConcept)
    elif c.valueInteger is not None:
        value = float(c.valueInteger)
    elif c.valueBoolean is not None:
        value = "yes" if c.valueBoolean else "no"
    else:
        value = c.valueString or _other_value(c) or (str(c.valueDateTime)
                                                    if c.valueDateTime is not None else None)
    out = {"code": codings(c.code) or [(None, None, getattr(c.code, "text", None))],
           "value": value, "unit": quantity_unit(q)}
    if value is None and c.dataAbsentReason is not None:
        out["data_absent_reason"] = next((code for _, code, _ in codings(c.dataAbsentReason)
                                          if code), None)
    return out


def _quantity_text(q: Any) -> str:
    if q is None or q.value is None:
        return ""
    unit = quantity_unit(q)
    return f"{q.comparator or ''}{q.value:g}" + (f" {unit}" if unit and unit != "1" else "")


def _other_value(m: Any) -> str | None:
    """Return a valueRange, valueRatio, valuePeriod or valueTime as text, else None."""
    if getattr(m, "valueRange", None) is not None:
        low, high = _quantity_text(m.valueRange.low), _quantity_text(m.valueRange.high)
        return f"{low}-{high}" if low and high else (f">={low}" if low else f"<={high}")
    if getattr(m, "valueRatio", None) is not None:
        return f"{_quantity_text(m.valueRatio.numerator)}:" \
               f"{_quantity_text(m.valueRatio.denominator)}"
    if getattr(m, "valuePeriod", None) is not None:
        return f"{m.valuePeriod.start or ''}/{m.valuePeriod.end or ''}"
    if getattr(m, "valueTime", None) is not None:
        return str(m.valueTime)
    return None


class _Text:
    """A CodeableConcept with only a text, for free-text receptor values."""

    coding: list[Any] = []

    def __init__(self, text: str):
        self.text = text


#: appliesTo codes and words that name a sex (SNOMED, HL7 administrative gender, FR/EN text).
_SEXES = {"248153007": "male", "248152002": "female", "male": "male", "female": "female",
          "m": "male", "f": "female", "men": "male", "women": "female", "man": "male",
          "woman": "female", "homme": "male", "femme": "female", "hommes": "male",
          "femmes": "female"}


def _range_sexes(rr: Any) -> set[str]:
    """Return the sexes a referenceRange applies to (empty: it does not say)."""
    words = [word for cc in rr.appliesTo or []
             for word in (getattr(cc, "text", None),
                          *(w for _, code, display in codings(cc) for w in (code, display)))]
    return {_SEXES[key] for key in (w.strip().lower() for w in words if w) if key in _SEXES}


def _patient(ctx: Context, pid: str) -> tuple[str | None, str | None]:
    """Return (sex, birth date) of patient `pid`: from this bundle's Patient, else stored."""
    for ref, found in ctx.patient_ids.items():
        if found == pid and ref in ctx.resources:
            model = ctx.resources[ref]
            birth = getattr(model, "birthDate", None)
            return getattr(model, "gender", None), str(birth) if birth else None
    rows = ctx.batch.query(ctx.store, "SELECT sex, birth_date FROM patients WHERE id = ?",
                           [pid])
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def _in_years(q: Any) -> float | None:
    """Return an Age quantity in years (None when it has no value or an unknown unit)."""
    if q is None or q.value is None:
        return None
    unit = quantity_unit(q) or "a"
    try:
        return units.convert(float(q.value), unit, "a")
    except ValueError:
        return None


def _fits(rr: Any, sex: str | None, age: float | None) -> int | None:
    """Return how specific a range is if it fits the patient (0: for everybody), else None."""
    specific = 0
    sexes = _range_sexes(rr)
    if sexes:
        if sex not in sexes:
            return None
        specific += 1
    if rr.age is not None and (rr.age.low is not None or rr.age.high is not None):
        low, high = _in_years(rr.age.low), _in_years(rr.age.high)
        if age is None or (rr.age.low is not None and (low is None or age < low)) or \
                (rr.age.high is not None and (high is None or age > high)):
            return None
        specific += 1
    return specific


def _pick_range(ctx: Context, ranges: list[Any], row: dict[str, Any]) -> Any:
    """Return the referenceRange for this patient: the most specific one that fits them.

    A laboratory often sends one range per sex (creatinine, haemoglobin) or per age group: the
    first is not necessarily the patient's. A range for a sex or ages fits only when the
    patient's sex or age (at the observation) is known and matches. None when no range fits:
    the ULN is then unknown rather than someone else's.
    """
    if len(ranges) <= 1 and not any(_range_sexes(rr) or rr.age is not None for rr in ranges):
        return ranges[0] if ranges else None
    sex, birth = _patient(ctx, row["patient_id"])
    age = age_in_years(birth, row.get("effective"))
    best, best_score = None, -1
    for rr in ranges:
        score = _fits(rr, sex, age)
        if score is not None and score > best_score:
            best, best_score = rr, score
    return best


def _reference_range(ctx: Context, m: Any, known: codes.Code | None, row: dict[str, Any],
                     value_unit: str | None, where: str) -> None:
    rr = _pick_range(ctx, list(m.referenceRange or []), row)
    if rr is not None:
        for bound in ("low", "high"):
            q = getattr(rr, bound)
            if q is None or q.value is None:
                continue
            unit = quantity_unit(q) or value_unit
            row[f"reference_{bound}"], _ = _canonical(ctx, known, float(q.value), unit, where,
                                                      what=f"referenceRange.{bound}")
