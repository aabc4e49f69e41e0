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

from oncoboard.board.meetings import get_meeting, list_cases
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
        Called as ``progress(done, total, patient_id)`` as each case's inputs are assembled
        (the models then run once per plugin for the whole agenda).
    """
    from oncoboard.inference.batch import predict_many

    require(store, "model.run")
    meeting = get_meeting(store, meeting_id)
    cases = list_cases(store, meeting.id)
    if not cases:
        return []
    # one batch per plugin for the whole agenda, one transaction for every result
    done = predict_many(store, settings, [c.patient_id for c in cases], date=meeting.date,
                        plugin_ids=plugin_ids, progress=progress)
    runs = []
    for one in done:
        run = CaseRun(one.patient_id, one.predictions)
        if one.error is not None:
            log.warning("meeting %s: predictions for %s failed: %s", meeting.id,
                        one.patient_id, one.error.message)
            run.error = one.error.message
        runs.append(run)
    # the other workstations learn of the new results from the feed: the predictions were
    # noted for each patient in the transaction that stored them (inference.prediction_store)
    return runs
