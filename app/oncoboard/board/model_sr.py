"""A model result shown at the board as a DICOM Comprehensive SR (highdicom), and read back.

Made from the typed :class:`~oncoboard.inference.prediction.Prediction` as stored, so the PACS
holds what the board saw. The content tree (root "Oncoboard model result", private codes
``99ONCOBOARD`` where no standard code names the concept):

- the model's identity: Algorithm Name and Algorithm Version (DCM 111001/111003), plugin id,
  model file and manifest SHA-256, the prediction's id, reference date and creation time;
- the flags, each YES or NO: trained on synthetic data, patient outside the intended
  population, estimate extrapolated (an input outside the training data), with the names of the
  extrapolated inputs;
- "Model inputs": one TEXT item per input (its value as JSON, so types come back exact), with
  its status (measured, given, imputed...) and unit;
- "Model outputs": one NUM item per value (each time point of a curve), with its output name,
  time, interval limits and level (FloatingPointValue, so values come back exact);
- the warnings as "code: message".

:func:`read_model_result` parses the SR with highdicom and returns those values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import highdicom as hd
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from oncoboard.board.dicom_out import MANUFACTURER, NO, UNITY, YES, _code
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.prediction_parts import OutputResult

SERIES_NUMBER = 9902
ALGORITHM_NAME = CodedConcept("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION = CodedConcept("111003", "DCM", "Algorithm Version")
_IDENTITY = (("plugin-id", "Plugin identifier"), ("model-sha256", "Model file SHA-256"),
             ("manifest-sha256", "Manifest SHA-256"),
             ("prediction-id", "Oncoboard prediction identifier"),
             ("reference-date", "Reference date"), ("created-at", "Created at"))
_FLAGS = (("synthetic", "Model trained on synthetic data"),
          ("outside-pop", "Patient outside intended population"),
          ("extrapolated", "Estimate extrapolated"))


def _text(name: CodedConcept, value: Any, rel: str = "CONTAINS") -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=str(value)[:1024] or "-",
                                 relationship_type=rel)


def _num(name: CodedConcept, value: float, unit: CodedConcept,
         rel: str = "CONTAINS") -> hd.sr.NumContentItem:
    return hd.sr.NumContentItem(name=name, value=float(value), unit=unit, relationship_type=rel)


def _unit(unit: str | None) -> CodedConcept:
    return UNITY if not unit else CodedConcept(unit[:16], "UCUM", unit[:64])


def _points(out: OutputResult) -> list[tuple[float, float | None, float | None, float | None]]:
    """Return (value, time, lower, upper) of each value of an output (a curve: each time)."""
    if out.values:
        lower = out.lower if isinstance(out.lower, tuple) else ()
        upper = out.upper if isinstance(out.upper, tuple) else ()
        return [(float(v), float(out.times[i]) if i < len(out.times) else None,
                 float(lower[i]) if i < len(lower) else None,
                 float(upper[i]) if i < len(upper) else None)
                for i, v in enumerate(out.values)]
    if out.value is None:
        return []
    lo = out.lower if isinstance(out.lower, int | float) else None
    hi = out.upper if isinstance(out.upper, int | float) else None
    return [(float(out.value), None, None if lo is None else float(lo),
             None if hi is None else float(hi))]


def extrapolated_inputs(pred: Prediction) -> list[str]:
    """Return the inputs whose value lies outside the model's training data (flagged)."""
    return sorted({w.input or "" for w in pred.warnings if w.code == "extrapolated"} - {""}) or (
        ["(unnamed)"] if any(w.code == "extrapolated" for w in pred.warnings) else [])


def model_result_sr(pred: Prediction, evidence: Sequence[Dataset], *,
                    series_uid: str | None = None) -> Dataset:
    """Return a Comprehensive SR of one stored prediction, in the study of `evidence`."""
    plugin = pred.plugin
    values = (plugin.id, plugin.model_sha256 or "", plugin.manifest_sha256 or "", pred.id or "",
              pred.reference_date or "", pred.created_at)
    items: list[Any] = [_text(ALGORITHM_NAME, plugin.name),
                        _text(ALGORITHM_VERSION, plugin.version)]
    items += [_text(_code(code, meaning), value)
              for (code, meaning), value in zip(_IDENTITY, values, strict=True)]
    extrapolated = extrapolated_inputs(pred)
    for (code, meaning), on in zip(_FLAGS, (pred.synthetic, pred.outside_intended_use,
                                            bool(extrapolated)), strict=True):
        items.append(hd.sr.CodeContentItem(name=_code(code, meaning), value=YES if on else NO,
                                           relationship_type="CONTAINS"))
    items += [_text(_code("extrapolated-in", "Extrapolated input"), name)
              for name in extrapolated]
    inputs = hd.sr.ContainerContentItem(name=_code("inputs", "Model inputs"),
                                        relationship_type="CONTAINS")
    entries = []
    for name, record in sorted(pred.inputs.items()):
        entry = _text(_code("input", name), json.dumps(record.value, sort_keys=True))
        props = [_text(_code("input-status", "Input status"), record.status, "HAS PROPERTIES")]
        if record.unit:
            props.append(_text(_code("input-unit", "Unit"), record.unit, "HAS PROPERTIES"))
        entry.ContentSequence = hd.sr.ContentSequence(props)
        entries.append(entry)
    if entries:
        inputs.ContentSequence = hd.sr.ContentSequence(entries)
    items.append(inputs)
    outputs = hd.sr.ContainerContentItem(name=_code("outputs", "Model outputs"),
                                         relationship_type="CONTAINS")
    nums = []
    for name, out in pred.outputs.items():
        unit = _unit(out.unit)
        for value, time, lower, upper in _points(out):
            num = _num(_code("output", out.label), value, unit)
            children: list[Any] = [_text(_code("output-name", "Output name"), name,
                                         "HAS PROPERTIES")]
            if time is not None:
                children.append(_num(_code("time", "Time"), time, _unit(out.time_unit),
                                     "HAS PROPERTIES"))
            for code, meaning, bound in (("lower", "Lower limit of interval", lower),
                                         ("upper", "Upper limit of interval", upper)):
                if bound is not None:
                    children.append(_num(_code(code, meaning), bound, unit, "HAS PROPERTIES"))
            if out.interval_level is not None and (lower is not None or upper is not None):
                children.append(_num(_code("level", "Interval level"), out.interval_level,
                                     UNITY, "HAS PROPERTIES"))
            num.ContentSequence = hd.sr.ContentSequence(children)
            nums.append(num)
    if nums:
        outputs.ContentSequence = hd.sr.ContentSequence(nums)
    items.append(outputs)
    items += [_text(_code("warning", "Warning"), w.text()) for w in pred.warnings]
    root = hd.sr.ContainerContentItem(name=_code("model-result", "Oncoboard model result"))
    root.ContentSequence = hd.sr.ContentSequence(items)
    return hd.sr.ComprehensiveSR(
        evidence=list(evidence), content=root, series_instance_uid=series_uid or generate_uid(),
        series_number=SERIES_NUMBER, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, series_description="Model result")


def _value(item: Any) -> float:
    mv = item.MeasuredValueSequence[0]
    return float(mv.FloatingPointValue if "FloatingPointValue" in mv else mv.NumericValue)


def read_model_result(sr: Dataset) -> dict[str, Any]:
    """Parse a model-result SR (highdicom) and return its content.

    Returns ``{meaning: text or "Yes"/"No"}`` for the identity and flags, ``"extrapolated
    inputs"``, ``"inputs": {name: (value, status, unit)}``, ``"outputs": {name: [(value, time,
    lower, upper, level), ...]}``, ``"labels": {name: label}`` and ``"warnings"``.
    """
    parsed = hd.sr.ComprehensiveSR.from_dataset(sr)
    out: dict[str, Any] = {"inputs": {}, "outputs": {}, "labels": {}, "warnings": [],
                           "extrapolated inputs": []}
    for item in parsed.ContentSequence:
        meaning = item.ConceptNameCodeSequence[0].CodeMeaning
        code = item.ConceptNameCodeSequence[0].CodeValue
        if item.ValueType == "TEXT":
            if code == "warning":
                out["warnings"].append(item.TextValue)
            elif code == "extrapolated-in":
                out["extrapolated inputs"].append(item.TextValue)
            else:
                out[meaning] = item.TextValue
        elif item.ValueType == "CODE":
            out[meaning] = item.ConceptCodeSequence[0].CodeMeaning
        elif item.ValueType == "CONTAINER" and code == "inputs":
            for child in item.get("ContentSequence", []):
                props = {c.ConceptNameCodeSequence[0].CodeValue: c.TextValue
                         for c in child.get("ContentSequence", [])}
                out["inputs"][child.ConceptNameCodeSequence[0].CodeMeaning] = (
                    json.loads(child.TextValue), props.get("input-status"),
                    props.get("input-unit"))
        elif item.ValueType == "CONTAINER" and code == "outputs":
            for num in item.get("ContentSequence", []):
                fields: dict[str, Any] = {}
                for c in num.get("ContentSequence", []):
                    key = c.ConceptNameCodeSequence[0].CodeValue
                    fields[key] = c.TextValue if c.ValueType == "TEXT" else _value(c)
                name = fields["output-name"]
                out["labels"][name] = num.ConceptNameCodeSequence[0].CodeMeaning
                out["outputs"].setdefault(name, []).append(
                    (_value(num), fields.get("time"), fields.get("lower"), fields.get("upper"),
                     fields.get("level")))
    return out
