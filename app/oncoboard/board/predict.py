"""Run the models for every case of a meeting, as of the meeting's date.

Before a board, the coordinator runs the applicable plugins on each patient on the agenda so the
presenter screen and the report show fresh results. The reference date is the meeting's date
(inputs are the record as it stood that day). A patient whose run fails for a reason the user can
act on (a plugin that cannot be loaded, for example) does not stop the others: the failure is
returned with the patient. Each stored prediction is audited by the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oncoboard.board.changes import note_change
from oncoboard.board.meetings import get_meeting, list_cases, now_utc
from oncoboard.errors import OncoboardError
from oncoboard.identity import require
from oncoboard.inference.prediction import Prediction

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)


@dataclass
class CaseRun:
    """What running the models did for one case."""

    patient_id: str
    predictions: list[Prediction] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        """Return one line per plugin run, or the error."""
        if self.error:
            return f"{self.patient_id}: error: {self.error}"
        if not self.predictions:
            return f"{self.patient_id}: no applicable plugin"
        parts = [f"{p.plugin.id} {p.status} ({p.id})" for p in self.predictions]
        return f"{self.patient_id}: " + ", ".join(parts)


def predict_meeting(store: Store, settings: Settings, meeting_id: int | str, *,
                    plugin_ids: Sequence[str] | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> list[CaseRun]:
    """Run the applicable plugins (or `plugin_ids`) on every case, dated the meeting's day.

    Parameters
    ----------
    progress
        Called as ``progress(done, total, patient_id)`` after each case.
    """
    from oncoboard.inference.engine import predict_patient

    user = require(store, "model.run")
    meeting = get_meeting(store, meeting_id)
    cases = list_cases(store, meeting.id)
    runs = []
    for done, case in enumerate(cases, start=1):
        run = CaseRun(case.patient_id)
        try:
            run.predictions = predict_patient(store, settings, case.patient_id,
                                              date=meeting.date, plugin_ids=plugin_ids)
        except OncoboardError as exc:
            log.warning("meeting %s: predictions for %s failed: %s", meeting.id,
                        case.patient_id, exc.message)
            run.error = exc.message
        runs.append(run)
        if progress is not None:
            progress(done, len(cases), case.patient_id)
    if cases:  # the case views changed: tell the other workstations
        with store.transaction():
            note_change(store, meeting.id, user.login, now_utc())
    return runs
