"""Map validated FHIR R4 resources (fhir.resources models) to clinical-record rows.

Conventions (also in README, "Importing patient data"):

- Patient ID: the first ``Patient.identifier`` of type MR, else the first identifier, else the
  resource id. ``meta.tag`` code ``synthetic`` (any system) or ``HTEST`` marks synthetic data.
- Primary cancer: a Condition with the mCODE primary-cancer profile, or an ICD-10 C00-C76/C80
  code (C77-C79 are secondary). Morphology from the mCODE histology-morphology-behavior extension
  or an ICD-O-3 coding; laterality from bodySite (SNOMED left/right/bilateral); diagnosis date
  from onset, else recordedDate; stage from Condition.stage (summary; type text "path..." means
  pathological) and from TNM Observations (LOINC 21905-5...), which :mod:`.importer` folds in.
- Observations: value converted to the canonical unit of :mod:`.codes` (pint); the value and unit
  as received are kept. Receptor values become positive/negative/equivocal/unknown.
- Radiotherapy: Procedure with a radiotherapy category/code; dose and fractions from the mCODE
  ``totalDoseDelivered``/``fractionsDelivered`` sub-extensions or ``urn:oncoboard:ext:dose``
  (Quantity, Gy or cGy) and ``urn:oncoboard:ext:fractions``.
- Systemic therapy: Medication{Request,Administration,Statement}; resources sharing a
  ``groupIdentifier`` or ``urn:oncoboard:ext:regimen-id`` form one regimen row (agents listed);
  ``urn:oncoboard:ext:`` ``regimen``, ``cycles``, ``dose-intensity``, ``line``, ``subkind``.
- Outcomes: Patient.deceased -> death; Encounter of class IMP/ACUTE/EMER -> hospitalisation,
  unplanned when class EMER, priority EM/UR, admitSource emd, or ``urn:oncoboard:ext:unplanned``;
  Observation LOINC 97509-4 (cancer disease status) with SNOMED 271299001 -> progression,
  58184002 -> relapse, 268910001/550991000124107 -> response.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from oncoboard.patients import codes
from oncoboard.patients.fhir_import import Context

EXT = "urn:oncoboard:ext:"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
_LATERALITY = {"7771000": "left", "24028007": "right", "51440002": "bilateral"}
_RADIOTHERAPY = {"108290001", "1217123003", "33195004", "399315003", "169317000"}
_SURGERY = {"387713003"}
_POSITIVE = {"10828004", "LA6576-8", "positive", "pos", "+", "detected", "positif"}
_NEGATIVE = {"260385009", "LA6577-6", "negative", "neg", "-", "not detected", "négatif",
             "negatif", "négative"}
_EQUIVOCAL = {"42425007", "equivocal", "indeterminate", "équivoque", "equivoque"}
_ECOG_ANSWERS = {"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3,
                 "LA9626-8": 4, "LA9627-6": 5,
                 # SNOMED CT "ECOG performance status - grade N (finding)"
                 "425389002": 0, "422512005": 1, "422894000": 2, "423053003": 3,
                 "423237006": 4, "423409001": 5}
_YES = {"Y", "yes", "373066001", "true"}
_NO = {"N", "no", "373067005", "false"}
_HOSPITAL_CLASSES = {"IMP", "ACUTE", "EMER", "NONAC", "SS"}


def iso(value: Any) -> str | None:
    """Return a FHIR date/dateTime as an ISO string."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def codings(cc: Any) -> list[tuple[str | None, str | None, str | None]]:
    """Return the (system, code, display) of every coding of a CodeableConcept."""
    if cc is None:
        return []
    return [(c.system, c.code, c.display) for c in (cc.coding or [])]


def pick_code(cc: Any) -> tuple[str | None, str | None, str | None, codes.Code | None]:
    """Return the coding Oncoboard knows (else the first) and its Code entry."""
    found = codings(cc)
    for system, code, display in found:
        known = codes.lookup(system, code)
        if known is not None:
            return system, code, display or known.display, known
    if found:
        system, code, display = found[0]
        return system, code, display or getattr(cc, "text", None), None
    return None, None, getattr(cc, "text", None), None


def extension(model: Any, name: str) -> Any:
    """Return the extension whose url is ``urn:oncoboard:ext:NAME`` or ends with ``NAME``."""
    for ext in getattr(model, "extension", None) or []:
        url = ext.url or ""
        if url == EXT + name or url.endswith("/" + name) or url == name:
            return ext
    return None


def ext_value(ext: Any) -> Any:
    """Return the value[x] of an extension, or None."""
    if ext is None:
        return None
    for key in ("valueString", "valueInteger", "valueDecimal", "valueBoolean", "valueCode",
                "valueUnsignedInt", "valuePositiveInt", "valueQuantity",
                "valueCodeableConcept", "valueDateTime", "valueDate", "valueReference"):
        value = getattr(ext, key, None)
        if value is not None:
            return value
    return None


def _period(model: Any, prefix: str) -> tuple[str | None, str | None]:
    period = getattr(model, f"{prefix}Period", None)
    if period is not None:
        return iso(period.start), iso(period.end)
    return iso(getattr(model, f"{prefix}DateTime", None)), None


def source_key(ctx: Context, m: Any, where: str) -> str:
    """Return the key a resource's rows are stored under: ``Type/id``, else its fullUrl.

    A transaction bundle's POST entries often carry no id, only a ``urn:uuid:`` fullUrl; with
    neither, an identifier is used. A resource with none of the three is refused: importing the
    file again could not find its rows, and several such resources would overwrite each other.
    """
    kind = m.get_resource_type()
    if m.id:
        return f"{kind}/{m.id}"
    urls: dict[int, str] | None = getattr(ctx, "_full_urls", None)
    if urls is None:  # built once per file: resources without id are keyed by fullUrl only
        urls = {id(model): key for key, model in ctx.resources.items()}
        setattr(ctx, "_full_urls", urls)  # noqa: B010 (Context belongs to fhir_import)
    if id(m) in urls:
        return urls[id(m)]
    idents = getattr(m, "identifier", None)
    for ident in idents if isinstance(idents, list) else [idents] if idents else []:
        if ident.value:
            return f"{kind}?identifier={ident.system or ''}|{ident.value}"
    raise ctx.error("the resource has no id, no fullUrl and no identifier: nothing would "
                    "tell its rows apart, or find them when the file is imported again", where)


def _row(ctx: Context, pid: str, source_id: str, where: str, **values: Any) -> dict[str, Any]:
    return {"id": f"{pid}/{source_id}", "patient_id": pid, "source_id": source_id,
            "source_file": str(ctx.path), "_where": where, **values}


# v2-0203 identifier types: the hospital's record number first (MR, then PI, e.g. the French
# IPP); national health or social-security numbers (SS, NI, NH, JHN, INS-NIR...) last: they are
# not the hospital's key and should not become the ID shown on every screen.
_NATIONAL_ID_TYPES = {"SS", "NI", "NH", "NNxxx", "JHN", "NIIP", "INS-NIR", "INS-NIA", "INS-C"}


def _identifier_rank(ident: Any) -> int:
    types = {c for _, c, _ in codings(ident.type) if c}
    if "MR" in types:
        return 0
    if "PI" in types:
        return 1
    if types & _NATIONAL_ID_TYPES or types and all(t.startswith("NN") for t in types):
        return 3
    return 2


def patient_id(model: Any) -> str:
    """Return the patient ID shown to users for a Patient resource.

    The identifier of type MR, else PI, else the first other identifier, a national number
    only when nothing else is there, else the resource id.
    """
    with_value = [i for i in (model.identifier or []) if i.value]
    idents = [i for i in with_value if i.use != "old"] or with_value
    if idents:
        return str(min(idents, key=_identifier_rank).value)  # min is stable: first of a rank
    return str(model.id)


def map_patient(ctx: Context, m: Any, where: str) -> None:
    """Patient -> patients row (+ death outcome)."""
    if not m.id and not any(i.value for i in (m.identifier or [])):
        raise ctx.error("Patient has neither an identifier nor an id", where)
    pid = patient_id(m)
    other = next((r["_where"] for r in ctx.batch.rows["patients"] if r["id"] == pid), None)
    if other is not None:
        raise ctx.error(f"patient ID {pid} is also used by {other}", where)
    system = next((i.system for i in (m.identifier or []) if i.value == pid), None)
    stored = next(iter(ctx.batch.query(ctx.store, "SELECT source_system FROM patients "
                                       "WHERE id = ?", [pid])), None)
    if system and stored and stored[0] not in (None, "csv", system):
        # the same number in two hospitals' systems is two people: never merge them silently
        raise ctx.error(f"patient ID {pid} of {system} is already the ID of a patient from "
                        f"{stored[0]}: two identifier systems give the same number", where)
    name = next((n for n in (m.name or []) if n.use == "official"), None) or \
        (m.name[0] if m.name else None)
    tags = {t.code for t in ((m.meta.tag or []) if m.meta else [])}
    deceased = iso(m.deceasedDateTime)
    # fhir.resources types gender as a free code; the schema allows only AdministrativeGender.
    if m.gender not in (None, "female", "male", "other", "unknown"):
        raise ctx.error(f"gender {m.gender!r} must be female, male, other or unknown", where)
    ctx.batch.add("patients", {
        "id": pid, "source_system": system,
        "source_id": m.id, "family_name": name.family if name else None,
        "given_name": " ".join(name.given or []) if name else None,
        "birth_date": iso(m.birthDate), "sex": m.gender or "unknown",
        "deceased_date": deceased, "synthetic": int(bool(tags & {"synthetic", "HTEST"})),
        "source_file": str(ctx.path), "_where": where,
        "extra": {"identifiers": [{"system": i.system, "value": i.value}
                                  for i in (m.identifier or [])]}})
    if deceased or m.deceasedBoolean:
        ctx.batch.add("outcomes", _row(ctx, pid, f"{source_key(ctx, m, where)}#death", where,
                                       kind="death", date=deceased, detail="deceased"))


def _is_primary(m: Any, system: str | None, code: str | None) -> bool:
    profiles = " ".join(m.meta.profile or []) if m.meta else ""
    if "secondary-cancer" in profiles:
        return False
    if "primary-cancer" in profiles:
        return True
    if code and codes.is_icd10(system) and re.match(r"C\d\d", code.upper()):
        return not ("C77" <= code[:3].upper() <= "C79")
    return False


def map_condition(ctx: Context, m: Any, where: str) -> None:
    """Condition -> conditions row (site, morphology, laterality, stage).

    A refuted diagnosis is not stored (counted); a differential one is stored but is never the
    primary cancer. The verification status is kept in ``extra``.
    """
    pid = ctx.patient_for(m.subject, where)
    verification = next((c for _, c, _ in codings(m.verificationStatus) if c), None)
    if verification == "refuted":  # ruled out: must never become the patient's cancer
        ctx.batch.skipped["Condition (refuted)"] += 1
        return
    icd10 = next(((s, c, d) for s, c, d in codings(m.code) if codes.is_icd10(s)), None)
    system, code, display, _ = pick_code(m.code)
    if icd10:
        system, code, display = icd10[0], icd10[1], icd10[2] or display
    elif code is not None:
        ctx.batch.unknown(system, code, display, where)
    morphology = next((c for s, c, _ in codings(m.code) if c and re.fullmatch(r"\d{4}/\d", c)),
                      None)
    ext = extension(m, "mcode-histology-morphology-behavior") or extension(m, "morphology")
    value = ext_value(ext)
    other_morphology = []
    if value is not None and hasattr(value, "coding"):
        # the column holds ICD-O-3 (8500/3); mCODE's SNOMED morphology codes go to extra
        for s, c, d in codings(value):
            if c and re.fullmatch(r"\d{4}/\d", c):
                morphology = c
            elif c:
                other_morphology.append([s, c, d])
    site, laterality = None, None
    for body in m.bodySite or []:
        site = next((c for s, c, _ in codings(body) if s == codes.ICDO3), site)
        lat = ext_value(extension(body, "mcode-laterality-qualifier")
                        or extension(body, "laterality"))
        for _, c, d in codings(lat) if lat is not None else []:
            laterality = _LATERALITY.get(c or "", d)
        # laterality sent as a bodySite (or a coding of one) rather than as its extension
        laterality = laterality or next((_LATERALITY[c] for _, c, _ in codings(body)
                                         if c in _LATERALITY), None)
    primary = _is_primary(m, system, code) and verification != "differential"
    topography = re.match(r"(C\d\d)\.?(\d)?", code.upper()) if code else None
    if site is None and primary and topography and codes.is_icd10(system):
        # ICD-O-3 topography shares the ICD-10 C00-C80 codes, at 4 characters (ICD-10-CM
        # C50.912 is site C50.9)
        site = ".".join(filter(None, topography.groups()))
    onset, _ = _period(m, "onset")
    row = _row(ctx, pid, source_key(ctx, m, where), where, is_primary_cancer=int(primary),
               code_system=system, code=code, display=display or (m.code.text if m.code else
                                                                  None),
               icdo3_site=site, icdo3_morphology=morphology, laterality=laterality,
               diagnosis_date=onset or iso(m.recordedDate),
               status=next((c for _, c, _ in codings(m.clinicalStatus)), None),
               markers={}, extra={"codings": codings(m.code)})
    if verification is not None:
        row["extra"]["verification"] = verification
    if other_morphology:
        row["extra"]["morphology_codings"] = other_morphology
    for stage in m.stage or []:
        kind = "pathological" if "path" in " ".join(
            str(x) for x in [getattr(stage.type, "text", ""), *codings(stage.type)]).lower() \
            else "clinical"
        _, scode, sdisplay, _ = pick_code(stage.summary)
        row[f"{kind}_stage"] = getattr(stage.summary, "text", None) or scode or sdisplay
        for ref in stage.assessment or []:
            row["extra"].setdefault("assessments", []).append(ref.reference)
    ctx.batch.add("conditions", row)


def coded_text(key: str | None, cc: Any) -> str | None:
    """Return the normalised text of a coded value (receptor status, yes/no, TNM class)."""
    found = codings(cc)
    text = getattr(cc, "text", None)
    candidates = [c for _, c, _ in found if c] + [d for _, _, d in found if d] + \
        ([text] if text else [])
    lowered = [c.lower() for c in candidates]
    if key in ("er", "pr", "her2"):
        # free text as pathology systems send it: "Positive (90 %)", "négatif, score 0"
        first_words = [w.group(0) for w in (re.match(r"[^\W\d_]+", c) for c in lowered) if w]
        for c in candidates + lowered + first_words:
            if c in _POSITIVE:
                return "positive"
            if c in _NEGATIVE:
                return "negative"
            if c in _EQUIVOCAL:
                return "equivocal"
        return "unknown"
    for c in candidates:
        if c in _YES:
            return "yes"
        if c in _NO:
            return "no"
    if text:
        return str(text)
    for _, code, display in found:
        if code and not code.isdigit():
            return code
        if display:
            return display
    return candidates[0] if candidates else None


def map_observation(ctx: Context, m: Any, where: str) -> None:
    """Observation -> observations row (value in canonical unit; disease status -> outcome)."""
    from oncoboard.patients import fhir_values

    pid = ctx.patient_for(m.subject, where)
    if m.status == "cancelled":  # never done: no result to store (and often no value)
        ctx.batch.skipped["Observation (cancelled)"] += 1
        return
    system, code, display, known = pick_code(m.code)
    if known is None:
        ctx.batch.unknown(system, code, display, where)
    category = known.category if known else next(
        (c for cc in (m.category or []) for _, c, _ in codings(cc) if c), "other")
    start, _ = _period(m, "effective")
    extra: dict[str, Any] = {}
    if known is not None and (system, code) != (known.system, known.code):
        # an alias (e.g. mCODE's ER LOINC 85337-4): stored under the code plugins look up
        extra["code_as_received"] = [system, code]
        system, code = known.system, known.code
    row = _row(ctx, pid, source_key(ctx, m, where), where, category=category, code_system=system,
               code=code, display=display, effective=start or iso(m.effectiveInstant)
               or iso(m.issued), extra=extra)
    focus = next((ctx.resolve(f) for f in (m.focus or []) if ctx.resolve(f) is not None), None)
    if focus is not None and focus.get_resource_type() == "Condition":
        row["condition_id"] = f"{pid}/{source_key(ctx, focus, where)}"
    fhir_values.fill_value(ctx, m, known, row, where)
    impossible = codes.impossible_value(known, row.get("value_num"))
    if impossible:
        raise ctx.error(impossible, where)
    if known is not None and known.category in ("laboratory", "vital-signs") and \
            row.get("value_num") is None and row.get("value_text") is not None:
        # stored as text, a lab is never found by the plugins' numeric look-ups
        raise ctx.error(f"{known.key} {row['value_text']!r} is not a number: send a "
                        f"valueQuantity in {known.unit}", where)
    ctx.batch.add("observations", row)
    if known is not None and known.key == "disease_status":
        status = next((c for _, c, _ in codings(m.valueCodeableConcept)), None)
        kind = codes.DISEASE_STATUS.get(status or "", "other")
        ctx.batch.add("outcomes", _row(ctx, pid, f"{source_key(ctx, m, where)}#status", where,
                                       kind=kind, date=row["effective"],
                                       detail=row.get("value_text")))


def map_encounter(ctx: Context, m: Any, where: str) -> None:
    """Encounter of an inpatient/emergency class -> hospitalisation outcome."""
    cls = m.class_fhir.code if m.class_fhir else None
    if cls not in _HOSPITAL_CLASSES:
        ctx.batch.skipped[f"Encounter (class {cls})"] += 1
        return
    if m.status == "cancelled":  # an admission that did not happen is no hospitalisation
        ctx.batch.skipped["Encounter (cancelled)"] += 1
        return
    pid = ctx.patient_for(m.subject, where)
    flag = ext_value(extension(m, "unplanned"))
    priority = {c for _, c, _ in codings(m.priority)}
    admit = {c for _, c, _ in codings(m.hospitalization.admitSource)} if m.hospitalization \
        else set()
    unplanned = bool(flag) if flag is not None else (
        cls == "EMER" or bool(priority & {"EM", "UR"}) or "emd" in admit)
    start, end = (iso(m.period.start), iso(m.period.end)) if m.period else (None, None)
    reason = "; ".join(filter(None, (getattr(r, "text", None) or next(
        (d for _, _, d in codings(r) if d), None) for r in m.reasonCode or [])))
    ctx.batch.add("outcomes", _row(ctx, pid, source_key(ctx, m, where), where,
                                   kind="hospitalisation", date=start, end_date=end,
                                   unplanned=int(unplanned), detail=reason or None,
                                   extra={"class": cls}))


def _documents() -> dict[str, Callable[[Context, Any, str], None]]:
    from oncoboard.patients import fhir_documents as d

    return {"DocumentReference": d.map_document, "Composition": d.map_composition,
            "CarePlan": d.map_care_plan}


def _treatments() -> dict[str, Callable[[Context, Any, str], None]]:
    from oncoboard.patients import fhir_treatments as t

    return {"Procedure": t.map_procedure, "MedicationRequest": t.map_medication,
            "MedicationAdministration": t.map_medication,
            "MedicationStatement": t.map_medication}


@functools.cache
def mappers() -> dict[str, Callable[[Context, Any, str], None]]:
    """Return the mapper of each stored resource type (documents and treatments map elsewhere)."""
    return {"Patient": map_patient, "Condition": map_condition, "Observation": map_observation,
            "Encounter": map_encounter, **_documents(), **_treatments()}


def group_regimens(ctx: Context) -> None:
    """Merge medication rows of the same regimen into one treatment row."""
    from oncoboard.patients.fhir_treatments import merge_regimens

    merge_regimens(ctx.batch)


def link_stage_assessments(ctx: Context) -> None:
    """Point the Observations named in ``Condition.stage.assessment`` at that Condition.

    The importer then copies their TNM values onto that Condition rather than onto the
    patient's latest primary cancer.
    """
    owner: dict[str, str] = {}
    for row in ctx.batch.rows["conditions"]:
        for reference in row.get("extra", {}).get("assessments", []):
            target = ctx.resources.get(reference)
            if target is not None and target.get_resource_type() == "Observation":
                owner[source_key(ctx, target, row["_where"])] = row["id"]
    if owner:
        for obs in ctx.batch.rows["observations"]:
            if obs["source_id"] in owner and not obs.get("condition_id"):
                obs["condition_id"] = owner[obs["source_id"]]

