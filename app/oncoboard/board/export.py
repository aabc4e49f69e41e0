"""JSON export of a meeting, and the atomic file writes every board export uses.

The JSON document (schema ``oncoboard.board-export``, version 1, described in README,
"Tumour-board meetings") holds the meeting, its attendees, and for each case in order: the
patient's identifiers, the question, the summary lines, the predictions shown (with provenance,
intervals, curves and warnings), the key image's reference, the current decision and every
earlier version. Names are left out unless asked for. Files are written to a temporary file in
the target folder and renamed over the target, so a reader never sees half a report and a failed
export leaves nothing behind. Each case also carries its RECIST 1.1 response (``response``: the
table, treatments and the lesion measurements behind it, with series, instance, slice and both
ends of each axis; null when no lesion was measured).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard import __version__
from oncoboard.board.caseview import CaseView, meeting_case_views
from oncoboard.board.meetings import get_meeting, now_utc
from oncoboard.errors import BoardError
from oncoboard.identity import user_of

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

SCHEMA = "oncoboard.board-export"
SCHEMA_VERSION = 1


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file renamed over it; return the path."""
    target = Path(path).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise BoardError("the folder does not exist", file=folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BoardError(f"cannot write: {exc.strerror or exc}", file=target) from exc
    return target


def audit_head(store: Store) -> str | None:
    """Return the hash of the latest audit-log entry (None when the log is empty)."""
    from oncoboard import audit

    last = audit.entries(store, last=1)
    return last[0].hash if last else None


def case_dict(view: CaseView, *, include_names: bool = False) -> dict[str, Any]:
    """Return one case of the export."""
    ident = {k: view.identity[k] for k in ("id", "age", "sex", "synthetic")}
    if include_names:
        ident["name"] = view.identity["name"]
        ident["birth_date"] = view.identity["birth_date"]
    image = None
    if view.key_image is not None:
        k = view.key_image
        image = {"series_uid": k.series_uid, "modality": k.modality,
                 "description": k.description, "slice_index": k.slice_index,
                 "n_slices": k.n_slices, "structure": k.structure,
                 "window": {"name": k.window[0], "centre": k.window[1], "width": k.window[2]}}
    return {"position": view.case.position, "case_id": view.case.id, "patient": ident,
            "question": view.case.question, "presenter": view.case.presenter,
            "version": view.case.version, "updated_by": view.case.updated_by,
            "updated_at": view.case.updated_at,
            "summary": [{"label": a, "value": b} for a, b in view.summary_lines],
            "predictions": [p.as_dict() for p in view.predictions],
            "predictions_note": view.predictions_note,
            "key_image": image, "image_note": view.image_note if image is None else "",
            "decision": view.decision.as_dict() if view.decision else None,
            "decision_history": [d.as_dict() for d in view.history],
            "response": _response(view)}


def _response(view: CaseView) -> dict[str, Any] | None:
    """Return the RECIST course and the lesion measurements it was computed from."""
    if view.response is None or not view.response.has_data:
        return None
    return {**view.response.as_dict(), "measurements": view.response.measurements}


def meeting_export(store: Store, meeting_id: int | str, *, include_names: bool = False,
                   views: list[CaseView] | None = None, with_images: bool = True,
                   settings: Settings | None = None) -> dict[str, Any]:
    """Return the meeting as the JSON-ready export document."""
    meeting = get_meeting(store, meeting_id)
    if views is None:
        views = meeting_case_views(store, meeting.id, with_image=with_images, settings=settings)
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "generated_by": f"Oncoboard {__version__}", "generated_at": now_utc(),
            "generated_for": user_of(store).login, "audit_head": audit_head(store),
            "meeting": meeting.as_dict(),
            "attendees": [a.as_dict() for a in all_attendees(meeting, views)],
            "cases": [case_dict(v, include_names=include_names) for v in views]}


def all_attendees(meeting: Any, views: list[CaseView]) -> list[Any]:
    """Return the meeting's attendees and everyone named in a decision, each once, in order."""
    seen: dict[tuple[str, str], Any] = {}
    for person in [*meeting.attendees,
                   *(a for v in views if v.decision for a in v.decision.attendees)]:
        seen.setdefault((person.name.lower(), person.role.lower()), person)
    return list(seen.values())


def export_json(store: Store, meeting_id: int | str, path: str | Path, *,
                include_names: bool = False, views: list[CaseView] | None = None,
                settings: Settings | None = None) -> Path:
    """Write the meeting's JSON export to `path` (atomically) and return the path."""
    doc = meeting_export(store, meeting_id, include_names=include_names, views=views,
                         settings=settings)
    data = json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode("utf-8")
    out = atomic_write(path, data + b"\n")
    log.info("exported meeting %s as JSON (%d cases)", doc["meeting"]["id"], len(doc["cases"]))
    return out


def read_export(path: str | Path) -> dict[str, Any]:
    """Read a JSON export back, checking that it is one this version understands."""
    file = Path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoardError(f"not a readable board export: {exc}", file=file) from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise BoardError(f"not an Oncoboard board export (schema is not {SCHEMA!r})", file=file)
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise BoardError(f"board export version {doc.get('schema_version')!r} is not supported "
                         f"(this version reads {SCHEMA_VERSION})", file=file)
    return doc
