"""Everything one case shows on the presenter screen and on its report page, gathered once.

`case_view` collects, for a patient on a meeting's agenda: the identifiers (ID, age at the
meeting, sex, optionally the name), the record summary, the latest stored prediction of each
plugin (or a clear "no predictions yet"), the key image (an axial slice through the tumour with
its contour) and the board's decision with its history. Parts that are missing say why in a
note instead of failing, so a case can always be presented.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoboard.board.decisions import Decision, decision_history
from oncoboard.board.keyimage import KeyImage, key_image_for_patient
from oncoboard.board.meetings import BoardCase, Meeting, get_case, get_meeting, list_cases
from oncoboard.board.prediction_view import NO_PREDICTIONS, PredictionView, latest_predictions
from oncoboard.board.response import response_view
from oncoboard.dates import age_at
from oncoboard.patients.summary_text import summary_lines

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)


@dataclass
class CaseView:
    """One case of a meeting, ready to present or print.

    Attributes
    ----------
    identity
        ``id``, ``age`` (whole years at the meeting date), ``sex``, ``birth_date``, ``name``
        and ``synthetic``.
    summary
        The record summary (`oncoboard.patients.record.Summary`).
    summary_lines
        The summary as short "label: value" lines.
    predictions
        Latest prediction of each plugin; `predictions_note` says why when empty.
    key_image
        The key slice, or None; `image_note` says why.
    decision, history
        The current decision (None before the board decides) and every version, oldest first.
    response
        The RECIST 1.1 course (`oncoboard.board.response.ResponseView`), or None.
    """

    meeting: Meeting
    case: BoardCase
    total_cases: int
    identity: dict[str, Any]
    summary: Any
    summary_lines: list[tuple[str, str]]
    predictions: list[PredictionView]
    predictions_note: str
    key_image: KeyImage | None
    image_note: str
    decision: Decision | None
    history: list[Decision] = field(default_factory=list)
    response: Any = None

    @property
    def synthetic(self) -> bool:
        """Return whether the patient or any model shown is synthetic."""
        return bool(self.identity.get("synthetic")) or any(p.synthetic for p in self.predictions)


def _summary(store: Store, patient_id: str, on: str) -> tuple[Any, list[tuple[str, str]]]:
    from oncoboard.patients import record

    summary = record.get_summary(store, patient_id, at=on)
    return summary, summary_lines(summary)


def _identity(summary: Any, on: str) -> dict[str, Any]:
    p = summary.patient
    age = summary.age if summary.age is not None else age_at(p.birth_date, on)
    return {"id": p.id, "age": age, "sex": p.sex or "unknown",
            "birth_date": p.birth_date, "name": p.name, "synthetic": bool(p.synthetic)}


def case_view(store: Store, meeting_id: int | str, patient_id: str, *, with_image: bool = True,
              settings: Settings | None = None) -> CaseView:
    """Gather everything the case shows: identity, summary, predictions, key image, decision.

    Parameters
    ----------
    with_image
        Load the key image (reads the series from disk: the slow part; False for lists).
    settings
        Settings: the imaging cache.
    """
    meeting = get_meeting(store, meeting_id)
    case = get_case(store, meeting.id, patient_id)
    summary, lines = _summary(store, case.patient_id, meeting.date)
    identity = _identity(summary, meeting.date)
    predictions = latest_predictions(store, case.patient_id)
    for p in predictions:
        if p.reference_date and p.reference_date[:10] != meeting.date:
            # Inputs are taken as of the reference date: a result for another day may be stale.
            p.warnings.insert(0, f"computed for {p.reference_date[:10]}, not the meeting date "
                                 f"{meeting.date}")
    image, image_note = (None, "key image not loaded")
    if with_image:
        image, image_note = key_image_for_patient(store, case.patient_id, settings)
    history = decision_history(store, meeting.id, case.patient_id)
    return CaseView(meeting, case, len(list_cases(store, meeting.id)), identity, summary, lines,
                    predictions, "" if predictions else NO_PREDICTIONS, image, image_note,
                    history[-1] if history else None, history,
                    response_view(store, case.patient_id))


def meeting_case_views(store: Store, meeting_id: int | str, *, with_image: bool = True,
                       settings: Settings | None = None) -> list[CaseView]:
    """Return the case views of every case of the meeting, in presentation order."""
    return [case_view(store, meeting_id, c.patient_id, with_image=with_image, settings=settings)
            for c in list_cases(store, meeting_id)]
