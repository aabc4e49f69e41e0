"""A demonstration tumour-board meeting on the synthetic demo cohort (``oncoboard demo``).

The meeting takes the specialty (breast -> ``sein``, lung -> ``thorax``, digestive ->
``digestif``) whose patients have the most image series, then the most patients, so that the
demonstration shows key images when the cohort has them. It puts up to six of those patients on
the agenda (those with images first) with a question that fits their diagnosis, and stays
``planned`` so that a user can hold it: present the cases, record decisions, export the report.
Calling it again returns the same meeting.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oncoboard.board.meetings import Attendee, Meeting, add_case, create_meeting, list_meetings

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

DEMO_TITLE = "Demonstration board (synthetic patients)"
DEMO_ATTENDEES = ["Dr Alice Roy (medical oncologist)", "Dr Marc Petit (radiologist)",
                  "Dr Sam Lee (surgeon)", "Dr Nadia Haddad (radiation oncologist)",
                  "Dr Jean Morel (pathologist)", "Ines Garcia (coordinating nurse)"]
_SPECIALTY = (("C50", "sein"), ("C34", "thorax"), ("C33", "thorax"), ("C15", "digestif"),
              ("C16", "digestif"), ("C18", "digestif"), ("C19", "digestif"),
              ("C20", "digestif"), ("C25", "digestif"))
QUESTIONS = {
    "sein": "Adjuvant chemotherapy after surgery, or endocrine therapy alone?",
    # the demo lung records plan radiotherapy then immunotherapy, no concurrent chemotherapy:
    # no toxicity model applies, so the question does not ask for one
    "thorax": "Thoracic radiotherapy then consolidation immunotherapy: expected response?",
    "digestif": "Adjuvant chemotherapy after resection?",
}
MAX_CASES = 6


def specialty_for(icd10: str | None) -> str:
    """Return the board specialty for an ICD-10 code ('' when none fits)."""
    code = (icd10 or "").upper()
    return next((s for prefix, s in _SPECIALTY if code.startswith(prefix)), "")


def _series_counts(store: Store) -> dict[str, int]:
    """Return the number of image series of each patient (empty without imaging)."""
    from oncoboard import imaging
    from oncoboard.board.keyimage import IMAGE_MODALITIES

    counts: dict[str, int] = {}
    for series in imaging.list_series(store):
        if series.patient_id and (series.modality or "").upper() in IMAGE_MODALITIES:
            counts[series.patient_id] = counts.get(series.patient_id, 0) + 1
    return counts


def create_demo_meeting(store: Store, patient_ids: Sequence[str] | None = None, *,
                        date: str | None = None) -> Meeting | None:
    """Create (once) the demo meeting and return it; None when there is no patient to discuss.

    Parameters
    ----------
    store
        The open store holding the demo cohort.
    patient_ids
        Patients to choose from; default every synthetic patient in the store.
    date
        Meeting day (default today; the demo passes the cohort's reference date).
    """
    for meeting in list_meetings(store):
        if meeting.title == DEMO_TITLE:
            return meeting
    from oncoboard.patients import record

    wanted = None if patient_ids is None else set(patient_ids)
    patients = [p for p in record.list_patients(store)
                if (p.id in wanted if wanted is not None else p.synthetic)]
    groups: dict[str, list[str]] = {}
    for p in patients:
        groups.setdefault(specialty_for(p.diagnosis), []).append(p.id)
    named = {k: v for k, v in groups.items() if k} or groups
    if not named:
        return None
    images = _series_counts(store)
    for ids in named.values():
        ids.sort(key=lambda pid: (-min(images.get(pid, 0), 1), pid))
    specialty = max(sorted(named), key=lambda k: (sum(images.get(p, 0) for p in named[k]),
                                                  len(named[k])))
    meeting = create_meeting(store, date=date or dt.date.today().isoformat(),
                             specialty=specialty or "general", title=DEMO_TITLE,
                             location="Meeting room 2 (demonstration)", attendees=DEMO_ATTENDEES)
    question = QUESTIONS.get(specialty, "Which treatment plan?")
    for pid in named[specialty][:MAX_CASES]:
        add_case(store, meeting.id, pid, question=question,
                 presenter=Attendee.parse(DEMO_ATTENDEES[0]).name)
    log.info("demo meeting %s: %s, %d cases", meeting.id, specialty,
             min(MAX_CASES, len(named[specialty])))
    return meeting
