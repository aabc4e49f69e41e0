"""The board view follows changes made on another workstation; a stale save shows the other one."""

from __future__ import annotations

import pytest


@pytest.fixture
def board(window):  # noqa: ANN001, ANN201
    return window.show_view("board")


@pytest.fixture
def meeting(board):  # noqa: ANN001, ANN201
    """A planned meeting with one case, made by 'this' workstation and shown in the view."""
    from oncoboard.board import meetings
    from oncoboard.ui import records

    pid = next(p["id"] for p in records.list_patients(board.store))
    m = meetings.create_meeting(board.store, date="2026-12-10", specialty="thorax",
                                title="Concurrent board (UI test)",
                                attendees=["Dr Martin (oncologist)"])
    meetings.add_case(board.store, m.id, pid, question="Surgery or radiotherapy?")
    board.refresh(select=m.id)
    board.watcher.seen()
    assert board.patient_id == pid
    return m


@pytest.fixture
def other(board):  # noqa: ANN001, ANN201
    """Another workstation: its own connection to the same database, another user."""
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(board.store.path)
    store.user = User("bob", workstation="ws-bob")
    yield store
    store.close()


def test_a_decision_recorded_elsewhere_shows_within_the_polling_interval(board, meeting, other,
                                                                        qtbot):  # noqa: ANN001
    from oncoboard.board.decisions import record_decision
    from oncoboard.ui.board_watch import POLL_MS

    assert "Stereotactic radiotherapy (bob)" not in board.detail.toPlainText()
    record_decision(other, meeting.id, board.patient_id, plan="Stereotactic radiotherapy (bob)",
                    rationale="Unfit for surgery")
    qtbot.waitUntil(lambda: "Stereotactic radiotherapy (bob)" in board.detail.toPlainText(),
                    timeout=POLL_MS + 1000)
    assert "✔" in board.cases.item(0).text()  # the agenda shows the case decided
    assert "bob" in board.notice.text() and board.notice.isVisible()


def test_a_stale_save_from_the_ui_shows_the_message_and_the_other_change(board, meeting, other,
                                                                        qtbot):  # noqa: ANN001
    from oncoboard.board.decisions import amend_decision, decision_history, record_decision
    from oncoboard.board.meetings import get_meeting
    from oncoboard.ui.board_dialogs import DecisionDialog

    pid = board.patient_id
    record_decision(board.store, meeting.id, pid, plan="Lobectomy", rationale="Fit")
    board.reload()
    board.watcher.seen()
    dialog = DecisionDialog(board.store, get_meeting(board.store, meeting.id), pid, "", board)
    dialog.stale.connect(board._on_stale)
    assert dialog.read_version == 1 and dialog.plan.toPlainText() == "Lobectomy"
    # meanwhile, on another workstation
    amend_decision(other, meeting.id, pid, reason="new PET", plan="Chemoradiotherapy (bob)")
    dialog.plan.setPlainText("Segmentectomy")
    dialog.reason.setText("smaller resection")
    dialog._on_accepted()
    assert dialog.result() != dialog.DialogCode.Accepted  # refused, the dialog stays open
    assert "changed by bob at" in dialog.error.text() and "reload" in dialog.error.text()
    assert "Chemoradiotherapy (bob)" in dialog.current.text()  # the other change, on show
    assert dialog.plan.toPlainText() == "Segmentectomy"  # what was typed is kept
    assert "Chemoradiotherapy (bob)" in board.detail.toPlainText()  # the view reloaded
    assert "changed by bob" in board.notice.text()
    assert [d.plan for d in decision_history(board.store, meeting.id, pid)] == [
        "Lobectomy", "Chemoradiotherapy (bob)"]
    dialog._on_accepted()  # saving again amends bob's version: nothing of either is lost
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.error.text()
    assert [d.plan for d in decision_history(board.store, meeting.id, pid)] == [
        "Lobectomy", "Chemoradiotherapy (bob)", "Segmentectomy"]


def test_opening_a_record_in_the_gui_writes_one_access_row(window, board, meeting, qtbot):  # noqa: ANN001, E501
    from oncoboard.audit.access import accesses
    from oncoboard.ui import access_log

    access_log.flush()
    pid = board.patient_id
    # selecting the case on the board opened its record once, by the board's route
    assert [a.route for a in accesses(board.store, patient_id=pid)][:1] == ["board.case"]
    before = {a.seq for a in accesses(board.store, patient_id=pid)}
    window.open_patient(pid)
    window.open_patient(pid)  # shown again: not a new opening
    access_log.flush()
    new = [a for a in accesses(board.store, patient_id=pid) if a.seq not in before]
    assert [(a.route, a.patient_id) for a in new] == [("gui.patient", pid)]
    board.reload()  # a reload of the board's case is not an opening either
    access_log.flush()
    assert len(accesses(board.store, patient_id=pid)) == len(before) + 1
