"""The PACS query dialog against a real Orthanc (the imaging tests' server, on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "imaging"))

from orthanc import HOST, TEST_AET, orthanc_fixture  # noqa: E402, F401 - fixture `orthanc`


@pytest.mark.orthanc
def test_echo_find_and_retrieve_from_orthanc(window, qtbot, orthanc):  # noqa: ANN001
    window.ctx.settings = dataclasses.replace(
        window.ctx.settings, pacs=(orthanc.node(),), local_ae_title=TEST_AET,
        local_port=orthanc.move_port, local_host=HOST)  # the C-MOVE destination Orthanc knows
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
    dialog.method.setCurrentIndex(dialog.method.findText("C-MOVE"))
    with qtbot.waitSignal(dialog.retrieved, timeout=60000) as blocker:
        dialog.retrieve()
    assert blocker.args[0] == [f"{dialog.studies[0]['study_uid']}: 3 files"]


def _dialog_with_fake_pacs(tmp_path, qtbot, monkeypatch, cancel_at,
                           by_user=False, closed_by_qtbot=True):  # noqa: ANN001, ANN202
    """Return (dialog, calls): three studies found; retrieving `cancel_at` ends cancelled."""
    import time

    from oncoboard.config import PacsNode, Settings
    from oncoboard.imaging import pacs
    from oncoboard.ui.import_dialogs import PacsQueryDialog

    calls = []

    def fake_retrieve(settings, store, node, *, study_uid, method, cancel,
                      **_kw):  # noqa: ANN001, ANN202
        calls.append((study_uid, method))
        report = pacs.RetrieveReport(node.name, method, study_uid, None, tmp_path)
        report.files = [tmp_path / "a.dcm", tmp_path / "b.dcm"]
        if study_uid == cancel_at:  # cancelled: by the user (Cancel), else by the PACS
            deadline = time.monotonic() + 5
            while by_user and not cancel() and time.monotonic() < deadline:
                time.sleep(0.01)
            report.files, report.cancelled = [], True
        return report

    monkeypatch.setattr(pacs, "retrieve_into_store", fake_retrieve)
    node = PacsNode(name="pacs", ae_title="PACS", host="127.0.0.1", port=1)

    class Ctx:
        settings = Settings(data_dir=tmp_path, pacs=(node,))

    dialog = PacsQueryDialog(Ctx())
    if closed_by_qtbot:
        qtbot.addWidget(dialog)
    dialog._on_found([{"study_uid": u, "patient_id": "P"} for u in ("1.2.1", "1.2.2", "1.2.3")])
    dialog.table.selectAll()
    return dialog, calls


def test_a_retrieval_the_pacs_cancels_says_so(tmp_path, qtbot, monkeypatch):  # noqa: ANN001
    dialog, calls = _dialog_with_fake_pacs(tmp_path, qtbot, monkeypatch, "1.2.2")
    dialog.method.setCurrentIndex(dialog.method.findData("move"))
    with qtbot.waitSignal(dialog.retrieved, timeout=10000) as blocker:
        dialog.retrieve()
    assert blocker.args[0] == ["1.2.1: 2 files", "1.2.2: cancelled"]  # not "0 files"
    assert calls == [("1.2.1", "move"), ("1.2.2", "move")]  # nothing after the cancel
    assert dialog.status.text() == "1.2.1: 2 files\n1.2.2: cancelled"


def test_cancel_keeps_the_report_of_the_studies_before_it(tmp_path, qtbot,
                                                          monkeypatch):  # noqa: ANN001
    dialog, calls = _dialog_with_fake_pacs(tmp_path, qtbot, monkeypatch, "1.2.2", by_user=True)
    assert dialog.method.currentText() == "C-GET"  # the default
    with qtbot.waitSignal(dialog.retrieved, timeout=10000) as blocker:
        dialog.retrieve()
        qtbot.waitUntil(lambda: len(calls) == 2, timeout=5000)
        dialog.cancel_button.click()
    assert blocker.args[0] == ["1.2.1: 2 files", "1.2.2: cancelled", "Cancelled."]
    assert calls == [("1.2.1", "get"), ("1.2.2", "get")]


def test_closing_the_dialog_during_a_retrieval_raises_nothing(tmp_path, qtbot,
                                                              monkeypatch):  # noqa: ANN001
    """The task ends after the dialog is gone: its callbacks must not touch deleted widgets."""
    import shiboken6
    from PySide6.QtCore import QThreadPool

    from oncoboard.ui import workers

    dialog, calls = _dialog_with_fake_pacs(tmp_path, qtbot, monkeypatch, "1.2.2", by_user=True,
                                           closed_by_qtbot=False)
    task = dialog.retrieve()
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=5000)
    dialog.close()
    shiboken6.delete(dialog)  # what Qt does to a closed dialog with WA_DeleteOnClose
    task.cancel()
    assert QThreadPool.globalInstance().waitForDone(10000)
    qtbot.wait(50)  # deliver the queued finished/cancelled signals: nothing may raise
    assert not shiboken6.isValid(dialog)
    assert task not in workers.Task._alive


@pytest.mark.orthanc
def test_dicomweb_nodes_listed_searched_and_kept_by_settings(window, qtbot, orthanc):  # noqa: ANN001
    web = dataclasses.replace(orthanc.web_node(), auth="bearer", secret_env="X_TOKEN")
    window.ctx.settings = dataclasses.replace(window.ctx.settings, pacs=(orthanc.node(), web))
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    labels = [dialog.node.itemText(i) for i in range(dialog.node.count())]
    assert labels[1] == f"{web.name} (DICOMweb {web.dicomweb_url})"
    assert dialog.method.isEnabled()  # DIMSE: C-GET or C-MOVE
    dialog.node.setCurrentIndex(1)
    assert not dialog.method.isEnabled()  # DICOMweb retrieves by WADO-RS
    window.ctx.settings = dataclasses.replace(window.ctx.settings,
                                              pacs=(orthanc.node(), orthanc.web_node()))
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    dialog.node.setCurrentIndex(1)
    dialog.patient_id.setText("ONCO-PACS-002")
    with qtbot.waitSignal(dialog.found, timeout=30000) as blocker:
        dialog.search()  # QIDO-RS
    assert blocker.args[0] == 1
    from oncoboard.ui.settings_dialogs import SettingsDialog

    settings = dataclasses.replace(window.ctx.settings, pacs=(orthanc.node(), web))
    form = SettingsDialog(settings)
    qtbot.addWidget(form)
    assert form.pacs.item(1, 5).text() == web.dicomweb_url
    nodes = form.values()["pacs"]
    assert nodes[1]["dicomweb_url"] == web.dicomweb_url and "port" not in nodes[1]
    assert nodes[1]["auth"] == "bearer" and nodes[1]["secret_env"] == "X_TOKEN"  # kept
    assert nodes[0]["port"] == orthanc.node().port and "dicomweb_url" not in nodes[0]


@pytest.mark.orthanc
def test_view_a_pacs_series_without_importing_it(window, qtbot, orthanc):  # noqa: ANN001
    """Search, list the study's series, View: the viewer shows the middle slice, then all."""
    import numpy as np

    from oncoboard.imaging import list_series

    window.ctx.settings = dataclasses.replace(window.ctx.settings, pacs=(orthanc.web_node(),))
    before = {s.series_uid for s in list_series(window.store)}
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    dialog.patient_id.setText("ONCO-PACS-001")
    with qtbot.waitSignal(dialog.found, timeout=30000):
        dialog.search()
    dialog.table.selectRow(0)
    with qtbot.waitSignal(dialog.series_found, timeout=30000) as blocker:
        dialog.list_series()
    assert blocker.args[0] == 1  # the CT; the RTSTRUCT is not an image series
    viewer = window.view("viewer")
    with qtbot.waitSignal(viewer.remote_loaded, timeout=30000) as blocker:
        assert dialog.view()
    ct = orthanc.studies[0]
    uid = next(u for u, dss in ct.series.items() if dss[0].Modality == "CT")
    assert blocker.args[0] == uid
    volume = viewer.state.volume
    assert volume.shape == (4, 16, 16) and volume.meta["remote"]["node"] == "orthanc-web"
    expected = np.stack([ds.pixel_array.astype(np.int16) - 1024 for ds in ct.series[uid]])
    np.testing.assert_array_equal(np.asarray(volume.voxels), expected)
    assert window.stack.currentWidget() is viewer
    assert {s.series_uid for s in list_series(window.store)} == before  # nothing imported
