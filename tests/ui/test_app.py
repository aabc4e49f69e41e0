"""The application shell: exit code, headless core, errors, language, settings, dialogs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ui_helpers import save_and_check, visible_texts

REPO = Path(__file__).resolve().parents[2]


def test_gui_screenshot_exits_zero(demo_dir, tmp_path):  # noqa: ANN001
    """`oncoboard gui --screenshot` opens, waits, saves and exits 0 (no PySide6 exit crash)."""
    out = tmp_path / "patient.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-m", "oncoboard", "gui", "--data-dir", str(demo_dir),
                          "--screenshot", str(out), "--view", "viewer", "--patient",
                          "DEMO-LU-001" if "DEMO" in _first_id(demo_dir) else "TEST-LU-002"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "propagateSizeHints" not in run.stderr, run.stderr[-3000:]
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() == 1600 and image.height() == 1000
    ptr = image.convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(ptr.constBits(), dtype=np.uint8)
    assert pixels.std() > 12


def _first_id(demo_dir: Path) -> str:
    from oncoboard.patients import record
    from oncoboard.store import open_store

    store = open_store(demo_dir)
    try:
        return record.list_patients(store)[0].id
    finally:
        store.close()


def test_gui_without_display_is_a_one_line_error(demo_dir):  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                            "QT_QPA_PLATFORM")}
    run = subprocess.run([sys.executable, "-m", "oncoboard", "gui", "--data-dir", str(demo_dir)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "no display" in run.stderr and "Traceback" not in run.stderr


def test_core_never_imports_qt():
    """Import every core module in a fresh process: no PySide6, pyqtgraph or VTK comes in."""
    code = (
        "import importlib, pkgutil, sys, oncoboard\n"
        "for m in pkgutil.walk_packages(oncoboard.__path__, 'oncoboard.'):\n"
        "    if m.name.startswith('oncoboard.ui') or m.name == 'oncoboard.__main__':\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'vtk', 'vtkmodules', 'shiboken6'))\n"
        "print(len([n for n in sys.modules if n.startswith('oncoboard.')]), bad)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert run.returncode == 0, run.stderr[-3000:]
    count, bad = run.stdout.strip().split(" ", 1)
    assert int(count) > 20
    assert bad == "[]", f"the core imported {bad}"


def test_import_contract_holds():
    """The import-linter contract in pyproject.toml (core never imports Qt/pyqtgraph/VTK/ui)."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    run = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "KEPT" in run.stdout


def test_error_boundary_shows_readable_messages(app, tmp_path):  # noqa: ANN001
    from oncoboard.errors import DicomError
    from oncoboard.ui.errors import ErrorBoundary

    ErrorBoundary.log_file = tmp_path / "oncoboard.log"
    text = ErrorBoundary.report(DicomError("truncated pixel data", file="/data/x.dcm"))
    assert text == "/data/x.dcm: truncated pixel data"
    text = ErrorBoundary.report(ZeroDivisionError("division by zero"), action="Loading")
    assert text.startswith("Loading: Internal error (ZeroDivisionError)")
    assert str(tmp_path / "oncoboard.log") in text and "Traceback" not in text
    assert ErrorBoundary.dialogs and ErrorBoundary.dialogs[-1].text() == text
    for box in list(ErrorBoundary.dialogs):
        box.close()


def test_worker_cancel_and_failure(app, qtbot):  # noqa: ANN001
    import threading

    from oncoboard.ui import workers

    release = threading.Event()

    def slow(task):  # noqa: ANN001, ANN202
        while True:
            task.progress(0.5, "working")
            release.wait(0.01)

    task = workers.Task(slow)
    with qtbot.waitSignal(task.signals.cancelled, timeout=5000):
        workers.start(task)
        qtbot.waitSignal(task.signals.progressed, timeout=5000).wait()
        task.cancel()
    failing = workers.Task(lambda _t: 1 / 0)
    with qtbot.waitSignal(failing.signals.failed, timeout=5000) as blocker:
        workers.start(failing)
    assert isinstance(blocker.args[0], ZeroDivisionError)


def test_french_interface(window, qtbot, output_dir):  # noqa: ANN001
    window.open_patient(window.patients_view.model.patient_id(0))
    window.apply_language("fr")
    try:
        assert window.nav_buttons["board"].text() == "RCP"
        assert window.nav_buttons["viewer"].text() == "Imagerie"
        texts = visible_texts(window.patient_view)
        assert "Chronologie" in texts and "Évolution biologique" in texts
        assert window.current_patient is not None
        save_and_check(window, output_dir / "patient_fr.png")
    finally:
        window.apply_language("en")
    assert window.nav_buttons["board"].text() == "Tumour board"


def test_settings_dialog_writes_the_user_file(window, qtbot):  # noqa: ANN001
    dialog = window.open_settings()
    qtbot.addWidget(dialog)
    dialog._add_node_row(["test-pacs", "ORTHANC", "127.0.0.1", "4242", "ONCOBOARD"])
    dialog.language.setCurrentIndex(dialog.language.findData("fr"))
    with qtbot.waitSignal(dialog.saved, timeout=5000) as blocker:
        dialog._on_accepted()
    assert blocker.args[0]["language"] == "fr"
    saved = Path(os.environ["ONCOBOARD_USER_CONFIG"]).read_text(encoding="utf-8")
    assert 'language = "fr"' in saved and "ORTHANC" in saved and "4242" in saved
    assert window.nav_buttons["board"].text() == "RCP"  # applied at once
    window.apply_language("en")
    bad = window.open_settings()
    qtbot.addWidget(bad)
    bad._add_node_row(["x", "X", "127.0.0.1", "not-a-port", "ONCOBOARD"])
    bad._on_accepted()
    assert "port" in bad.error.text() and bad.isVisible()
    Path(os.environ["ONCOBOARD_USER_CONFIG"]).unlink()


def test_about_dialog_lists_versions_plugins_and_checks(window, qtbot, output_dir):  # noqa: ANN001
    dialog = window.open_about()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.checked, timeout=120000):
        pass
    text = dialog.browser.toPlainText()
    assert "Oncoboard" in text and "Health checks" in text
    assert "onnxruntime" in text.lower() or "provider" in text.lower()
    save_and_check(dialog, output_dir / "about.png")


def test_import_dialog_imports_records_with_progress(window, qtbot, demo_dir, tmp_path):  # noqa: ANN001
    bundles = sorted((demo_dir / "demo" / "fhir").glob("*.json"))
    if not bundles:
        pytest.skip("no FHIR bundle in the demo folder")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"resourceType": "Patient"}), encoding="utf-8")
    dialog = window.open_import("records")
    qtbot.addWidget(dialog)
    dialog.add_paths([bundles[0], broken])
    with qtbot.waitSignal(dialog.imported, timeout=60000) as blocker:
        dialog.start()
    lines = blocker.args[0]
    assert "already imported" in lines[0]
    assert lines[1].startswith("NOT IMPORTED") and "broken.json" in lines[1]
    assert dialog.progress.value() == 1000


def test_import_dialog_indexes_dicom(window, qtbot, demo_dir):  # noqa: ANN001
    folders = sorted((demo_dir / "demo" / "dicom").glob("*")) if \
        (demo_dir / "demo" / "dicom").is_dir() else []
    if not folders:
        pytest.skip("no DICOM in the demo folder")
    dialog = window.open_import("dicom")
    qtbot.addWidget(dialog)
    dialog.add_paths([folders[0]])
    with qtbot.waitSignal(dialog.imported, timeout=120000) as blocker:
        dialog.start()
    assert "indexed" in blocker.args[0][0]


def test_pacs_dialog_without_nodes_says_so(window, qtbot):  # noqa: ANN001
    dialog = window.open_pacs()
    qtbot.addWidget(dialog)
    assert "No PACS node is configured" in visible_texts(dialog)
    assert not dialog.find_button.isEnabled()


@pytest.mark.qt_log_ignore("a real warning")
def test_message_filter_drops_only_the_harmless_qt_message(app, qtlog):  # noqa: ANN001
    """propagateSizeHints() is dropped; any other warning still reaches the handler."""
    from PySide6.QtCore import qInstallMessageHandler, qWarning

    from oncoboard.ui.app import install_message_filter

    previous = install_message_filter()
    try:
        qWarning("This plugin does not support propagateSizeHints()")
        qWarning("a real warning")
    finally:
        qInstallMessageHandler(previous)
    messages = [r.message for r in qtlog.records]
    assert "a real warning" in messages
    assert not any("propagateSizeHints" in m for m in messages)
