"""A meeting's board results as a FHIR R4 transaction Bundle, for the hospital's record.

Per case: the Patient (conditional create: a server that knows the patient's identifier keeps
its own resource, never overwritten), the current decision as a ``CarePlan``, the board report
as a ``DiagnosticReport`` with the case's PDF page in ``presentedForm``, each model result shown
as a ``RiskAssessment`` and one ``Provenance`` per resource. Every resource is validated with
fhir.resources (the R4B models the importer uses, which read and write R4) before the bundle is
returned.

Identifiers are stable, so exporting or sending again updates rather than duplicates:

- CarePlan ``urn:oncoboard:board-decision|<meeting uid>/<patient>`` (one per case; the decision's
  version is a second identifier, ``urn:oncoboard:board-decision-version|.../v2``);
- DiagnosticReport ``urn:oncoboard:board-report|<meeting uid>/<patient>``;
- RiskAssessment ``urn:oncoboard:prediction|<prediction id>``.

Each goes as a conditional update (``PUT CarePlan?identifier=system|value``); Provenance, which
has no identifier, as ``PUT Provenance/<id>`` with an id derived (UUID 5) from its target's
identifier. fullUrls are ``urn:uuid:`` UUID 5 of the same keys, so the file is the same on
every export but for times and the PDF.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pydantic

from oncoboard import __version__
from oncoboard.errors import BoardError
from oncoboard.identity import user_of

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

#: Fixed namespace of the UUID 5 ids and fullUrls (never change it: ids would change).
NAMESPACE = uuid.UUID("8f6e0c0a-5d1b-5f0e-9a55-0b0a2d7e6c14")
DECISION = "urn:oncoboard:board-decision"
DECISION_VERSION = "urn:oncoboard:board-decision-version"
REPORT = "urn:oncoboard:board-report"
PREDICTION = "urn:oncoboard:prediction"
PATIENT = "urn:oncoboard:patient-id"   # patients with no identifier system of their own
CODES = "urn:oncoboard:codes"
PLUGIN = "urn:oncoboard:plugin"
EXT_SHA256 = "urn:oncoboard:ext:model-sha256"
EXT_INTERVAL = "urn:oncoboard:ext:probability-interval"
EXT_SYNTHETIC = "urn:oncoboard:ext:synthetic"
EXT_OUTSIDE = "urn:oncoboard:ext:outside-intended-use"
_FHIR_ID = re.compile(r"^(Observation|Condition)/([A-Za-z0-9\-.]{1,64})$")


def _uuid(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


def _instant(value: str | None) -> str | None:
    """Return an ISO date-time FHIR accepts (with a zone), or a date, or None."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", value) else None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.isoformat(timespec="seconds")


def _narrative(lines: list[tuple[str, str]]) -> dict[str, str]:
    body = "".join(f"<p><b>{html.escape(k)}</b>: {html.escape(v)}</p>" for k, v in lines if v)
    return {"status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body or "<p>-</p>"}</div>'}


def _patient_identifier(store: Store, patient_id: str) -> tuple[str, str]:
    row = store.db.execute("SELECT source_system FROM patients WHERE id = ?",
                           [patient_id]).fetchone()
    system = row[0] if row and row[0] and row[0] != "csv" else PATIENT
    return system, patient_id


def _entry(full_url: str, resource: dict[str, Any], method: str, url: str,
           if_none_exist: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": url}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _token(system: str, value: str) -> str:
    """Return ``system|value`` for a search URL (each part percent-encoded, ``|`` kept)."""
    return f"{quote(system, safe=':/')}|{quote(value, safe=':/')}"


def _conditional(kind: str, system: str, value: str, resource: dict[str, Any]) -> dict[str, Any]:
    return _entry(f"urn:uuid:{_uuid(f'{kind}|{system}|{value}')}", resource, "PUT",
                  f"{kind}?identifier={_token(system, value)}")


def _provenance(target: dict[str, Any], recorded: str | None, agents: list[dict[str, Any]],
                activity: str) -> dict[str, Any]:
    pid = _uuid(f"Provenance|{target['fullUrl']}")
    resource = {"resourceType": "Provenance", "id": pid,
                "target": [{"reference": target["fullUrl"]}],
                "recorded": recorded or _instant(dt.datetime.now(dt.UTC).isoformat()),
                "activity": {"text": activity},
                "agent": agents}
    return _entry(f"urn:uuid:{pid}", resource, "PUT", f"Provenance/{pid}")


def _agent(kind: str, display: str) -> dict[str, Any]:
    return {"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
        "code": kind}]}, "who": {"display": display or "unknown"}}


def _basis(store: Store, prediction_id: str) -> list[dict[str, Any]]:
    """Return the References of the inputs' source Observations and Conditions.

    A record item imported from FHIR is referenced by its own ``Type/id`` (the hospital's); one
    from a CSV file or derived has no FHIR id and is named by display only.
    """
    from oncoboard.errors import OncoboardError
    from oncoboard.inference import prediction_store

    try:
        stored = prediction_store.get(store, prediction_id)
    except OncoboardError:
        return []
    found: dict[str, dict[str, Any]] = {}

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                if key in ("observation_id", "condition_id") and isinstance(sub, str):
                    table = "observations" if key == "observation_id" else "conditions"
                    row = store.db.execute(f"SELECT source_id FROM {table} WHERE id = ?",
                                           [sub]).fetchone()
                    source = row[0] if row else ""
                    kind = "Observation" if table == "observations" else "Condition"
                    if _FHIR_ID.match(source or ""):
                        found[source] = {"reference": source, "display": name}
                    else:
                        found.setdefault(f"{kind}:{sub}", {"type": kind,
                                                           "display": f"{name} ({kind} {sub})"})
                else:
                    walk(name, sub)
        elif isinstance(value, list):
            for sub in value:
                walk(name, sub)

    for name, record in sorted(stored.inputs.items()):
        walk(name, record.source)
    return list(found.values())


def _interval(lower: float | None, upper: float | None,
              level: float | None) -> list[dict[str, Any]]:
    parts = [{"url": key, "valueDecimal": float(v)}
             for key, v in (("low", lower), ("high", upper), ("level", level)) if v is not None]
    return [{"url": EXT_INTERVAL, "extension": parts}] if parts else []


def _predictions(p: Any) -> list[dict[str, Any]]:
    out = []
    for r in p.results:
        if r.kind == "survival" and r.curve is not None and r.curve.values:
            t = r.curve.times[-1]
            unit = r.time_unit or ""
            item: dict[str, Any] = {
                "outcome": {"text": f"{r.label} at {t:g} {unit}".strip()},
                "probabilityDecimal": float(r.curve.values[-1]),
                "extension": _interval(r.curve.lower[-1] if r.curve.lower else None,
                                       r.curve.upper[-1] if r.curve.upper else None,
                                       r.interval_level)}
            ucum = {"months": "mo", "years": "a", "days": "d", "weeks": "wk"}.get(unit)
            if ucum:
                item["whenRange"] = {"high": {"value": float(t), "unit": unit,
                                              "system": "http://unitsofmeasure.org",
                                              "code": ucum}}
        elif r.value is None:
            continue
        elif r.kind == "probability" and 0.0 <= float(r.value) <= 1.0:
            item = {"outcome": {"text": r.label}, "probabilityDecimal": float(r.value),
                    "extension": _interval(r.lower, r.upper, r.interval_level)}
        else:  # a score: not a probability, said as text with its interval
            item = {"outcome": {"text": r.label},
                    "qualitativeRisk": {"text": f"{r.value:g}{' ' + r.unit if r.unit else ''}"},
                    "extension": _interval(r.lower, r.upper, r.interval_level)}
        if r.band and "qualitativeRisk" not in item:
            item["qualitativeRisk"] = {"text": r.band}
        if not item["extension"]:
            del item["extension"]
        out.append(item)
    return out


def case_entries(store: Store, view: Any, pdf: bytes | None, *,
                 include_names: bool = False) -> list[dict[str, Any]]:
    """Return the Bundle entries of one case (see the module's docstring)."""
    pid = view.case.patient_id
    meeting = view.meeting
    case_key = f"{meeting.uid}/{pid}"
    system, value = _patient_identifier(store, pid)
    patient: dict[str, Any] = {"resourceType": "Patient",
                               "identifier": [{"system": system, "value": value}]}
    sex = view.identity.get("sex")
    if sex in ("female", "male", "other", "unknown"):
        patient["gender"] = sex
    if include_names:
        if view.identity.get("birth_date"):
            patient["birthDate"] = view.identity["birth_date"]
        name = view.identity.get("name") or ""
        if name:
            family, _, given = name.partition(", ")
            patient["name"] = [{"family": family, "given": given.split() if given else []}]
    if view.identity.get("synthetic"):
        patient["meta"] = {"tag": [{"system": CODES, "code": "synthetic"}]}
    patient_entry = _entry(f"urn:uuid:{_uuid(f'Patient|{system}|{value}')}", patient, "POST",
                           "Patient", if_none_exist=f"identifier={_token(system, value)}")
    subject = {"reference": patient_entry["fullUrl"]}
    assembler = _agent("assembler", f"Oncoboard {__version__}")
    entries = [patient_entry]
    risk_refs: dict[str, dict[str, Any]] = {}
    for p in view.predictions:
        if p.status != "ok":
            continue
        risk: dict[str, Any] = {
            "resourceType": "RiskAssessment", "status": "final",
            "identifier": [{"system": PREDICTION, "value": p.id}],
            "subject": subject, "occurrenceDateTime": _instant(p.created_at),
            "method": {"coding": [{"system": PLUGIN, "code": p.plugin_id,
                                   "version": p.plugin_version, "display": p.plugin_name}],
                       "text": f"{p.plugin_id} {p.plugin_version} sha256:{p.model_sha256}"},
            "extension": [{"url": EXT_SHA256, "valueString": p.model_sha256},
                          {"url": EXT_SYNTHETIC, "valueBoolean": bool(p.synthetic)},
                          {"url": EXT_OUTSIDE, "valueBoolean": bool(p.outside_intended_use)}],
            "basis": _basis(store, p.id), "prediction": _predictions(p),
            "note": [{"text": w} for w in p.plain_warnings()]}
        risk = {k: v for k, v in risk.items() if v not in ([], None)}
        risk["text"] = _narrative([("Model", f"{p.plugin_name} {p.plugin_version}"),
                                   ("Results", "; ".join(r.text() for r in p.results)),
                                   ("Warnings", "; ".join(p.plain_warnings()))])
        entry = _conditional("RiskAssessment", PREDICTION, p.id, risk)
        risk_refs[p.id] = {"reference": entry["fullUrl"]}
        entries += [entry, _provenance(entry, _instant(p.created_at),
                                       [_agent("author", f"{p.plugin_id} {p.plugin_version}"),
                                        assembler], "model result")]
    d = view.decision
    plan_ref = None
    if d is not None:
        lines = [("Question", view.case.question), ("Plan", d.plan), ("Rationale", d.rationale),
                 ("Options discussed", "; ".join(d.options)),
                 ("Departs from the model", d.departure_reason or "" if d.departs_from_model
                  else ""),
                 ("Attendees", "; ".join(f"{a.name} ({a.role})" if a.role else a.name
                                         for a in d.attendees)),
                 ("Amendment", f"version {d.version}: {d.amendment_reason}"
                  if d.amendment_reason else "")]
        care: dict[str, Any] = {
            "resourceType": "CarePlan", "status": "active", "intent": "plan",
            "identifier": [{"system": DECISION, "value": case_key},
                           {"system": DECISION_VERSION, "value": f"{case_key}/v{d.version}"}],
            "category": [{"coding": [{"system": CODES, "code": "board-decision",
                                      "display": "Tumour board decision"}],
                          "text": "Tumour board decision"}],
            "title": f"Tumour board {meeting.date}: {meeting.title}"[:200],
            "description": d.plan, "subject": subject, "created": _instant(d.decided_at),
            "author": {"display": d.recorded_by},
            "contributor": [{"display": a.name} for a in d.attendees],
            "supportingInfo": [risk_refs[i] for i in d.prediction_ids if i in risk_refs],
            "note": [{"text": f"Rationale: {d.rationale}"}] + (
                [{"text": f"Departs from the model: {d.departure_reason}"}]
                if d.departs_from_model else []),
            "text": _narrative(lines)}
        care = {k: v for k, v in care.items() if v not in ([], None, "")}
        entry = _conditional("CarePlan", DECISION, case_key, care)
        plan_ref = {"reference": entry["fullUrl"]}
        entries += [entry, _provenance(entry, _instant(d.decided_at),
                                       [_agent("author", d.recorded_by), assembler],
                                       f"board decision version {d.version}")]
    if pdf is not None:
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "status": "final",
            "identifier": [{"system": REPORT, "value": case_key}],
            "category": [{"coding": [{"system": CODES, "code": "board-report",
                                      "display": "Tumour board report"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "11488-4",
                                 "display": "Consult note"}], "text": "Tumour board report"},
            "subject": subject, "effectiveDateTime": meeting.date,
            "issued": _instant(dt.datetime.now(dt.UTC).isoformat()),
            "conclusion": d.plan if d is not None else "no decision recorded",
            "presentedForm": [{
                "contentType": "application/pdf",
                "data": base64.b64encode(pdf).decode(), "size": len(pdf),
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode(),  # noqa: S324
                "title": f"Tumour board {meeting.date} {pid}.pdf"}]}
        if plan_ref is not None:
            report["extension"] = [{"url": "urn:oncoboard:ext:board-decision",
                                    "valueReference": plan_ref}]
        entry = _conditional("DiagnosticReport", REPORT, case_key, report)
        entries += [entry, _provenance(entry, report["issued"],
                                       [_agent("author", meeting.created_by), assembler],
                                       "board report")]
    return entries


def validate(bundle: dict[str, Any]) -> None:
    """Validate the Bundle and every resource in it with fhir.resources; raise BoardError."""
    from oncoboard.patients.fhir_validation import model_class

    for i, entry in enumerate(bundle.get("entry", [])):
        res = entry["resource"]
        try:
            model_class(res["resourceType"]).model_validate(res)
        except pydantic.ValidationError as exc:
            raise BoardError(f"invalid FHIR {res['resourceType']} (entry {i}): "
                             f"{exc.errors()[0].get('msg')}", where="fhir") from exc
    try:
        model_class("Bundle").model_validate(bundle)
    except pydantic.ValidationError as exc:
        raise BoardError(f"invalid FHIR Bundle: {exc.errors()[0].get('msg')}",
                         where="fhir") from exc


def meeting_bundle(store: Store, meeting_id: int | str, *, patient_id: str | None = None,
                   include_names: bool = False, settings: Settings | None = None,
                   views: list[Any] | None = None) -> dict[str, Any]:
    """Return the meeting's (or one case's) FHIR R4 transaction Bundle, validated."""
    from oncoboard.board.caseview import meeting_case_views
    from oncoboard.board.export import audit_head
    from oncoboard.board.meetings import get_meeting
    from oncoboard.board.report import build_pdf

    meeting = get_meeting(store, meeting_id)
    views = views if views is not None else meeting_case_views(store, meeting.id,
                                                               settings=settings)
    if patient_id is not None:
        views = [v for v in views if v.case.patient_id == patient_id]
        if not views:
            raise BoardError(f"patient {patient_id} is not on meeting {meeting.id}'s agenda")
    head = audit_head(store)
    entries: list[dict[str, Any]] = []
    for view in views:
        pdf = build_pdf(meeting, [view], head=head, include_names=include_names,
                        generated_by=user_of(store).login)
        entries += case_entries(store, view, pdf, include_names=include_names)
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "identifier": {"system": "urn:oncoboard:board-meeting",
                             "value": meeting.uid + (f"/{patient_id}" if patient_id else "")},
              "timestamp": _instant(dt.datetime.now(dt.UTC).isoformat()),
              "entry": entries}
    validate(bundle)
    return bundle


def export_fhir(store: Store, meeting_id: int | str, path: str | Path, **kw: Any) -> Path:
    """Write the meeting's FHIR Bundle to `path` (atomically); return the path."""
    from oncoboard.board.export import atomic_write

    bundle = meeting_bundle(store, meeting_id, **kw)
    return atomic_write(path, json.dumps(bundle, indent=1, ensure_ascii=False).encode())
