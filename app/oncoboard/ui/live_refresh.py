"""Open screens follow changes made elsewhere: what they read again, read off the screen's thread.

The change feed (:mod:`oncoboard.store.feed`, watched by
:class:`~oncoboard.ui.board_watch.BoardWatcher`) says which meeting or which patient's record
changed. A screen showing it reads it again with a job here, on a pool thread with **its own
connection** (``store.another_connection()``: a SQLite connection or a PostgreSQL session must
not cross threads, and a site database's read may wait on the network), then the screen applies
the result in place, keeping its scroll position and selection.

:class:`Refresher` runs one job at a time per screen: a change that arrives while a read is under
way asks for one more read after it (never two at once, never an older answer shown last).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncoboard.ui import workers


@dataclass
class PatientRecord:
    """What the patient screen shows of one patient, read at once."""

    patient_id: str
    summary: dict[str, Any]
    treatments: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    imaging: list[dict[str, Any]]
    prediction_events: list[dict[str, Any]]
    labs: dict[str, Any]
    response: Any
    notes: list[dict[str, Any]]
    predictions: list[Any]
    decisions: list[Any]
    read_s: float = 0.0
    #: The patient's series (``SeriesInfo``), for the viewer's series list.
    series: list[Any] = field(default_factory=list)


def read_patient(store: Any, patient_id: str) -> PatientRecord:
    """Read everything the patient screen shows (on whichever thread owns `store`)."""
    from oncoboard.board.decisions import patient_decisions
    from oncoboard.inference.prediction_store import latest_for_patient
    from oncoboard.ui import records

    began = time.perf_counter()
    try:
        predictions = latest_for_patient(store, patient_id)
    except Exception:  # noqa: BLE001 - no predictions table yet: nothing to show
        predictions = []
    try:
        from oncoboard.imaging import list_series

        series = list_series(store, patient_id)
    except Exception:  # noqa: BLE001 - no imaging index here: nothing to list
        series = []
    return PatientRecord(
        patient_id, records.summary(store, patient_id), records.treatments(store, patient_id),
        records.outcomes(store, patient_id), records.imaging_studies(store, patient_id),
        records.prediction_events(store, patient_id), records.lab_series(store, patient_id),
        records.response(store, patient_id), records.notes(store, patient_id), predictions,
        patient_decisions(store, patient_id), time.perf_counter() - began, series)


def patient_job(task: workers.Task, store: Any, patient_id: str) -> PatientRecord:
    """Read the patient screen's record of `patient_id` (pool thread, its own connection)."""
    own = store.another_connection()
    try:
        return read_patient(own, patient_id)
    finally:
        own.close()


@dataclass
class PresenterRead:
    """The presenter's cases read again, and which of them are new on its agenda."""

    meeting_id: int
    views: list[Any]
    added: list[str] = field(default_factory=list)


def presenter_job(task: workers.Task, store: Any, settings: Any, meeting_id: int,
                  shown: dict[str, Any], only: set[str] | None,
                  stale_images: set[str]) -> PresenterRead:
    """Read the meeting's cases again (pool thread, its own connection).

    `shown`: the case views on screen, by patient. With `only` (the agenda did not change,
    only these patients' decisions or records did) the other cases are kept as they are; else
    every case is read. A key image already on screen is reused unless the patient is in
    `stale_images` (their images or measurements changed): loading one reads a series from
    disk, which a decision recorded elsewhere does not need.
    """
    from oncoboard.audit.access import record_accesses
    from oncoboard.board.caseview import case_view
    from oncoboard.board.keyimage import key_image_for_patient
    from oncoboard.board.meetings import list_cases

    own = store.another_connection()
    try:
        cases = list_cases(own, meeting_id)
        added = [c.patient_id for c in cases if c.patient_id not in shown]
        if added:  # a case added elsewhere is opened on this screen: logged as the first were
            record_accesses(own, added, "board.case")
        views = []
        for case in cases:
            pid = case.patient_id
            old = shown.get(pid)
            if old is not None and only is not None and pid not in only:
                views.append(old)
                continue
            view = case_view(own, meeting_id, pid, with_image=False, settings=settings)
            if old is not None and old.key_image is not None and pid not in stale_images:
                view.key_image, view.image_note = old.key_image, old.image_note
            else:
                view.key_image, view.image_note = key_image_for_patient(own, pid, settings)
            views.append(view)
        return PresenterRead(meeting_id, views, added)
    finally:
        own.close()


class Refresher:
    """Run a screen's read jobs one at a time; a change during a read asks for one more.

    Parameters
    ----------
    make_task
        Returns the task of one read (called when the read starts, so it reads what is
        current then).
    on_done
        Applies a read's result on the screen's thread.
    on_error
        Reports a read that failed (a server briefly unreachable: the next change reads again).
    """

    def __init__(self, make_task: Callable[[], workers.Task | None],
                 on_done: Callable[[Any], None], on_error: Callable[[BaseException], Any]):
        self.make_task, self.on_done, self.on_error = make_task, on_done, on_error
        self.task: workers.Task | None = None
        self.again = False
        self.outdated = False  # the read under way started before the screen's own reload

    @property
    def busy(self) -> bool:
        """Return whether a read is under way."""
        return self.task is not None

    def request(self) -> workers.Task | None:
        """Read now, or once more after the read under way; return the task started, if any."""
        if self.task is not None:
            self.again = True
            return None
        task = self.make_task()
        if task is None:
            return None
        self.task, self.outdated = task, False
        task.signals.finished.connect(lambda t=task: self._on_finished(t))
        return workers.start(task, on_done=self._on_done, on_error=self.on_error)

    def invalidate(self) -> None:
        """The screen just read (and showed) what is current itself: drop the answer of the
        read under way, which may be older, and read once more after it."""
        if self.task is not None:
            self.outdated = self.again = True

    def _on_done(self, result: Any) -> None:
        if not self.outdated:
            self.on_done(result)

    def _on_finished(self, task: workers.Task) -> None:
        if task is not self.task:
            return
        self.task = None
        if self.again:
            self.again = False
            self.request()
