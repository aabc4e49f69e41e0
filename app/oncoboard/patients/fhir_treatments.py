"""Treatments from FHIR: Procedure (surgery, radiotherapy) and Medication* (systemic therapy)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from oncoboard import units
from oncoboard.patients import codes
from oncoboard.patients.fhir_import import Context
from oncoboard.patients.fhir_map import (
    _RADIOTHERAPY,
    _SURGERY,
    _period,
    _row,
    codings,
    ext_value,
    extension,
    iso,
    pick_code,
    source_key,
)
from oncoboard.patients.importer import Batch


def _dose_gy(ctx: Context, q: Any, where: str) -> float | None:
    if q is None or q.value is None:
        return None
    unit = q.code or q.unit or "Gy"
    return units.to_canonical(float(q.value), unit, "Gy", file=str(ctx.path), where=where)


def _radiotherapy_dose(ctx: Context, m: Any, where: str) -> tuple[float | None, int | None]:
    dose = _dose_gy(ctx, ext_value(extension(m, "dose")), where)
    fractions = ext_value(extension(m, "fractions"))
    volume = extension(m, "mcode-radiotherapy-dose-delivered-to-volume")
    if volume is not None:
        dose = dose if dose is not None else _dose_gy(
            ctx, ext_value(extension(volume, "totalDoseDelivered")), where)
        fractions = fractions if fractions is not None else ext_value(
            extension(volume, "fractionsDelivered"))
    if fractions is None:
        fractions = ext_value(extension(m, "mcode-radiotherapy-sessions"))
    return dose, int(fractions) if fractions is not None else None


def _procedure_kind(m: Any) -> str:
    found = {c for cc in (m.category, m.code) for _, c, _ in codings(cc) if c}
    words = " ".join(filter(None, [getattr(m.code, "text", None), *(
        d for cc in (m.category, m.code) for _, _, d in codings(cc) if d)])).lower()
    if found & _RADIOTHERAPY or "radiother" in words or "radiation" in words:
        return "radiotherapy"
    if found & _SURGERY or "surg" in words or "ectomy" in words:
        return "surgery"
    return "other"


def map_procedure(ctx: Context, m: Any, where: str) -> None:
    """Procedure -> treatments row (surgery, radiotherapy with dose and fractions, other)."""
    pid = ctx.patient_for(m.subject, where)
    system, code, display, _ = pick_code(m.code)
    kind = _procedure_kind(m)
    if kind == "other" and code is not None:
        ctx.batch.unknown(system, code, display, where)
    start, end = _period(m, "performed")
    dose, fractions = _radiotherapy_dose(ctx, m, where) if kind == "radiotherapy" \
        else (None, None)
    body = next((getattr(b, "text", None) or next((d for _, _, d in codings(b) if d), None)
                 for b in m.bodySite or []), None)
    ctx.batch.add("treatments", _row(
        ctx, pid, source_key(ctx, m, where), where, kind=kind, code_system=system, code=code,
        display=display or getattr(m.code, "text", None), start_date=start, end_date=end,
        dose_gy=dose, fractions=fractions, status=m.status, body_site=body,
        intent=_text(ext_value(extension(m, "intent")) or ext_value(
            extension(m, "mcode-procedure-intent"))), extra={}))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "coding"):
        return getattr(value, "text", None) or next(
            (d or c for _, c, d in codings(value)), None)
    return str(value)


def _medication(ctx: Context, m: Any) -> Any:
    """Return the Medication a medicationReference points to (bundle or contained), or None."""
    reference = getattr(m.medicationReference, "reference", None) or ""
    if reference.startswith("#"):
        return next((c for c in m.contained or [] if c.id == reference[1:]
                     and c.get_resource_type() == "Medication"), None)
    found = ctx.resolve(m.medicationReference)
    if found is None:
        # versioned ("Medication/1/_history/2") or absolute ("http://h/fhir/Medication/1")
        parts = re.sub(r"/_history/[^/]+$", "", reference).split("/")
        found = ctx.resources.get("/".join(parts[-2:])) if len(parts) >= 2 else None
    return found


def _agent(ctx: Context, m: Any, where: str) -> tuple[str | None, str | None, str | None]:
    cc = m.medicationCodeableConcept
    if cc is None and m.medicationReference is not None:
        target = _medication(ctx, m)
        cc = target.code if target is not None else None
        if cc is None:
            if target is None:  # kept, and said: the agent of this treatment is not known
                ctx.batch.unknown("medicationReference", m.medicationReference.reference,
                                  m.medicationReference.display, where)
            return None, None, m.medicationReference.display
    if cc is None:
        return None, None, None
    found = codings(cc)
    name = getattr(cc, "text", None) or next((d for _, _, d in found if d), None)
    system, code = (found[0][0], found[0][1]) if found else (None, None)
    return system, code, name


def _known_agents(name: str) -> list[str]:
    """Return the agents of :data:`codes.AGENTS` named as words in a product name or text.

    RxNorm and hospital systems name products, not agents: "cisplatin 50 MG Injection",
    "Doxorubicin Hydrochloride", "pembrolizumab 25 MG/ML [Keytruda]", "CISPLATINE 1 mg/ml".
    """
    plain = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    words = set(re.findall(r"[a-z0-9]+", plain))
    # French INNs add an 'e' (cisplatine, doxorubicine, tamoxifène, fluorouracile)
    return sorted(agent for agent in codes.AGENTS if agent in words or agent + "e" in words)


def _dates(m: Any) -> tuple[str | None, str | None]:
    kind = m.get_resource_type()
    if kind == "MedicationRequest":
        for dosage in m.dosageInstruction or []:
            bounds = dosage.timing.repeat.boundsPeriod if dosage.timing and \
                dosage.timing.repeat else None
            if bounds is not None:
                return iso(bounds.start), iso(bounds.end)
        return iso(m.authoredOn), None
    return _period(m, "effective")


def map_medication(ctx: Context, m: Any, where: str) -> None:
    """Medication{Request,Administration,Statement} -> systemic treatments row."""
    pid = ctx.patient_for(m.subject, where)
    system, code, name = _agent(ctx, m, where)
    agent = (name or code or "unknown agent").lower()
    named = [] if agent in codes.AGENTS else _known_agents(agent)
    agents = named or [agent]
    known = all(a in codes.AGENTS for a in agents)
    kinds = {codes.AGENTS[a][0] for a in agents} if known else set()
    subkind = _text(ext_value(extension(m, "subkind"))) or \
        (next(iter(kinds)) if len(kinds) == 1 else "+".join(sorted(kinds)) or None)
    if not known and (system or code or name):
        ctx.batch.unknown(system, code, name, where)
    start, end = _dates(m)
    group = getattr(getattr(m, "groupIdentifier", None), "value", None) or \
        _text(ext_value(extension(m, "regimen-id")))
    intensity = ext_value(extension(m, "dose-intensity"))
    cycles, line = ext_value(extension(m, "cycles")), ext_value(extension(m, "line"))
    ctx.batch.add("treatments", _row(
        ctx, pid, source_key(ctx, m, where), where, kind="systemic", subkind=subkind,
        code_system=system, code=code, display=name,
        regimen=_text(ext_value(extension(m, "regimen"))), agents=agents,
        start_date=start, end_date=end, status=m.status,
        dose_intensity=float(intensity) if intensity is not None else None,
        cycles=int(cycles) if cycles is not None else None,
        line=int(line) if line is not None else None,
        intent=_text(ext_value(extension(m, "intent"))),
        extra={"regimen_group": group} if group else {}))


def merge_regimens(batch: Batch) -> None:
    """Merge systemic rows sharing a regimen group into one row listing every agent.

    The merged row keeps the earliest start, latest end, the smallest dose intensity (the most
    reduced agent) and the largest cycle count; its source_id is ``regimen/<group>``.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    kept = []
    for row in batch.rows["treatments"]:
        group = row.get("extra", {}).get("regimen_group")
        if row["kind"] != "systemic" or not group:
            kept.append(row)
            continue
        key = (row["patient_id"], group)
        target = merged.get(key)
        if target is None:
            target = dict(row, source_id=f"regimen/{group}", id=f"{key[0]}/regimen/{group}",
                          agents=[], code_system=None, code=None,
                          extra={"regimen_group": group, "sources": [], "codes": []})
            merged[key] = target
            kept.append(target)
        target["agents"] = sorted(set(target["agents"]) | set(row["agents"]))
        target["extra"]["sources"].append(row["source_id"])
        if row.get("code"):
            target["extra"]["codes"].append([row.get("code_system"), row["code"]])
        for col, pick in (("start_date", min), ("end_date", max), ("dose_intensity", min),
                          ("cycles", max), ("line", min)):
            values = [v for v in (target.get(col), row.get(col)) if v is not None]
            target[col] = pick(values) if values else None
        for col in ("regimen", "subkind", "intent", "status"):
            target[col] = target.get(col) or row.get(col)
        if target.get("subkind") != row.get("subkind") and row.get("subkind"):
            target["subkind"] = _combined(target["subkind"], row["subkind"])
    for target in merged.values():
        target["display"] = target.get("regimen") or "+".join(target["agents"])
    batch.rows["treatments"] = kept


def _combined(a: str, b: str) -> str:
    # chemotherapy plus an antibody stays chemotherapy-led; say both so nothing is hidden
    parts = sorted(set(a.split("+")) | {b})
    return "+".join(parts)
