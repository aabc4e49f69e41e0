"""Observation values: value[x] to (number in the canonical unit | normalised text)."""

from __future__ import annotations

from typing import Any

from oncoboard import units
from oncoboard.patients import codes
from oncoboard.patients.fhir_import import Context
from oncoboard.patients.fhir_map import _ECOG_ANSWERS, coded_text, codings


def quantity_unit(q: Any) -> str | None:
    """Return the unit of a Quantity: the UCUM code, else the human-readable unit."""
    return (q.code or q.unit) if q is not None else None


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
        row["value_num"], row["original_value"] = float(m.valueInteger), str(m.valueInteger)
        row["unit"] = known.unit if known else None
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
    elif m.dataAbsentReason is None and not m.component:
        raise ctx.error("no value (value[x], component or dataAbsentReason)", where)
    if m.component:
        row["extra"]["components"] = [
            {"code": codings(c.code), "value": float(c.valueQuantity.value)
             if c.valueQuantity is not None and c.valueQuantity.value is not None else
             coded_text(None, c.valueCodeableConcept) if c.valueCodeableConcept else None,
             "unit": quantity_unit(c.valueQuantity)} for c in m.component]
    _reference_range(ctx, m, known, row, unit, where)


class _Text:
    """A CodeableConcept with only a text, for free-text receptor values."""

    coding: list[Any] = []

    def __init__(self, text: str):
        self.text = text


def _reference_range(ctx: Context, m: Any, known: codes.Code | None, row: dict[str, Any],
                     value_unit: str | None, where: str) -> None:
    for rr in (m.referenceRange or [])[:1]:
        for bound in ("low", "high"):
            q = getattr(rr, bound)
            if q is None or q.value is None:
                continue
            unit = quantity_unit(q) or value_unit
            row[f"reference_{bound}"], _ = _canonical(ctx, known, float(q.value), unit, where,
                                                      what=f"referenceRange.{bound}")
