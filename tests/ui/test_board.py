"""Tumour-board mode: create a meeting, add cases, present, decide, export the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QWidget
from ui_helpers import save_and_check, visible_texts


@pytest.fixture
def board(window):  # noqa: ANN001, ANN201
    return window.show_view("board")


def _create_meeting(board):  # noqa: ANN001, ANN202
    from oncoboard.ui.board_dialogs import MeetingDialog

    dialog = MeetingDialog(board.store, board)
    dialog.date.setDate(QDate(2026, 12, 1))
    dialog.specialty.setCurrentText("thorax")
    dialog.title.setText("Thoracic board (UI test)")
    dialog.attendees.setPlainText("Dr Martin (oncologist)\nDr Leroy (radiotherapist)")
    dialog._on_accepted()
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.error.text()
    board.refresh(select=dialog.result_value.id)
    return dialog.result_value


def _add_case(board, patient_id: str, question: str):  # noqa: ANN001, ANN202
    from oncoboard.ui.board_dialogs import AddCaseDialog

    dialog = AddCaseDialog(board.store, board.meeting_id, patient_id, board)
    assert dialog.patient.currentData() == patient_id
    dialog.question.setPlainText(question)
    dialog._on_accepted()
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.error.text()
    board._load_cases(select=patient_id)
    return dialog.result_value


def _patients(board, prefix: str, n: int) -> list[str]:  # noqa: ANN001
    from oncoboard.ui import records

    ids = [p["id"] for p in records.list_patients(board.store) if p["id"].startswith(prefix)]
    return (ids or [p["id"] for p in records.list_patients(board.store)])[:n]


def test_meeting_cases_decision_presenter_and_pdf(board, window, qtbot, output_dir, tmp_path):  # noqa: ANN001, E501
    from pypdf import PdfReader

    meeting = _create_meeting(board)
    assert board.meeting_id == meeting.id
    first, second = _patients(board, "DEMO-LU", 2)
    _add_case(board, first, "Concurrent chemoradiotherapy or sequential?")
    _add_case(board, second, "Consolidation immunotherapy?")
    assert board.cases.count() == 2
    assert "Consolidation immunotherapy?" in board.detail.toPlainText()  # the case just added
    board.cases.setCurrentRow(0)
    assert "Concurrent chemoradiotherapy or sequential?" in board.detail.toPlainText()

    from oncoboard.board.meetings import get_meeting
    from oncoboard.ui.board_dialogs import DecisionDialog

    dialog = DecisionDialog(board.store, get_meeting(board.store, meeting.id), first, "", board)
    dialog._on_accepted()  # an empty plan is refused, the dialog stays open with the reason
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "plan" in dialog.error.text()
    dialog.options.setPlainText("Concurrent chemoradiotherapy\nSequential")
    dialog.plan.setPlainText("Concurrent chemoradiotherapy then durvalumab")
    dialog.rationale.setPlainText("Fit patient, ECOG 0, stage III unresectable")
    departs = dialog.departs.isEnabled()  # only when a model result is stored for the patient
    if departs:
        dialog.departs.setChecked(True)
        dialog.departure.setText("Model trained on synthetic data only")
    dialog._on_accepted()
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.error.text()
    board._load_cases(select=first)
    assert board.cases.item(0).text().startswith("✔")
    assert "durvalumab" in board.detail.toPlainText()
    if departs:
        assert "Model trained on synthetic data only" in board.detail.toPlainText()
    save_and_check(window, output_dir / "board.png")

    with qtbot.waitSignal(board.exported, timeout=60000) as blocker:
        board.export("pdf", tmp_path / "meeting.pdf")
    reader = PdfReader(blocker.args[0])
    assert len(reader.pages) == 3  # cover + one page per case
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert first in text and second in text
    assert "Concurrent chemoradiotherapy then durvalumab" in text
    with qtbot.waitSignal(board.exported, timeout=60000) as blocker:
        board.export("json", tmp_path / "meeting.json")
    doc = json.loads(open(blocker.args[0], encoding="utf-8").read())
    assert [c["case"]["patient_id"] if "case" in c else c.get("patient_id")
            for c in doc["cases"]] != []

    task = board.present()
    qtbot.waitUntil(lambda: board.presenter is not None and board.presenter.isVisible(),
                    timeout=60000)
    presenter = board.presenter
    qtbot.addWidget(presenter)
    assert presenter.index == 0
    assert "Concurrent chemoradiotherapy or sequential?" in visible_texts(presenter)
    save_and_check(presenter, output_dir / "presenter.png")
    _fits_a_small_projector(presenter, qtbot, output_dir)
    qtbot.keyClick(presenter, Qt.Key.Key_Right)
    assert presenter.index == 1
    assert "Consolidation immunotherapy?" in visible_texts(presenter.stack.currentWidget())
    qtbot.keyClick(presenter, Qt.Key.Key_Right)  # stays on the last case
    assert presenter.index == 1
    qtbot.keyClick(presenter, Qt.Key.Key_Left)
    assert presenter.index == 0
    qtbot.keyClick(presenter, Qt.Key.Key_Escape)
    assert not presenter.isVisible()
    assert task is not None


def test_decisions_go_to_the_audit_trail(board):  # noqa: ANN001
    from oncoboard import audit
    from oncoboard.board.decisions import record_decision
    from oncoboard.board.trail import verify_trail

    meeting = _create_meeting(board)
    (pid,) = _patients(board, "DEMO-BR", 1)
    _add_case(board, pid, "Adjuvant endocrine therapy alone?")
    record_decision(board.store, meeting.id, pid, plan="Endocrine therapy 5 years",
                    rationale="Low risk", attendees=["Dr Martin (oncologist)"])
    events = [e.event_type for e in audit.entries(board.store, last=10)]
    assert any("decision" in e for e in events)
    assert verify_trail(board.store).ok


def test_board_view_opens_the_next_open_meeting():
    # The list is newest first: the board screen opened on a closed or far-future meeting.
    from types import SimpleNamespace

    from oncoboard.ui.board_view import default_meeting_id

    def m(mid, date, status):
        return SimpleNamespace(id=mid, date=date, status=status)

    newest_first = [m(4, "2027-03-01", "planned"), m(3, "2026-11-23", "closed"),
                    m(2, "2026-11-23", "planned"), m(1, "2026-10-01", "held")]
    assert default_meeting_id(newest_first, "2026-11-23") == 2
    assert default_meeting_id(newest_first[1:], "2026-12-01") == 2  # none upcoming: latest open
    assert default_meeting_id([m(3, "2026-11-23", "closed")], "2026-12-01") == 3
    assert default_meeting_id([], "2026-12-01") is None


sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "imaging"))
from orthanc import HAS_DICOMWEB, orthanc_fixture  # noqa: E402,F401


@pytest.mark.orthanc
@pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")
def test_send_to_pacs_shows_each_item_and_sends_in_the_background(board, qtbot, output_dir,  # noqa: ANN001, E501
                                                                    orthanc):
    from oncoboard.board.decisions import record_decision
    from oncoboard.ui.board_dialogs import SendToPacsDialog

    meeting = _create_meeting(board)
    (pid,) = _patients(board, "DEMO-LU", 1)
    _add_case(board, pid, "SBRT or surgery?")
    record_decision(board.store, meeting.id, pid, plan="SBRT 3 x 18 Gy",
                    rationale="Not fit for surgery", attendees=["Dr Martin (oncologist)"])
    board._load_cases(select=pid)
    assert board.buttons["pacs"].isEnabled()
    empty = board.pacs_dialog()  # the demo configuration names no PACS node
    assert empty is not None and not empty.send_button.isEnabled()
    assert "No PACS node is configured" in empty.message.text()
    node = orthanc.web_node()
    dialog = SendToPacsDialog(board.store, board.ctx.settings, meeting.id, pid, nodes=[node],
                              parent=board)
    qtbot.addWidget(dialog)

    def column(j: int) -> list[str]:
        return [dialog.table.item(i, j).text() for i in range(dialog.table.rowCount())]

    def keys() -> list[str]:
        return [dialog.table.item(i, 0).data(Qt.ItemDataRole.UserRole)
                for i in range(dialog.table.rowCount())]

    assert set(column(1)) == {"not sent yet"} and keys()[0] == "report-pdf:v1"
    assert column(0)[0] == "Board report PDF (decision v1)"
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=120000)
    assert set(column(1)) == {"sent"}, dialog.message.text()
    assert set(column(2)) == {node.name} and all(column(3)) and all(column(4))
    items = keys()
    assert "report-pdf:v1" in items and any(i.startswith("key-image-ko:") for i in items)
    assert "0 not sent" in dialog.message.text()
    sop = board.store.db.execute("SELECT sop_uid FROM board_sent WHERE item = 'report-pdf:v1' "
                                 "ORDER BY id DESC").fetchone()[0]
    [found] = orthanc.http("/tools/lookup", sop.encode())
    assert found["Type"] == "Instance"
    dialog.show()
    dialog.resize(1100, 420)
    save_and_check(dialog, output_dir / "send_to_pacs.png")
    dialog.send()  # again: nothing is missing
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=60000)
    assert "0 sent" in dialog.message.text() and dialog.table.rowCount() == len(items)


def _fits_a_small_projector(presenter, qtbot, output_dir: Path) -> None:  # noqa: ANN001
    """On a 1280x720 projector nothing is drawn over anything else and nothing needs scrolling:
    the type is set smaller, the key image shrinks, the decision stays below, the header above."""
    from PySide6.QtWidgets import QLabel

    presenter.showNormal()
    presenter.resize(1280, 720)
    qtbot.waitUntil(lambda: presenter.height() == 720, timeout=5000)
    qtbot.wait(200)  # the layouts and scroll areas settle at the new size
    panel = presenter.stack.currentWidget()
    save_and_check(presenter, output_dir / "presenter_720p.png")
    header = panel.findChild(QLabel, "presenterHeader")
    parts = [header, panel.findChild(QLabel, "presenterQuestion"), panel.case_scroll,
             panel.decision]
    for above, below in zip(parts, parts[1:], strict=False):
        assert above.geometry().bottom() < below.geometry().top(), (above.objectName(),
                                                                    below.objectName())
    assert panel.prediction_scroll.geometry().bottom() < panel.decision.geometry().top()
    assert not panel.case_scroll.geometry().intersects(panel.prediction_scroll.geometry())
    assert panel.decision.geometry().bottom() <= panel.height()
    image = panel.findChild(QWidget, "presenterImage")
    if image is not None:  # shrunk, not cropped
        assert image.height() >= 80
    # the text set smaller for the smaller screen, so the case's column fits without scrolling
    assert panel.type_scale < 0.75
    assert not panel.case_scroll.verticalScrollBar().isVisible()
