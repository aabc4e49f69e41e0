"""UI test fixtures: offscreen Qt, an isolated configuration, the demo data folder, the window.

`tests/run.sh` runs under Xvfb, where ``QT_QPA_PLATFORM`` may be unset; widgets are tested with
Qt's ``offscreen`` platform (no window manager, deterministic sizes). The one test that needs a
real OpenGL context (VTK) starts its own process with ``QT_QPA_PLATFORM=xcb``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import demo_data  # noqa: E402
from ui_helpers import demo_reference_date, save_and_check, visible_texts  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def isolated_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the developer's own configuration and site file out of the tests."""
    base = tmp_path_factory.mktemp("config")
    os.environ["ONCOBOARD_USER_CONFIG"] = str(base / "user.toml")
    os.environ["ONCOBOARD_SITE_CONFIG"] = str(base / "site.toml")
    os.environ.pop("ONCOBOARD_HOME", None)
    os.environ.pop("ONCOBOARD_LANGUAGE", None)


def _meeting_date(path: Path) -> str | None:
    """Return the date of the demo's planned meeting (the date its records are built around)."""
    from oncoboard.store import open_store

    store = open_store(path)
    try:
        from oncoboard.board.meetings import list_meetings

        meetings = list_meetings(store)
        return meetings[0].date if meetings else None
    except Exception:  # noqa: BLE001 - no board tables in this checkout
        return None
    finally:
        store.close()


def _build_demo(path: Path) -> None:
    from oncoboard.config import load_settings
    from oncoboard.store import open_store

    try:
        from oncoboard.demo import run_demo
    except ImportError:
        demo_data.build_data_dir(path)
        return
    store = open_store(path)
    try:
        run_demo(store, load_settings(path))
    finally:
        store.close()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, isolated_config: None) -> Path:
    """Return a data folder holding the demo cohort (``oncoboard demo``, with its images).

    The demo takes tens of seconds (it writes and indexes DICOM series), so it is built once per
    test run in the folder shared by the xdist workers, under a file lock, and each worker
    copies it (tests write meetings and decisions: each worker has its own database).
    """
    import fcntl

    prebuilt = os.environ.get("ONCOBOARD_UI_DEMO")  # a demo folder built earlier (local runs)
    if prebuilt and (Path(prebuilt) / "READY").is_file():
        return _copy_demo(Path(prebuilt), tmp_path_factory.mktemp("demo"))
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    built = shared / "oncoboard-demo"
    with open(shared / "oncoboard-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (built / "READY").is_file():
            shutil.rmtree(built, ignore_errors=True)
            _build_demo(built)
            (built / "READY").write_text(json.dumps({"reference_date": _meeting_date(built)}))
    return _copy_demo(built, tmp_path_factory.mktemp("demo"))


def _copy_demo(source: Path, target: Path) -> Path:
    """Copy the database and files; hard-link the (read-only) generated DICOM and bundles."""
    for item in source.iterdir():
        if item.is_dir() and item.name == "demo":
            shutil.copytree(item, target / item.name, copy_function=os.link, dirs_exist_ok=True)
        elif item.is_dir():
            shutil.copytree(item, target / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target / item.name)
    return target


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Return the folder where the tests leave their screenshots."""
    out = Path(os.environ.get("ONCOBOARD_TEST_OUTPUT", "test-output")) / "ui"
    out.mkdir(parents=True, exist_ok=True)
    return out


class AppContext:
    """What ``oncoboard gui`` hands the window: settings, a store, the log file."""

    def __init__(self, data_dir: Path):
        from oncoboard.config import load_settings
        from oncoboard.store import open_store

        self.settings = load_settings(data_dir)
        self.store = open_store(self.settings.db_path)
        self.log_file = None

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def app(qapp):  # noqa: ANN001, ANN201 - pytest-qt's fixture
    """Return the themed QApplication."""
    from oncoboard.ui.app import application

    return application()


@pytest.fixture
def ctx(demo_dir: Path):  # noqa: ANN201
    """Return an application context on the demo data folder."""
    context = AppContext(demo_dir)
    yield context
    from oncoboard.ui import workers

    workers.wait_all(20000)
    context.close()


@pytest.fixture
def french_ctx(demo_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Return an application context on the demo data folder whose settings ask for French."""
    monkeypatch.setenv("ONCOBOARD_LANGUAGE", "fr")
    context = AppContext(demo_dir)
    yield context
    from oncoboard.ui import workers

    workers.wait_all(20000)
    context.close()


@pytest.fixture
def window(app, ctx, qtbot):  # noqa: ANN001, ANN201
    """Return the main window on the demo data, shown at a meeting-room size."""
    from oncoboard.ui.app import create_window

    win = create_window(ctx)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    return win


#: Messages of Qt's offscreen platform itself (it has no window manager), not of Oncoboard.
OFFSCREEN_NOISE = ("This plugin does not support propagateSizeHints",
                   "This plugin does not support raise",
                   "This plugin does not support grabbing the keyboard")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Ignore the offscreen platform's own warnings; any other Qt warning still fails a test."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOISE))
