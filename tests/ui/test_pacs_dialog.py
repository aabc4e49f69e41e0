"""The PACS query dialog against a real Orthanc (the imaging tests' server, on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "imaging"))

from orthanc import orthanc_fixture  # noqa: E402, F401 - the session fixture `orthanc`


@pytest.mark.orthanc
def test_echo_find_and_retrieve_from_orthanc(window, qtbot, orthanc):  # noqa: ANN001
    window.ctx.settings = dataclasses.replace(window.ctx.settings, pacs=(orthanc.node(),))
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    assert dialog.find_button.isEnabled()
    with qtbot.waitSignal(dialog.echo().signals.succeeded, timeout=30000):
        pass
    assert "answered" in dialog.status.text()
    dialog.patient_id.setText("ONCO-PACS-002")
    with qtbot.waitSignal(dialog.found, timeout=30000) as blocker:
        dialog.search()
    assert blocker.args[0] == 1
    assert dialog.table.item(0, 0).text() == "ONCO-PACS-002"
    dialog.table.selectRow(0)
    with qtbot.waitSignal(dialog.retrieved, timeout=60000) as blocker:
        dialog.retrieve()
    assert "3 files" in blocker.args[0][0]  # the RLE MR series of 3 images
    from oncoboard.imaging import list_series

    assert any(s.dicom_patient_id == "ONCO-PACS-002" for s in list_series(window.store))


def test_refused_connection_is_a_readable_message(window, qtbot):  # noqa: ANN001
    from oncoboard.config import PacsNode
    from oncoboard.ui.errors import ErrorBoundary

    dead = PacsNode(name="nowhere", ae_title="NOPE", host="127.0.0.1", port=1, timeout_s=2)
    window.ctx.settings = dataclasses.replace(window.ctx.settings, pacs=(dead,))
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.echo().signals.failed, timeout=30000):
        pass
    assert "nowhere" in dialog.status.text() or "127.0.0.1" in dialog.status.text()
    assert "Traceback" not in dialog.status.text()
    for box in list(ErrorBoundary.dialogs):
        box.close()
