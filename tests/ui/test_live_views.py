"""The presenter, the patient screen and the decision form follow another workstation (SQLite).

"Another workstation" is a second connection to the same data folder signed in as bob, or a
separate process running the command line; the views are told only by the change feed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from ui_helpers import demo_reference_date, save_and_check, visible_texts

#: How long a view may take to show a change made elsewhere: the polling period and the read.
FEW_SECONDS_MS = 5000


@pytest.fixture
def board(window):  # noqa: ANN001, ANN201
    return window.show_view("board")


@pytest.fixture
def other(board):  # noqa: ANN001, ANN201
    """Another workstation: its own connection to the same database, another user."""
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(board.store.path)
    store.user = User("bob", workstation="ws-bob")
    yield store
    store.close()


@pytest.fixture
def meeting(board):  # noqa: ANN001, ANN201
    """A planned meeting with two cases, shown in the board view."""
    from oncoboard.board import meetings
    from oncoboard.ui import records

    pids = [p["id"] for p in records.list_patients(board.store)][:3]
    m = meetings.create_meeting(board.store, date="2026-12-11", specialty="thorax",
                                title="Live views board (UI test)",
                                attendees=["Dr Martin (oncologist)"])
    meetings.add_case(board.store, m.id, pids[0], question="Surgery or radiotherapy?")
    meetings.add_case(board.store, m.id, pids[1], question="Second-line chemotherapy?")
    board.refresh(select=m.id)
    board.watcher.seen()
    return SimpleNamespace(id=m.id, spare_patient=pids[2])


def _present(board, qtbot):  # noqa: ANN001, ANN202
    board.present()
    qtbot.waitUntil(lambda: board.presenter is not None and board.presenter.isVisible(),
                    timeout=60000)
    presenter = board.presenter
    qtbot.addWidget(presenter)
    return presenter


def test_the_presenter_follows_a_decision_and_the_agenda_changed_elsewhere(
        board, meeting, other, qtbot, tmp_path):  # noqa: ANN001
    from oncoboard.board import meetings
    from oncoboard.board.decisions import record_decision

    presenter = _present(board, qtbot)
    presenter.show_case(1)
    second = presenter.views[1].case.patient_id
    images = [v.key_image for v in presenter.views]
    record_decision(other, meeting.id, second, plan="Docetaxel (decided by bob)",
                    rationale="Progression after first line")
    qtbot.waitUntil(lambda: "Docetaxel (decided by bob)" in visible_texts(
        presenter.stack.currentWidget()), timeout=FEW_SECONDS_MS)
    assert presenter.index == 1 and presenter.views[1].case.patient_id == second
    assert "bob" in presenter.notice.text() and presenter.notice.isVisible()
    # the key images were not read again for a decision
    assert [v.key_image for v in presenter.views] == images
    path = tmp_path / "presenter-after-remote-decision.png"
    save_and_check(presenter, path)
    # the agenda: bob adds a case; the presenter counts it and stays on the same case
    meetings.add_case(other, meeting.id, meeting.spare_patient, question="Watch and wait?")
    qtbot.waitUntil(lambda: presenter.stack.count() == 3, timeout=FEW_SECONDS_MS)
    assert presenter.views[presenter.index].case.patient_id == second
    assert "2/3" in visible_texts(presenter.stack.currentWidget())
    save_and_check(presenter, tmp_path / "presenter-after-remote-agenda.png")


def test_a_remote_decision_keeps_unsaved_text_and_offers_reload(board, meeting, other, qtbot,
                                                                 tmp_path):  # noqa: ANN001
    from oncoboard.board.decisions import amend_decision, record_decision
    from oncoboard.board.meetings import get_meeting
    from oncoboard.ui.board_dialogs import DecisionDialog

    pid = board.patient_id
    record_decision(board.store, meeting.id, pid, plan="Lobectomy", rationale="Fit")
    board.watcher.seen()
    dialog = DecisionDialog(board.store, get_meeting(board.store, meeting.id), pid, "", board)
    qtbot.addWidget(dialog)
    board.decision_dialog = dialog  # as while record_decision() shows it
    dialog.show()
    dialog.plan.setPlainText("Segmentectomy (typed here, not saved)")
    amend_decision(other, meeting.id, pid, reason="new PET", plan="Chemoradiotherapy (bob)")
    qtbot.waitUntil(dialog.banner.isVisible, timeout=FEW_SECONDS_MS)
    assert "changed by bob at" in dialog.banner_text.text()
    assert "Chemoradiotherapy (bob)" in dialog.banner_text.text()
    assert dialog.plan.toPlainText() == "Segmentectomy (typed here, not saved)"  # kept
    assert dialog.reload_button.isVisible()
    assert dialog.banner.parent() is dialog  # a line in the form, not a message box
    save_and_check(dialog, tmp_path / "decision-banner.png")
    dialog.reload_button.click()
    assert dialog.plan.toPlainText() == "Chemoradiotherapy (bob)" and dialog.read_version == 2
    assert not dialog.banner.isVisible()
    # an untouched form follows the next change in place, without asking
    amend_decision(other, meeting.id, pid, reason="MDT", plan="SBRT (bob again)")
    qtbot.waitUntil(lambda: dialog.plan.toPlainText() == "SBRT (bob again)",
                    timeout=FEW_SECONDS_MS)
    assert dialog.read_version == 3 and not dialog.reload_button.isVisible()
    board.decision_dialog = None


def test_the_views_own_decision_is_not_reported_back(window, board, meeting, qtbot):  # noqa: ANN001
    from oncoboard.board.decisions import record_decision
    from oncoboard.store.feed import written_to
    from oncoboard.ui.board_watch import POLL_MS

    window.open_patient(board.patient_id)
    board.watcher.seen()
    with qtbot.assertNotEmitted(board.watcher.changed, wait=2 * POLL_MS):
        # the patient screen is another view on this workstation: it does follow it
        with qtbot.waitSignal(window.patient_view.record_refreshed, timeout=FEW_SECONDS_MS):
            with written_to(board.watcher.own):  # as the decision form does (BoardView._exec)
                record_decision(board.store, meeting.id, board.patient_id, plan="Lobectomy",
                                rationale="Fit")
    assert "Lobectomy" in window.patient_view.card.decision.text()


def test_the_patient_screen_follows_a_decision_and_a_measurement_made_elsewhere(
        window, board, meeting, other, qtbot):  # noqa: ANN001
    from oncoboard.board.decisions import record_decision
    from oncoboard.store.feed import note_record_change

    pid = board.patient_id
    window.open_patient(pid)
    view = window.patient_view
    view.notes.list.setCurrentRow(min(1, view.notes.list.count() - 1))
    note = view.notes.current_note_id()
    assert "Adjuvant osimertinib (bob)" not in view.card.decision.text()
    with qtbot.waitSignal(view.record_refreshed, timeout=FEW_SECONDS_MS):
        record_decision(other, meeting.id, pid, plan="Adjuvant osimertinib (bob)",
                        rationale="EGFR+")
    assert "Adjuvant osimertinib (bob)" in view.card.decision.text()
    assert "bob" in view.card.decision.text() and view.card.decision.isVisible()
    assert view.notes.current_note_id() == note  # the selection stayed
    assert "bob" in window.statusBar().currentMessage()
    # another patient's change is not this screen's business
    with qtbot.assertNotEmitted(view.record_refreshed, wait=2500):
        with other.transaction():
            note_record_change(other, [meeting.spare_patient], "measurements")


def _plugins(settings):  # noqa: ANN001, ANN202
    from oncoboard.inference.discovery import discover_plugins

    return [p for p in discover_plugins(settings) if p.enabled]


def test_predictions_run_by_the_command_line_show_in_the_open_patient_screen(window, ctx,
                                                                             qtbot):  # noqa: ANN001
    if not _plugins(ctx.settings):
        pytest.skip("no enabled plugin in this checkout")
    day = demo_reference_date(ctx.settings.data_dir)
    if day is None:
        pytest.skip("the demo cohort (with its board date) is not available")
    pid = "DEMO-CH-001"
    window.open_patient(pid)
    predictions = window.show_view("predictions")
    qtbot.waitUntil(lambda: bool(predictions.plugins), timeout=30000)
    before = set(predictions.shown)
    drawn = window.patient_view.timeline.item_count
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "app")}
    done = threading.Event()

    def cli() -> None:
        subprocess.run([sys.executable, "-m", "oncoboard", "--data-dir",
                        str(ctx.settings.data_dir), "predict", pid, "--date", day],
                       env=env, check=True, capture_output=True, timeout=120)
        done.set()

    runner = threading.Thread(target=cli)
    runner.start()
    qtbot.waitUntil(done.is_set, timeout=120000)
    runner.join()
    qtbot.waitUntil(lambda: bool(predictions.shown) and not set(predictions.shown) & before,
                    timeout=FEW_SECONDS_MS)
    assert predictions.cards
    assert window.patient_view.timeline.item_count > drawn  # the new results on the timeline


def test_the_screens_own_model_run_is_not_read_again(window, ctx, qtbot):  # noqa: ANN001
    from oncoboard.ui.board_watch import POLL_MS

    if not _plugins(ctx.settings):
        pytest.skip("no enabled plugin in this checkout")
    window.open_patient("DEMO-CH-001")
    predictions = window.show_view("predictions")
    qtbot.waitUntil(lambda: bool(predictions.plugins), timeout=30000)
    with qtbot.assertNotEmitted(window.patient_view.record_refreshed, wait=2 * POLL_MS):
        with qtbot.waitSignal(predictions.predictions_finished, timeout=60000):
            predictions.run()
    assert predictions.cards


def test_a_number_taken_as_own_is_someone_elses_when_they_wrote_it(board):  # noqa: ANN001
    """A write that rolled back gave its number back: another user's next change may carry it."""
    from oncoboard.identity import user_of
    from oncoboard.store.feed import Change, Changes

    watcher = board.watcher
    watcher.own(10**9)
    me = user_of(board.store).login
    mine = Changes(10**9, (Change(10**9, None, "P1", "predictions", me, "t"),))
    assert not watcher._others(mine)
    watcher.own(10**9 + 1)
    theirs = Changes(10**9 + 1, (Change(10**9 + 1, None, "P1", "predictions", "bob", "t"),))
    assert watcher._others(theirs).patients == {"P1": {"predictions": ("bob", "t")}}


def test_a_read_older_than_the_screens_own_reload_is_dropped_and_read_again(qtbot):  # noqa: ANN001
    """A change elsewhere is being read when the screen reloads itself (its own write): the
    older answer is not shown over the newer one; one more read follows."""
    from oncoboard.ui import workers
    from oncoboard.ui.live_refresh import Refresher

    release, shown, reads = threading.Event(), [], []

    def read(_task: workers.Task, n: int) -> int:
        if n == 1:
            release.wait(10)
        return n

    def make() -> workers.Task:
        reads.append(len(reads) + 1)
        return workers.Task(read, reads[-1])

    refresher = Refresher(make, shown.append, lambda exc: None)
    refresher.request()
    assert refresher.busy and refresher.request() is None  # one at a time: once more after
    refresher.invalidate()  # the screen reloaded itself meanwhile
    release.set()
    qtbot.waitUntil(lambda: shown == [2] and not refresher.busy, timeout=5000)
    assert reads == [1, 2]


def test_the_viewer_lists_a_series_another_workstation_imported(window, board, meeting, other,
                                                                qtbot, tmp_path):  # noqa: ANN001
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "imaging"))
    from imaging_helpers import sphere_series

    from oncoboard.imaging.index import index_paths

    pid = board.patient_id
    window.open_patient(pid)
    viewer = window.show_view("viewer")
    qtbot.waitUntil(lambda: viewer.patient_id == pid, timeout=FEW_SECONDS_MS)
    before = [viewer.browser.item(i).data(256) for i in range(viewer.browser.count())]
    on_screen = viewer.state.volume.series_uid if viewer.state.volume is not None else None
    case = sphere_series(tmp_path / "new-ct", n=8, series="live-views", patient_id=pid)
    index_paths(other, [case.folder], settings=window.ctx.settings)  # bob's workstation
    qtbot.waitUntil(lambda: viewer.browser.count() == len(before) + 1, timeout=FEW_SECONDS_MS)
    listed = [viewer.browser.item(i).data(256) for i in range(viewer.browser.count())]
    assert case.series_uid in listed and set(before) <= set(listed)
    assert viewer.browser.isVisible()
    if on_screen is not None:  # the series on screen stayed
        assert viewer.state.volume.series_uid == on_screen
