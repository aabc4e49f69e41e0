"""The board's decisions: what was discussed, what was chosen, why, by whom, against which models.

A decision is recorded once per case; any later change is an amendment: a new version that
names the one it supersedes and says why. Earlier versions stay in the database (triggers refuse
UPDATE and DELETE on ``board_decisions``) and every decision and amendment is appended to the
hash-chained audit log in the same transaction, so a decision without its audit entry cannot
exist. When the board departs from a model's result it says why, and the decision keeps the ids
of the predictions that were on screen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncoboard.board.changes import note_change
from oncoboard.board.meetings import (
    Attendee,
    _attendees,
    _audit,
    _open_meeting,
    _text,
    audited,
    get_case,
    get_meeting,
    mark_held,
    now_utc,
)
from oncoboard.board.prediction_view import prediction_ids_for_patient
from oncoboard.board.versions import claim_decision
from oncoboard.errors import BoardError, NotFoundError, StaleWriteError
from oncoboard.identity import require

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """One version of the board's decision on a case."""

    id: int
    case_id: int
    meeting_id: int
    patient_id: str
    version: int
    supersedes: int | None
    amendment_reason: str | None
    options: tuple[str, ...]
    plan: str
    rationale: str
    attendees: tuple[Attendee, ...]
    prediction_ids: tuple[str, ...]
    departs_from_model: bool
    departure_reason: str | None
    decided_at: str
    recorded_by: str
    audit_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the decision as a JSON-ready mapping."""
        return {"id": self.id, "case_id": self.case_id, "meeting_id": self.meeting_id,
                "patient_id": self.patient_id, "version": self.version,
                "supersedes": self.supersedes, "amendment_reason": self.amendment_reason,
                "options": list(self.options), "plan": self.plan, "rationale": self.rationale,
                "attendees": [a.as_dict() for a in self.attendees],
                "prediction_ids": list(self.prediction_ids),
                "departs_from_model": self.departs_from_model,
                "departure_reason": self.departure_reason, "decided_at": self.decided_at,
                "recorded_by": self.recorded_by, "audit_hash": self.audit_hash}


_SELECT = ("SELECT d.*, c.meeting_id, c.patient_id FROM board_decisions d "
           "JOIN board_cases c ON c.id = d.case_id ")


def _decision(row: dict[str, Any]) -> Decision:
    return Decision(
        row["id"], row["case_id"], row["meeting_id"], row["patient_id"], row["version"],
        row["supersedes"], row["amendment_reason"], tuple(json.loads(row["options"])),
        row["plan"], row["rationale"],
        tuple(Attendee(a.get("name", ""), a.get("role", "")) for a in json.loads(row["attendees"])),
        tuple(str(p) for p in json.loads(row["prediction_ids"])), bool(row["departs_from_model"]),
        row["departure_reason"], row["decided_at"], row["recorded_by"], row["audit_hash"])


def decision_history(store: Store, meeting_id: int | str, patient_id: str) -> list[Decision]:
    """Return every version of the case's decision, oldest first (empty if none yet)."""
    case = get_case(store, meeting_id, patient_id)
    rows = store.db.query(_SELECT + "WHERE d.case_id = ? ORDER BY d.version", [case.id])
    return [_decision(r) for r in rows]


def current_decision(store: Store, meeting_id: int | str, patient_id: str) -> Decision | None:
    """Return the latest version of the case's decision, or None before the board decides."""
    history = decision_history(store, meeting_id, patient_id)
    return history[-1] if history else None


def meeting_decisions(store: Store, meeting_id: int | str) -> dict[str, Decision]:
    """Return the latest decision of each decided case of the meeting, by patient ID."""
    meeting = get_meeting(store, meeting_id)
    rows = store.db.query(_SELECT + "WHERE c.meeting_id = ? ORDER BY d.version", [meeting.id])
    return {r["patient_id"]: _decision(r) for r in rows}


def patient_decisions(store: Store, patient_id: str) -> list[Decision]:
    """Return the latest decision of each of the patient's decided cases, newest first."""
    rows = store.db.query(_SELECT + "WHERE c.patient_id = ? ORDER BY d.version", [patient_id])
    latest = {r["case_id"]: _decision(r) for r in rows}
    return sorted(latest.values(), key=lambda d: (d.decided_at, d.id), reverse=True)


def record_decision(store: Store, meeting_id: int | str, patient_id: str, *, plan: str,
                    rationale: str, options: Sequence[str] = (),
                    attendees: Sequence[str | Attendee] = (),
                    prediction_ids: Sequence[str] | None = None,
                    departs_from_model: str | None = None,
                    expected_version: int | None = None) -> Decision:
    """Record the board's first decision on a case and return it.

    Parameters
    ----------
    plan
        The chosen plan (required).
    rationale
        Why (required).
    options
        The options discussed.
    attendees
        Who decided, as `Attendee` or ``"Dr X (oncologist)"``; default the meeting's attendees.
        At least one is required.
    prediction_ids
        The predictions shown to the board; default the patient's latest stored predictions.
    departs_from_model
        If the decision departs from a model's result: the reason (required then).
    expected_version
        The decision version the caller read (0: none yet). Stated, a decision recorded
        meanwhile is a StaleWriteError; either way two workstations cannot both record one.

    Raises
    ------
    BoardError
        Empty plan or rationale, no attendee, meeting closed, decision already recorded
        (use `amend_decision`), unknown prediction, departure without a model result.
    NotFoundError
        Unknown meeting, or patient not on its agenda.
    """
    require(store, "decision.record")
    case = get_case(store, meeting_id, patient_id)
    current = current_decision(store, case.meeting_id, case.patient_id)
    if current is not None and expected_version is not None:
        raise _stale(current, expected_version)
    if current is not None:
        raise BoardError(f"patient {case.patient_id} already has a decision in meeting "
                         f"{case.meeting_id}: record an amendment instead", where="decision")
    return _write(store, case.meeting_id, case.patient_id, plan=plan, rationale=rationale,
                  options=options, attendees=attendees, prediction_ids=prediction_ids,
                  departs_from_model=departs_from_model, previous=None, reason=None,
                  read_version=0)


def amend_decision(store: Store, meeting_id: int | str, patient_id: str, *, reason: str,
                   plan: str | None = None, rationale: str | None = None,
                   options: Sequence[str] | None = None,
                   attendees: Sequence[str | Attendee] | None = None,
                   prediction_ids: Sequence[str] | None = None,
                   departs_from_model: str | None | bool = False,
                   expected_version: int | None = None) -> Decision:
    """Record a new version of the case's decision; the previous versions are kept.

    Fields left as None carry over from the current version. `departs_from_model`: a reason
    string sets it, None clears it, False (default) keeps the current one.
    `expected_version`: the version the amendment is based on (default: the current one read
    here); StaleWriteError, and nothing written, when another version was recorded since.
    """
    require(store, "decision.record")
    previous = current_decision(store, meeting_id, patient_id)
    if previous is None:
        raise BoardError(f"patient {patient_id} has no decision yet in meeting {meeting_id}: "
                         "record one before amending it", where="decision")
    if expected_version is not None and int(expected_version) != previous.version:
        raise _stale(previous, expected_version)
    why = _text(reason, "amendment reason", limit=2000)
    if departs_from_model is True:
        raise BoardError("say why the decision departs from the model (a reason, not True)",
                         where="departs from model")
    departure = (previous.departure_reason if departs_from_model is False
                 else departs_from_model)
    _require_change(previous, plan, rationale, options, attendees, prediction_ids, departure)
    return _write(store, previous.meeting_id, previous.patient_id,
                  plan=previous.plan if plan is None else plan,
                  rationale=previous.rationale if rationale is None else rationale,
                  options=previous.options if options is None else options,
                  attendees=previous.attendees if attendees is None else attendees,
                  prediction_ids=(previous.prediction_ids if prediction_ids is None
                                  else prediction_ids),
                  departs_from_model=departure if isinstance(departure, str) else None,
                  previous=previous, reason=why, read_version=previous.version)


def _stale(current: Decision, read: int) -> StaleWriteError:
    return StaleWriteError(f"the decision on patient {current.patient_id} in meeting "
                           f"{current.meeting_id}", changed_by=current.recorded_by,
                           changed_at=current.decided_at, version=current.version,
                           read_version=int(read))


def _require_change(previous: Decision, plan: str | None, rationale: str | None,
                    options: Sequence[str] | None, attendees: Sequence[Any] | None,
                    prediction_ids: Sequence[str] | None, departure: Any) -> None:
    """Refuse an amendment identical to the current version (e.g. --amend without --plan)."""
    def same(new: Any, old: Any) -> bool:
        return new is None or new == old

    def strip(xs: Sequence[str] | None) -> tuple[str, ...] | None:
        return None if xs is None else tuple(str(x).strip() for x in xs)

    if (same(plan and plan.strip(), previous.plan)
            and same(rationale and rationale.strip(), previous.rationale)
            and same(strip(options), previous.options) and attendees is None
            and same(strip(prediction_ids), previous.prediction_ids)
            and (departure if isinstance(departure, str) else None) == previous.departure_reason):
        raise BoardError(f"the amendment changes nothing in version {previous.version}: give "
                         "the new plan, rationale, options, attendees, predictions or departure",
                         where="decision")


def _check_predictions(store: Store, patient_id: str, ids: Sequence[str] | None,
                       departure: str | None) -> list[str]:
    known = prediction_ids_for_patient(store, patient_id)
    if ids is None:
        chosen = known.latest
    else:
        chosen = [str(i).strip() for i in ids if str(i).strip()]
        unknown = [i for i in chosen if i not in known.all]
        if unknown:
            raise NotFoundError(f"prediction {', '.join(unknown)} is not one of patient "
                                f"{patient_id}'s stored predictions", where="prediction")
    if departure is not None and not chosen:
        raise BoardError(f"patient {patient_id} has no stored model result to depart from",
                         where="departs from model")
    return chosen


def _write(store: Store, meeting_id: int, patient_id: str, *, plan: str, rationale: str,
           options: Sequence[str], attendees: Sequence[str | Attendee],
           prediction_ids: Sequence[str] | None, departs_from_model: str | None,
           previous: Decision | None, reason: str | None, read_version: int) -> Decision:
    user = require(store, "decision.record")
    meeting = _open_meeting(store, meeting_id)
    case = get_case(store, meeting.id, patient_id)
    people = _attendees(list(attendees)) or list(meeting.attendees)
    if not people:
        raise BoardError("a decision needs at least one attendee, e.g. 'Dr X (oncologist)'",
                         where="attendees")
    departure = None
    if departs_from_model is not None:
        departure = _text(departs_from_model, "departure reason", limit=2000)
    row: dict[str, Any] = {
           "case_id": case.id, "version": 1 if previous is None else previous.version + 1,
           "supersedes": None if previous is None else previous.id, "amendment_reason": reason,
           "options": json.dumps([_text(o, "option", limit=500) for o in options]),
           "plan": _text(plan, "plan", limit=2000),
           "rationale": _text(rationale, "rationale", limit=4000),
           "attendees": json.dumps([a.as_dict() for a in people]),
           "prediction_ids": json.dumps(_check_predictions(store, case.patient_id,
                                                           prediction_ids, departure)),
           "departs_from_model": int(departure is not None), "departure_reason": departure,
           "decided_at": now_utc(), "recorded_by": user.login}
    event = "board.decision.recorded" if previous is None else "board.decision.amended"
    with audited(store) as db:
        # the compare-and-set first: a decision recorded meanwhile stops this one here
        claim_decision(store, case.id, read_version)
        if meeting.status == "planned":
            mark_held(store, meeting, user.login, row["decided_at"])
        entry = _audit(store, event, {
            "meeting_id": meeting.id, "meeting_uid": meeting.uid, "case_id": case.id,
            "patient_id": case.patient_id, "version": row["version"],
            "supersedes": row["supersedes"], "departs_from_model": row["departs_from_model"],
            "prediction_ids": json.loads(row["prediction_ids"]),
            "content_sha256": content_hash(row)})
        row["audit_hash"] = entry.hash
        table = db["board_decisions"]
        table.insert(row)
        decision_id = int(table.last_pk)
        note_change(store, meeting.id, user.login, row["decided_at"], case.patient_id)
    log.info("%s: meeting %s, patient %s, version %s", event, meeting.id, case.patient_id,
             row["version"])
    rows = list(store.db.query(_SELECT + "WHERE d.id = ?", [decision_id]))
    return _decision(rows[0])


_CONTENT = ("case_id", "version", "supersedes", "amendment_reason", "options", "plan",
            "rationale", "attendees", "prediction_ids", "departs_from_model", "departure_reason",
            "decided_at", "recorded_by")


def content_hash(row: dict[str, Any]) -> str:
    """Return the sha256 of a decision row's content (what its audit entry vouches for)."""
    from oncoboard.audit import canonical_json, sha256_text

    return sha256_text(canonical_json({k: row[k] for k in _CONTENT}))


def verify_decisions(store: Store) -> list[Any]:
    """Return `audit.Problem` for each decision that no longer matches its audit entry.

    The audit chain proves its own entries intact; this proves each decision row is still the
    one its entry was written for, so a row edited behind the triggers' back is found, and that
    every decision the trail recorded still exists (a deleted amendment is found). Same
    shape as `oncoboard.inference.prediction_store.verify_predictions`, for `audit.verify`.
    """
    from oncoboard import audit

    by_hash = {e.hash: e for e in audit.entries(store) if e.event_type.startswith("board.decision")}
    problems = []
    seen: set[str] = set()
    for row in store.db.query("SELECT * FROM board_decisions ORDER BY id"):
        seen.add(row["audit_hash"] or "")
        entry = by_hash.get(row["audit_hash"] or "")
        if entry is None:
            problems.append(audit.Problem(0, "deleted",
                                          f"decision {row['id']} has no audit entry"))
        elif entry.payload.get("content_sha256") != content_hash(row):
            problems.append(audit.Problem(entry.seq, "edited", f"decision {row['id']} differs "
                                                               f"from its audit entry"))
    for digest, entry in by_hash.items():  # a decision (often the amendment) deleted
        if digest not in seen:
            p = entry.payload
            problems.append(audit.Problem(entry.seq, "deleted", f"decision version "
                                          f"{p.get('version')} of case {p.get('case_id')} "
                                          f"(entry {entry.seq}) is missing from the database"))
    return problems
