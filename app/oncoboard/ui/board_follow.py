"""The board view follows changes made elsewhere: its agenda, its case and its presenter window.

A mixin of :class:`~oncoboard.ui.board_view.BoardView` (split out by responsibility): the
board's watcher (:class:`~oncoboard.ui.board_watch.BoardWatcher`) reports a change of a meeting
or of the record of a patient on the agenda; the board and the presenter read it again on a
worker thread with their own connection (:mod:`oncoboard.ui.board_jobs`,
:mod:`oncoboard.ui.live_refresh`) and show it in place, and an open decision form is told.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt

from oncoboard.dates import local_time
from oncoboard.ui import access_log, workers
from oncoboard.ui.board_jobs import board_job, change_kind_text
from oncoboard.ui.board_presenter import case_html
from oncoboard.ui.live_refresh import Refresher

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    """Translate `text` in the board view's context."""
    return QCoreApplication.translate("BoardView", text)


class BoardFollowMixin:
    """What :class:`~oncoboard.ui.board_view.BoardView` does when the feed reports a change."""

    # set by BoardView.__init__
    store: Any
    ctx: Any
    meetings: Any
    cases: Any
    detail: Any
    meeting_id: int | None
    patient_id: str | None
    presenter: Any
    presenter_meeting_id: int | None
    decision_dialog: Any
    presenter_refresher: Refresher
    board_refresher: Refresher
    meeting_selected: Any
    _opened: tuple[int, str] | None
    _stale_images: set[str]
    _presenter_only: set[str] | None
    _presenter_notice: str
    _board_said: str

    def _fill_meetings(self, meetings: list[Any], select: int | None) -> int:
        raise NotImplementedError

    def _fill_cases(self, cases: list[Any], decided: Any, select: str | None) -> int:
        raise NotImplementedError

    def _update_buttons(self) -> None:
        raise NotImplementedError

    def _say(self, text: str) -> None:
        raise NotImplementedError

    def agenda_patients(self) -> list[str]:
        """Return the patients on the agenda shown."""
        return [str(self.cases.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.cases.count())]

    def _on_board_changed(self, changes: Any) -> None:
        """Another workstation (or process) changed the board or a record it shows: reload
        what shows it and say who changed what, when."""
        if changes.meetings or changes.touches(None, self.agenda_patients()):
            self._board_said = self._changed_text(changes, self.meeting_id)
            self.board_refresher.request()  # read off the screen's thread, shown in place
        presenter = self.presenter
        if presenter is not None and presenter.isVisible() and changes.touches(
                self.presenter_meeting_id, presenter.patient_ids):
            for pid, kinds in changes.patients.items():
                if {"imaging", "measurements"} & set(kinds):
                    self._stale_images.add(pid)
            if changes.agenda_changed(self.presenter_meeting_id):
                self._presenter_only = None
            elif self._presenter_only is not None:
                self._presenter_only |= set(changes.patients)
            self._presenter_notice = self._changed_text(changes, self.presenter_meeting_id)
            self.presenter_refresher.request()
        if self.decision_dialog is not None:
            self.decision_dialog.remote_changed(changes)

    def _changed_text(self, changes: Any, meeting_id: int | None) -> str:
        """Say who changed what, when: a case shown first (its decision, its results), else
        the meeting (its agenda)."""
        shown = set(self.presenter.patient_ids if self.presenter is not None else [])
        shown |= set(self.agenda_patients())
        for pid, kinds in reversed(changes.patients.items()):
            if pid in shown:
                kind, (by, at) = max(kinds.items(), key=lambda k: k[1][1])
                return tr("Patient {p}: {what} changed by {user} at {time}: reloaded.").format(
                    p=pid, what=change_kind_text(kind), user=by, time=local_time(at))
        mine = changes.meetings.get(meeting_id) if meeting_id is not None else None
        if mine is not None:
            by, at = mine
            return tr("Meeting {m} was changed by {user} at {time}: reloaded.").format(
                m=meeting_id, user=by, time=local_time(at))
        return ""

    def _board_task(self) -> workers.Task:
        return workers.Task(board_job, self.store, self.meeting_id, self.patient_id,
                            name="board refresh")

    def _on_board_read(self, read: Any) -> None:
        """Show the board read again: the same meeting and case selected, the case text
        scrolled as it was (a case removed elsewhere leaves the first one selected)."""
        if read.asked != (self.meeting_id, self.patient_id):
            self.board_refresher.request()  # the user moved on meanwhile: read what they see
            return
        bar = self.detail.verticalScrollBar()
        scrolled, same = bar.value(), read.patient_id == self.patient_id
        row = self._fill_meetings(read.meetings, read.meeting_id)
        self.meetings.blockSignals(True)
        if self.meetings.count():
            self.meetings.setCurrentRow(row)
        self.meetings.blockSignals(False)
        moved = read.meeting_id != self.meeting_id
        self.meeting_id = read.meeting_id
        row = self._fill_cases(read.cases, read.decided, read.patient_id)
        self.cases.blockSignals(True)
        if self.cases.count():
            self.cases.setCurrentRow(row)
        self.cases.blockSignals(False)
        self.patient_id = read.patient_id
        if read.view is None:
            self.detail.setHtml(f"<p>{tr('No cases yet: add one.')}</p>")
        else:
            opened = (int(read.meeting_id), str(read.patient_id))
            if opened != self._opened:  # the case shown changed: a new opening
                access_log.record(self.store, [opened[1]], "board.case")
                self._opened = opened
            self.detail.setHtml(case_html(read.view))
            if same:
                bar.setValue(scrolled)
        self._update_buttons()
        if moved and self.meeting_id is not None:
            self.meeting_selected.emit(self.meeting_id)
        said, self._board_said = self._board_said, ""
        if said:
            self._say(said)

    # --- the presenter follows changes --------------------------------------------------------
    def _after_own_write(self, patient_id: str | None = None) -> None:
        """This view wrote (and reloaded itself, the feed's head taken as seen): the presenter,
        which the watcher will not wake for it, is read again in place (`patient_id`: only
        that case's decision changed)."""
        if self.presenter is not None and self.presenter.isVisible():
            self.refresh_presenter(patient_id=patient_id)

    def refresh_presenter(self, notice: str = "", patient_id: str | None = None
                          ) -> workers.Task | None:
        """Read the presented cases again (off the screen's thread) and show them in place:
        the case of `patient_id` only, else every case."""
        if self.presenter is None:
            return None
        self._presenter_notice = notice
        if patient_id is None or self._presenter_only is None:
            self._presenter_only = None
        else:
            self._presenter_only.add(patient_id)
        return self.presenter_refresher.request()

    def _presenter_task(self) -> workers.Task | None:
        from oncoboard.ui.live_refresh import presenter_job

        if self.presenter is None or self.presenter_meeting_id is None:
            return None
        shown = {v.case.patient_id: v for v in self.presenter.views}
        stale, self._stale_images = self._stale_images, set()
        only, self._presenter_only = self._presenter_only, set()
        return workers.Task(presenter_job, self.store, self.ctx.settings,
                            self.presenter_meeting_id, shown, only, stale,
                            name="presenter refresh")

    def _on_presenter_read(self, read: Any) -> None:
        presenter = self.presenter
        if presenter is None or read.meeting_id != self.presenter_meeting_id:
            return
        notice, self._presenter_notice = self._presenter_notice, ""
        presenter.set_views(read.views, notice)

    def _on_read_failed(self, exc: BaseException) -> None:
        # a server briefly unreachable: the screen stays as it was; the next change reads again
        log.warning("board refresh failed: %s", exc)
