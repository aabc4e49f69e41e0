"""A patient's record as text: the headline lines the board, the app and the CLI show, and the
full listing of ``oncoboard patients show``."""

from __future__ import annotations

from typing import Any

from oncoboard.patients import record
from oncoboard.store import Store

#: Short clinical names and units of the summary's markers (keys of codes.py / record).
MARKERS = {"er": ("ER", ""), "pr": ("PR", ""), "her2": ("HER2", ""),
           "ki67_percent": ("Ki-67", " %"), "ki67": ("Ki-67", " %"), "grade": ("grade", ""),
           "estrec": ("ER level", " fmol/mg"), "progrec": ("PR level", " fmol/mg"),
           "positive_nodes": ("positive nodes", ""), "tumour_size": ("tumour size", " mm"),
           "pdl1_tps": ("PD-L1 TPS", " %")}


def marker_text(key: str, value: object) -> str:
    """Return a marker as a clinician reads it: 'PD-L1 TPS 5 %', not 'pdl1_tps 5.0'."""
    name, unit = MARKERS.get(key, (key.replace("_", " "), ""))
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{name} {value}{unit}"


def _fmt_value(o: record.Observation) -> str:
    if o.value_num is not None:
        value = f"{o.value_num:g}"
        if o.unit and o.unit != "1":
            value += f" {o.unit}"
    else:
        value = o.value_text or ""
    if o.original_unit and o.original_unit != o.unit and o.original_value is not None:
        value += f" (as received: {o.original_value} {o.original_unit})"
    if o.reference_high is not None:
        # "[ref -5]" read as minus five: a range with no low bound is "up to"
        value += (f" [ref {o.reference_low:g}-{o.reference_high:g}]"
                  if o.reference_low is not None else f" [ref <= {o.reference_high:g}]")
    return value


def record_lines(store: Store, summary: record.Summary) -> list[str]:
    """Return the lines describing one patient's record."""
    p = summary.patient
    pid = p.id
    lines = [f"{p.id}  {p.name}" + ("  [SYNTHETIC]" if p.synthetic else ""),
             f"  sex {p.sex or '?'}, born {p.birth_date or '?'}, age {summary.age}"
             + (f", died {p.deceased_date}" if p.deceased_date else "")]
    c = summary.primary_cancer
    if c is not None:
        lines.append(f"  diagnosis {c.code} {c.display or ''} ({c.diagnosis_date or '?'})"
                     f"{', ' + c.laterality if c.laterality else ''}"
                     f"{', morphology ' + c.icdo3_morphology if c.icdo3_morphology else ''}")
        lines.append(f"  stage {summary.stage or '?'}  {summary.tnm or ''}")
    if summary.markers:
        lines.append("  markers " + ", ".join(marker_text(k, v)
                                              for k, v in summary.markers.items()))
    if summary.latest_ecog is not None:
        e = summary.latest_ecog
        lines.append(f"  ECOG {e.value_num:g} ({(e.effective or '')[:10]})"
                     if e.value_num is not None else f"  ECOG {e.value_text}")
    lines.append("  observations:")
    for o in record.observations(store, pid):
        lines.append(f"    {(o.effective or '')[:10]:<10} {o.display or o.code}: {_fmt_value(o)}")
    lines.append("  treatments:")
    for t in record.treatments(store, pid):
        what = t.regimen or t.display or t.code or ""
        detail = []
        if t.agents:
            detail.append("+".join(t.agents))
        if t.dose_gy is not None:
            detail.append(f"{t.dose_gy:g} Gy" + (f"/{t.fractions} fx" if t.fractions else ""))
        if t.cycles is not None:
            detail.append(f"{t.cycles} cycles")
        if t.dose_intensity is not None:
            detail.append(f"dose intensity {t.dose_intensity:.0%}")
        lines.append(f"    {t.start_date or '?':<10} {t.kind}/{t.subkind or '-'} {what} "
                     f"{'; '.join(detail)} [{t.status or ''}]")
    lines.append("  outcomes:")
    for out in record.outcomes(store, pid):
        flag = " (unplanned)" if out.unplanned else ""
        lines.append(f"    {out.date or '?':<10} {out.kind}{flag} {out.detail or ''}")
    lines.append("  notes:")
    for n in record.notes(store, pid):
        lines.append(f"    {(n.date or '')[:10]:<10} {n.note_type or ''} ({n.language or '?'},"
                     f" {n.author_role or '?'}): {n.text[:70].replace(chr(10), ' ')}...")
    return lines


def _fmt(value: Any) -> str:
    """Return a value as text, whole floats without their '.0' (ECOG 1, not 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Treatment statuses (FHIR Procedure / MedicationRequest / Statement) of a treatment not begun.
PLANNED_STATUSES = frozenset({"preparation", "draft", "planned", "intended", "not-started"})


def summary_lines(summary: Any) -> list[tuple[str, str]]:
    """Return the headline facts of a record summary as (label, value) pairs."""
    lines: list[tuple[str, str]] = []
    cancer = summary.primary_cancer
    if cancer is not None:
        diagnosis = " ".join(p for p in (cancer.code, cancer.display) if p)
        if cancer.laterality:
            diagnosis += f", {cancer.laterality}"
        if cancer.diagnosis_date:
            diagnosis += f" (diagnosed {cancer.diagnosis_date[:10]})"
        lines.append(("Diagnosis", diagnosis or "recorded without a code"))
        if cancer.icdo3_morphology:
            lines.append(("Morphology", cancer.icdo3_morphology))
    else:
        lines.append(("Diagnosis", "no primary cancer recorded"))
    stage = " ".join(p for p in (summary.stage, summary.tnm and f"({summary.tnm})") if p)
    if stage:
        lines.append(("Stage", stage))
    markers = [marker_text(k, v)
               for k, v in (summary.markers or {}).items() if v not in (None, "", {})]
    if markers:
        lines.append(("Markers", ", ".join(markers)))
    if summary.latest_ecog is not None:
        ecog = summary.latest_ecog
        lines.append(("ECOG", f"{_fmt(ecog.value)} ({(ecog.effective or '')[:10]})"
                               .replace(" ()", "")))
    # a radiotherapy in preparation or a drafted prescription is not what the patient is on
    names: dict[bool, list[str]] = {False: [], True: []}  # planned? -> names
    for t in summary.current_treatments:
        names[(t.status or "") in PLANNED_STATUSES].append(
            t.regimen or t.display or t.subkind or t.kind)
    lines.append(("Current treatment", ", ".join(c for c in names[False] if c) or "none recorded"))
    if any(names[True]):
        lines.append(("Planned treatment", ", ".join(c for c in names[True] if c)))
    return lines
