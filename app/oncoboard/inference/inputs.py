"""Assemble and check a plugin's inputs: from the patient record, or from values typed by a user.

(The module was ``features.py``; "features" also names radiomics features, which
:mod:`oncoboard.inference.radiomics` computes. Where each kind of input is found in the record is
:mod:`oncoboard.inference.record_inputs`.)

For each declared input the value is found (the latest lab in the window, a demographic field,
the primary cancer's marker, a treatment, a derivation, radiomics features, notes), converted to
the declared unit, coded (categories), and checked against the valid range. A missing value
follows the input's policy: the prediction is refused, or the declared default is used and marked
``imputed``. The patient is checked against the intended population. Every issue becomes a
warning or a refusal reason in the :class:`Assembly`; nothing is imputed or dropped silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoboard.errors import InferenceError, OncoboardError
from oncoboard.inference.manifest import (
    ClinicalInput,
    ImageInput,
    Manifest,
    TextInput,
)
from oncoboard.inference.population import check_population
from oncoboard.patients.language import NAMES, guess_language
from oncoboard.units import convert

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)


@dataclass
class InputValue:
    """One input as fed to the model, with where it came from."""

    name: str
    status: str                        # measured | given | imputed | override | missing | invalid
    value: float | str | None = None   # in the declared unit, or the category label
    coded: float | int | str | None = None   # what goes into the tensor
    unit: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    text: str | None = None            # text inputs: the text fed (not put in the snapshot)
    segments: list[dict[str, Any]] = field(default_factory=list)  # text: note spans
    array: Any = None                  # image tensor inputs

    def snapshot(self) -> dict[str, Any]:
        """Return the JSON-ready record of this input (text replaced by note ids and a hash)."""
        out: dict[str, Any] = {"status": self.status, "value": self.value, "coded": self.coded,
                               "unit": self.unit, "source": self.source}
        if self.text is not None:  # the text itself stays in the notes: keep its hash
            import hashlib

            out["coded"] = None
            out["text_sha256"] = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        if self.segments:
            out["notes"] = [{k: s[k] for k in ("note_id", "date", "note_type", "language",
                                               "chars")} for s in self.segments]
        return out


@dataclass
class Assembly:
    """Inputs ready for the model, and everything found on the way."""

    values: dict[str, InputValue] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    population: dict[str, Any] = field(default_factory=dict)

    def warn(self, code: str, message: str, input_name: str | None = None) -> None:
        """Add a warning."""
        self.warnings.append({"code": code, "message": message, "input": input_name})

    def refuse(self, message: str, input_name: str | None = None) -> None:
        """Add a reason to refuse the prediction (also listed as a warning)."""
        self.refusals.append(message)
        self.warn("refused", message, input_name)


# ---------------------------------------------------------------------------------------------
# Coding and checking one value
# ---------------------------------------------------------------------------------------------

_NUM_UNIT = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)\s*(\S.*)?$")


def match_category(spec: ClinicalInput, raw: Any) -> tuple[str, float | int | str] | None:
    """Return (label, coded value) of the category `raw` names, or None."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return _spellings(spec).get(str(raw).strip().lower())


#: Each input's spellings (label, synonyms, value; lower case) -> its category's (label,
#: value), the first category naming it; by input, while that input object lives.
_SPELLINGS: dict[int, tuple[ClinicalInput, dict[str, tuple[str, float | int | str]]]] = {}


def _spellings(spec: ClinicalInput) -> dict[str, tuple[str, float | int | str]]:
    hit = _SPELLINGS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    table: dict[str, tuple[str, float | int | str]] = {}
    for cat in spec.categories:
        value = cat.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        for spelling in (cat.label.lower(), *(s.lower() for s in cat.synonyms),
                         str(value).lower()):
            table.setdefault(spelling, (cat.label, cat.value))
    if len(_SPELLINGS) > 4096:  # plugins discovered again and again: keep it small
        _SPELLINGS.clear()
    _SPELLINGS[id(spec)] = (spec, table)
    return table


def code_value(spec: ClinicalInput, raw: Any, raw_unit: str | None = None
               ) -> tuple[float | str, float | int | str]:
    """Return (value in the declared unit or category label, coded value); raise InferenceError.

    `raw` may be a number, a string number (``"12,5"`` accepted), ``"VALUE UNIT"`` (converted),
    or a category label or synonym.
    """
    if spec.categories:
        found = match_category(spec, raw)
        if found is None:
            labels = ", ".join(c.label for c in spec.categories)
            raise InferenceError(f"{raw!r} is not one of {labels}", where=spec.name)
        return found
    if isinstance(raw, bool):
        raw = float(raw)
    if isinstance(raw, str):
        m = _NUM_UNIT.match(raw)
        if m is None:
            raise InferenceError(f"{raw!r} is not a number", where=spec.name)
        raw, raw_unit = float(m.group(1).replace(",", ".")), m.group(2) or raw_unit
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise InferenceError(f"{raw!r} is not a number", where=spec.name) from exc
    if raw_unit and spec.unit:
        try:
            value = convert(value, raw_unit, spec.unit)
        except ValueError as exc:
            raise InferenceError(str(exc), where=spec.name) from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise InferenceError("not a finite number", where=spec.name)
    if spec.integer and not value.is_integer():
        raise InferenceError(f"{value:g} is not a whole number (a count)", where=spec.name)
    if spec.valid_range and not spec.valid_range[0] <= value <= spec.valid_range[1]:
        unit = f" {spec.unit}" if spec.unit else ""
        # The input's description often says why the range is what it is (e.g. a model
        # built on node-positive patients only): the user sees the reason with the refusal.
        why = f" ({spec.description.rstrip('.')})" if spec.description else ""
        raise InferenceError(f"{value:g}{unit} is outside the valid range "
                             f"{spec.valid_range[0]:g}-{spec.valid_range[1]:g}{unit}{why}",
                             where=spec.name)
    return value, value


def reference_of(spec: ClinicalInput) -> float | str | None:
    """Return the explanation reference of an input (reference, default, mid-range, first cat)."""
    for candidate in (spec.reference, spec.default):
        if candidate is not None:
            return candidate
    if spec.categories:
        return spec.categories[0].label
    if spec.valid_range:
        return (spec.valid_range[0] + spec.valid_range[1]) / 2
    return None


def apply_missing(spec: ClinicalInput | TextInput, asm: Assembly, why: str) -> None:
    """Apply the missing-value policy of `spec` (refuse, or default marked imputed)."""
    name = spec.name
    if spec.kind == "text":
        if spec.required and spec.missing == "refuse":
            asm.refuse(f"{name}: {why}", name)
        else:
            asm.values[name] = InputValue(name, "imputed", "", "", None, {"missing": why},
                                          text="")
            asm.warn("imputed", f"{name}: {why}; empty text used", name)
        return
    if spec.required and spec.missing == "refuse":
        asm.values[name] = InputValue(name, "missing", unit=spec.unit, source={"missing": why})
        asm.refuse(f"{name}: {why}", name)
        return
    value, coded = code_value(spec, spec.default)
    unit = f" {spec.unit}" if spec.unit and not spec.categories else ""
    asm.values[name] = InputValue(name, "imputed", value, coded, spec.unit, {"missing": why})
    asm.warn("imputed", f"{name}: {why}; default {value}{unit} used (imputed)", name)


def set_value(spec: ClinicalInput, asm: Assembly, raw: Any, raw_unit: str | None,
              status: str, source: dict[str, Any]) -> None:
    """Code and check one raw value and store it in the assembly (refusing when invalid)."""
    try:
        value, coded = code_value(spec, raw, raw_unit)
    except InferenceError as exc:
        asm.values[spec.name] = InputValue(spec.name, "invalid", None, None, spec.unit,
                                           {**source, "raw": raw, "raw_unit": raw_unit})
        asm.refuse(f"{spec.name}: {exc.reason}", spec.name)
        return
    if raw_unit and spec.unit and raw_unit != spec.unit and not spec.categories:
        source = {**source, "converted_from": f"{raw} {raw_unit}"}
    asm.values[spec.name] = InputValue(spec.name, status, value, coded, spec.unit, source)


# ---------------------------------------------------------------------------------------------
# Calculator mode: values typed by a user
# ---------------------------------------------------------------------------------------------


def assemble_given(manifest: Manifest, given: dict[str, Any]) -> Assembly:
    """Check user-given values (input name -> value) exactly as record values are checked."""
    asm = Assembly()
    names = {i.name for i in manifest.inputs}
    radiomics = {i.name for i in manifest.inputs
                 if i.kind == "clinical" and i.source.type == "radiomics"}
    for key in given:
        if key not in names:
            asm.refuse(f"unknown input {key!r} (inputs: {', '.join(sorted(names))})")
    for spec in manifest.inputs:
        raw = given.get(spec.name)
        blank = raw is None or (isinstance(raw, str) and not raw.strip())
        if spec.kind == "image":
            if spec.mode == "tensor":
                asm.refuse(f"{spec.name}: an image tensor cannot be given in calculator mode",
                           spec.name)
            continue
        if spec.kind == "text":
            if blank:
                apply_missing(spec, asm, "no text given")
            else:
                text = str(raw)[: spec.max_chars]
                guess = guess_language(text)
                if guess.language and guess.language not in spec.languages:
                    reads = " and ".join(NAMES.get(x, x) for x in spec.languages)
                    asm.refuse(f"{spec.name}: the text is written in {guess.name}; the model "
                               f"reads {reads} only", spec.name)
                    continue
                asm.values[spec.name] = InputValue(
                    spec.name, "given", None, text, None, {"chars": len(text)}, text=text,
                    segments=[{"note_id": None, "start": 0, "end": len(text), "offset": 0,
                               "date": None, "note_type": None, "language": guess.language,
                               "chars": len(text)}])
            continue
        if blank:
            apply_missing(spec, asm, "not given")
        elif (why := unit_doubt(spec, raw)) is not None:
            asm.values[spec.name] = InputValue(spec.name, "invalid", None, None, spec.unit,
                                               {"type": "given", "raw": raw})
            asm.refuse(why, spec.name)
        else:
            set_value(spec, asm, raw, None, "given",
                      {"type": "given"} if spec.name not in radiomics else {"type": "given",
                                                                           "radiomics": True})
    _given_population(manifest, asm)
    return asm


#: Units a bare number is often meant in instead of the declared one (same dimension).
OTHER_UNITS = {"mm": ("cm",), "cm": ("mm",), "mg/L": ("mg/dL",), "mg/dL": ("mg/L",),
               "g/L": ("g/dL",), "g/dL": ("g/L",), "kg": ("g",), "g": ("kg",),
               "mL": ("L",), "L": ("mL",), "cm3": ("mm3",), "mm3": ("cm3",),
               "umol/L": ("mmol/L",), "mmol/L": ("umol/L",)}


def unit_text(unit: str | None) -> str:
    """Return a unit as a clinician writes it (``a`` -> ``years``; none for a pure number)."""
    return {"a": "years", "1": "", None: "", "mo": "months", "wk": "weeks",
            "d": "days"}.get(unit, unit) or ""


def plausible_range(spec: ClinicalInput) -> tuple[float, float] | None:
    """Return where a value of `spec` is plausible in its declared unit: what the training
    patients had (the manifest's `support`), else the valid range."""
    if spec.support is not None:
        return spec.support.observed_min, spec.support.observed_max
    if spec.valid_range:
        return spec.valid_range[0], spec.valid_range[1]
    return None


def unit_doubt(spec: ClinicalInput | Any, raw: Any) -> str | None:
    """Return why a bare number typed without its unit is refused, else None.

    A number given without a unit is read in the declared unit. When it is not plausible in
    that unit but is in a common other unit of the same dimension (2.5 mm of tumour, 2.5 cm
    meant), the value is refused with the suggestion to write the unit.
    """
    if not isinstance(spec, ClinicalInput) or spec.categories or spec.unit not in OTHER_UNITS:
        return None
    if isinstance(raw, str):
        m = _NUM_UNIT.match(raw)
        if m is None or m.group(2):
            return None
        value = float(m.group(1).replace(",", "."))
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        return None
    where = plausible_range(spec)
    if where is None or where[0] <= value <= where[1]:
        return None
    for other in OTHER_UNITS[spec.unit]:
        try:
            meant = convert(value, other, spec.unit)
        except ValueError:
            continue
        if where[0] <= meant <= where[1]:
            what = (spec.label or spec.name).lower()
            seen = ("the training patients had" if spec.support is not None
                    else "the model accepts")
            return (f"{spec.name}={value:g}: {value:g} {spec.unit} is unusual for {what} "
                    f"({seen} {where[0]:g}-{where[1]:g} {spec.unit}); did you mean "
                    f"{value:g} {other}? write {spec.name}={value:g}{other}")
    return None


def _given_population(manifest: Manifest, asm: Assembly) -> None:
    """Check what calculator inputs say of the population (age, sex); the rest is unknown."""
    pop, reasons = manifest.population, []
    for spec in manifest.inputs:
        v = asm.values.get(spec.name)
        if not isinstance(spec, ClinicalInput) or spec.source.type != "patient" or v is None \
                or v.status != "given":
            continue
        if spec.source.field == "age" and isinstance(v.value, float):
            if pop.age_min is not None and v.value < pop.age_min:
                reasons.append(f"age {v.value:g} below {pop.age_min:g}")
            if pop.age_max is not None and v.value > pop.age_max:
                reasons.append(f"age {v.value:g} above {pop.age_max:g}")
        if spec.source.field == "sex" and pop.sex and str(v.value).lower() not in pop.sex:
            reasons.append(f"sex {v.value} not in {', '.join(pop.sex)}")
    note = (f"calculator mode: the intended population ({pop.description}) was not checked "
            f"beyond the values given")
    asm.population = {"checked": False, "in_population": False if reasons else None,
                      "reasons": [*reasons, note]}
    if reasons and pop.out_of_population == "refuse":
        asm.refuse("outside intended use: " + "; ".join(reasons))
    elif reasons:
        asm.warn("outside_intended_use", "outside intended use: " + "; ".join(reasons))
    asm.warn("population_not_checked", note)


# ---------------------------------------------------------------------------------------------
# Record mode
# ---------------------------------------------------------------------------------------------


def assemble_record(store: Store, manifest: Manifest, patient_id: str,
                    reference_date: dt.date, view: Any = None) -> Assembly:
    """Find, convert and check every input of `manifest` for a patient on a date.

    `view` (a record_access.RecordView of the same patient and date) shares record queries between
    the plugins run on one patient.
    """
    from oncoboard.inference import record_inputs
    from oncoboard.inference.record_access import RecordView

    rv = view if view is not None else RecordView(store, patient_id, reference_date)
    asm = Assembly()
    asm.population = check_population(rv, manifest)
    if not asm.population["in_population"]:
        reasons = "; ".join(asm.population["reasons"])
        if manifest.population.out_of_population == "refuse":
            asm.refuse(f"outside intended use: {reasons}")
        else:
            asm.warn("outside_intended_use", f"outside intended use: {reasons}")
    images: dict[str, Any] = {}
    # images first: radiomics inputs read their features
    ordered = sorted(manifest.inputs, key=lambda i: i.kind != "image")
    for spec in ordered:
        try:
            if isinstance(spec, ImageInput):
                images[spec.name] = record_inputs.image(rv, spec, manifest, asm)
            elif isinstance(spec, TextInput):
                record_inputs.text(rv, spec, asm)
            else:
                record_inputs.clinical(rv, spec, asm, images)
        except OncoboardError as exc:
            asm.refuse(f"{spec.name}: {exc.reason}", spec.name)
    return asm
