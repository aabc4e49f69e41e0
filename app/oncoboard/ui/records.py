"""The patient record as the widgets read it: thin adapters over ``oncoboard.patients.record``.

The core returns frozen dataclasses; the widgets get plain dicts (``asdict``) so that a view can
also be fed from a JSON export or a test. Nothing here decides anything clinical: the only
additions are display helpers (HTML-escaped snippets, series of values for plotting).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from oncoboard.dates import age_at
from oncoboard.patients import codes, record

if TYPE_CHECKING:
    from oncoboard.store import Store

Row = dict[str, Any]


def _dicts(items: list[Any]) -> list[Row]:
    return [asdict(x) for x in items]


def age_years(birth_date: str | None, on: dt.date | None = None) -> int | None:
    """Return the age in whole years on `on` (today by default), or None."""
    return age_at(birth_date, on or dt.date.today())


def list_patients(store: Store, query: str = "") -> list[Row]:
    """Return patients matching `query` (ID, name or diagnosis)."""
    return [p.to_dict() for p in record.list_patients(store, query or None)]


def summary(store: Store, patient_id: str) -> Row:
    """Return the summary card's facts (``record.get_summary`` as a dict)."""
    return record.get_summary(store, patient_id).to_dict()


def treatments(store: Store, patient_id: str) -> list[Row]:
    """Return the patient's treatments, oldest first."""
    return _dicts(record.treatments(store, patient_id))


def outcomes(store: Store, patient_id: str) -> list[Row]:
    """Return the patient's outcomes (relapse, hospitalisation, ...)."""
    return _dicts(record.outcomes(store, patient_id))


def notes(store: Store, patient_id: str) -> list[Row]:
    """Return the patient's notes, newest first."""
    rows = _dicts(record.notes(store, patient_id))
    return sorted(rows, key=lambda n: n.get("date") or "", reverse=True)


def imaging_studies(store: Store, patient_id: str) -> list[Row]:
    """Return one row per imaging study of the patient (date, description), if indexed."""
    try:
        from oncoboard.imaging import list_series
        series = list_series(store, patient_id)
    except Exception:  # noqa: BLE001 - no imaging index yet is not an error for the timeline
        return []
    studies: dict[str | None, Row] = {}
    for s in series:
        d = asdict(s) if hasattr(s, "__dataclass_fields__") else dict(vars(s))
        uid = d.get("study_uid") or d.get("series_uid")
        studies.setdefault(uid, {"date": _iso_date(d.get("study_date") or d.get("date")),
                                 "label": d.get("modality") or ""})
    return list(studies.values())


def response(store: Store, patient_id: str) -> Any:
    """Return the patient's RECIST course (`oncoboard.board.response.ResponseView`)."""
    from oncoboard.board.response import response_view

    return response_view(store, patient_id)


def _iso_date(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def lab_series(store: Store, patient_id: str) -> dict[str, Row]:
    """Return numeric lab/vital/marker series by code: dates, values, unit and normal range.

    The normal range is the one recorded with the value when present, else the code table's.
    """
    out: dict[str, Row] = {}
    for obs in record.observations(store, patient_id):
        if obs.value_num is None or obs.category not in ("laboratory", "vital-signs",
                                                         "tumor-marker"):
            continue
        code = obs.code or obs.display or "?"
        known = codes.lookup(obs.code_system, obs.code)
        entry = out.setdefault(code, {
            "code": code, "display": known.key if known else (obs.display or code),
            "long_name": known.display if known else obs.display,
            "unit": obs.unit or (known.unit if known else "") or "",
            "low": obs.reference_low if obs.reference_low is not None
            else (known.normal_low if known else None),
            "high": obs.reference_high if obs.reference_high is not None
            else (known.normal_high if known else None),
            "category": obs.category, "dates": [], "values": []})
        if obs.effective:
            entry["dates"].append(obs.effective)
            entry["values"].append(float(obs.value_num))
    order = {"laboratory": 0, "tumor-marker": 1, "vital-signs": 2}
    kept = [v for v in out.values() if v["values"]]
    kept.sort(key=lambda v: (order.get(v["category"], 3), -len(v["values"]), v["display"]))
    return {v["code"]: v for v in kept}


_OPEN, _CLOSE = "\x02", "\x03"


def search_notes(store: Store, text: str, limit: int = 100) -> list[Row]:
    """Return notes matching `text` (full text), each with an HTML snippet, matches highlighted."""
    hits = record.search_notes(store, text, limit=limit, mark=(_OPEN, _CLOSE), tokens=16)
    rows = []
    for hit in hits:
        row = asdict(hit)
        row["snippet_html"] = highlight_markers(row.pop("snippet") or "")
        rows.append(row)
    return rows


def highlight_markers(snippet: str) -> str:
    """Escape `snippet` for HTML and turn the match markers into highlighted spans."""
    escaped = html.escape(snippet)
    return (escaped.replace(_OPEN, '<b style="background:#f3b63f;color:#1b2027">')
            .replace(_CLOSE, "</b>"))


def prediction_events(store: Store, patient_id: str) -> list[Row]:
    """Return the patient's stored predictions (id, plugin, date) for the timeline."""
    try:
        from oncoboard.inference.prediction_store import list_for_patient
        stored = list_for_patient(store, patient_id)
    except Exception:  # noqa: BLE001 - no predictions table yet: nothing to draw
        return []
    return [{"id": p.id, "plugin_id": p.plugin.id, "created_at": p.created_at,
             "date": p.reference_date, "status": p.status} for p in stored]
