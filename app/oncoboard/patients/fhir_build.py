"""Build FHIR R4 resources as JSON dicts: used by the demo cohort, the tests and the benchmark.

Each function returns one resource dict; :func:`bundle` wraps them in a collection Bundle
(references are relative, ``Patient/<id>``). Resource ids are made unique per patient by the
caller (``f"{pid}-lab-3"``...).
"""

from __future__ import annotations

import base64
from typing import Any

from oncoboard.patients import codes

EXT = "urn:oncoboard:ext:"
UCUM = "http://unitsofmeasure.org"
SYNTHETIC_TAG = {"system": codes.LOCAL, "code": "synthetic", "display": "Synthetic data"}
MCODE_PRIMARY = ("http://hl7.org/fhir/us/mcode/StructureDefinition/"
                 "mcode-primary-cancer-condition")


def ref(kind: str, rid: str) -> dict[str, str]:
    """Return a Reference to ``kind/rid``."""
    return {"reference": f"{kind}/{rid}"}


def cc(system: str | None, code: str, display: str | None = None) -> dict[str, Any]:
    """Return a CodeableConcept with one coding."""
    coding: dict[str, Any] = {"code": code}
    if system:
        coding["system"] = system
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def ext(name: str, **value: Any) -> dict[str, Any]:
    """Return an Oncoboard extension, e.g. ``ext("cycles", valueInteger=6)``."""
    return {"url": EXT + name, **value}


def patient(rid: str, mrn: str, family: str, given: str, birth: str, sex: str, *,
            synthetic: bool = True, deceased: str | None = None) -> dict[str, Any]:
    """Return a Patient with an MR identifier."""
    res: dict[str, Any] = {
        "resourceType": "Patient", "id": rid,
        "identifier": [{"type": cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
                        "system": "urn:oncoboard:mrn", "value": mrn}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": sex, "birthDate": birth}
    if synthetic:
        res["meta"] = {"tag": [SYNTHETIC_TAG]}
    if deceased:
        res["deceasedDateTime"] = deceased
    return res


def condition(rid: str, pid: str, icd10: str, display: str, onset: str, *,
              morphology: str | None = None, laterality: str | None = None,
              stage: str | None = None, stage_type: str = "clinical") -> dict[str, Any]:
    """Return an mCODE-style primary cancer Condition."""
    res: dict[str, Any] = {
        "resourceType": "Condition", "id": rid, "meta": {"profile": [MCODE_PRIMARY]},
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                             "active"),
        "code": cc(codes.ICD10, icd10, display), "subject": ref("Patient", pid),
        "onsetDateTime": onset, "recordedDate": onset}
    if morphology:
        res["extension"] = [{
            "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/"
                   "mcode-histology-morphology-behavior",
            "valueCodeableConcept": cc(codes.ICDO3, morphology)}]
    if laterality:
        lat = {"left": "7771000", "right": "24028007", "bilateral": "51440002"}[laterality]
        res["bodySite"] = [{"extension": [{
            "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/"
                   "mcode-laterality-qualifier",
            "valueCodeableConcept": cc(codes.SNOMED, lat, laterality)}],
            "coding": [{"system": codes.ICDO3, "code": icd10}]}]
    if stage:
        res["stage"] = [{"summary": {"text": stage}, "type": {"text": stage_type}}]
    return res


def observation(rid: str, pid: str, key: str, date: str, *, value: float | None = None,
                unit: str | None = None, text: str | None = None,
                coded: tuple[str | None, str] | None = None, boolean: bool | None = None,
                ref_low: float | None = None, ref_high: float | None = None,
                focus: str | None = None) -> dict[str, Any]:
    """Return an Observation of the code named `key` in :data:`codes.BY_KEY`."""
    c = codes.BY_KEY[key]
    category = {"laboratory": "laboratory", "vital-signs": "vital-signs",
                "survey": "survey"}.get(c.category, "exam")
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "status": "final",
        "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category",
                        category)],
        "code": cc(c.system, c.code, c.display), "subject": ref("Patient", pid),
        "effectiveDateTime": date}
    u = unit or c.unit
    if value is not None:
        q: dict[str, Any] = {"value": value}
        if u:
            q.update(unit=u, system=UCUM, code=u)
        res["valueQuantity"] = q
    elif boolean is not None:
        res["valueBoolean"] = boolean
    elif coded is not None:
        res["valueCodeableConcept"] = cc(coded[0], coded[1])
    elif text is not None:
        res["valueString"] = text
    if ref_low is not None or ref_high is not None:
        rng: dict[str, Any] = {}
        for bound, v in (("low", ref_low), ("high", ref_high)):
            if v is not None:
                rng[bound] = {"value": v, "unit": u, "system": UCUM, "code": u}
        res["referenceRange"] = [rng]
    if focus:
        res["focus"] = [ref("Condition", focus)]
    return res


def procedure(rid: str, pid: str, kind: str, display: str, start: str, *,
              end: str | None = None, status: str = "completed", dose_gy: float | None = None,
              fractions: int | None = None, body_site: str | None = None) -> dict[str, Any]:
    """Return a surgery or radiotherapy Procedure."""
    category = {"surgery": ("387713003", "Surgical procedure"),
                "radiotherapy": ("108290001", "Radiation oncology AND/OR radiotherapy")}[kind]
    res: dict[str, Any] = {
        "resourceType": "Procedure", "id": rid, "status": status,
        "category": cc(codes.SNOMED, *category), "code": {"text": display},
        "subject": ref("Patient", pid)}
    res["performedPeriod" if end else "performedDateTime"] = \
        {"start": start, "end": end} if end else start
    extensions = []
    if dose_gy is not None:
        extensions.append(ext("dose", valueQuantity={"value": dose_gy, "unit": "Gy",
                                                     "system": UCUM, "code": "Gy"}))
    if fractions is not None:
        extensions.append(ext("fractions", valueInteger=fractions))
    if extensions:
        res["extension"] = extensions
    if body_site:
        res["bodySite"] = [{"text": body_site}]
    return res


def medication(rid: str, pid: str, agent: str, start: str, *, kind: str = "MedicationStatement",
               end: str | None = None, status: str = "active", regimen: str | None = None,
               group: str | None = None, cycles: int | None = None,
               dose_intensity: float | None = None, line: int | None = None) -> dict[str, Any]:
    """Return a MedicationStatement/Request/Administration for one agent of a regimen."""
    known = codes.AGENTS.get(agent)
    concept = cc("http://www.whocc.no/atc", known[1], agent) if known else {"text": agent}
    concept["text"] = agent
    res: dict[str, Any] = {"resourceType": kind, "id": rid, "status": status,
                           "medicationCodeableConcept": concept,
                           "subject": ref("Patient", pid)}
    if kind == "MedicationRequest":
        res["intent"] = "order"
        res["authoredOn"] = start
        res["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {
            "start": start, **({"end": end} if end else {})}}}}]
    else:
        res["effectivePeriod"] = {"start": start, **({"end": end} if end else {})}
    extensions = []
    for name, key, value in (("regimen", "valueString", regimen),
                             ("regimen-id", "valueString", group),
                             ("cycles", "valueInteger", cycles),
                             ("dose-intensity", "valueDecimal", dose_intensity),
                             ("line", "valueInteger", line)):
        if value is not None:
            extensions.append(ext(name, **{key: value}))
    if extensions:
        res["extension"] = extensions
    return res


NOTE_LOINC = {"consultation": ("11488-4", "Consult note"), "nursing": ("34746-8", "Nurse note"),
              "phone": ("34748-4", "Telephone encounter Note"),
              "discharge": ("18842-5", "Discharge summary")}


def document(rid: str, pid: str, note_type: str, date: str, text: str, language: str,
             author_role: str) -> dict[str, Any]:
    """Return a DocumentReference carrying a plain-text note (base64 attachment)."""
    code, display = NOTE_LOINC[note_type]
    return {"resourceType": "DocumentReference", "id": rid, "status": "current",
            "type": cc(codes.LOINC, code, display), "subject": ref("Patient", pid),
            "date": date if "T" in date else f"{date}T10:00:00+01:00",
            "author": [{"display": author_role}],
            "content": [{"attachment": {
                "contentType": "text/plain; charset=utf-8", "language": language,
                "title": display,
                "data": base64.b64encode(text.encode("utf-8")).decode("ascii")}}]}


def encounter(rid: str, pid: str, start: str, end: str, reason: str, *,
              unplanned: bool = True) -> dict[str, Any]:
    """Return an inpatient Encounter (hospitalisation)."""
    return {"resourceType": "Encounter", "id": rid, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP", "display": "inpatient encounter"},
            "subject": ref("Patient", pid), "period": {"start": start, "end": end},
            "reasonCode": [{"text": reason}],
            "extension": [ext("unplanned", valueBoolean=unplanned)]}


def bundle(resources: list[dict[str, Any]], bundle_id: str | None = None) -> dict[str, Any]:
    """Return a collection Bundle of `resources`."""
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in resources]}
    if bundle_id:
        out["id"] = bundle_id
    return out
