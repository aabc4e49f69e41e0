"""Start the Qt application: theme, translations, error boundary, main window, screenshot mode."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from oncoboard.errors import ConfigError, OncoboardError

log = logging.getLogger(__name__)
I18N_DIR = Path(__file__).with_name("i18n")


def _ensure_platform(headless: bool) -> None:
    """Choose Qt's platform: offscreen for screenshots without a display; refuse a GUI without."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and not has_display:
        if headless:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        else:
            raise ConfigError("no display found (DISPLAY is not set): run Oncoboard in a desktop "
                              "session, or use `oncoboard gui --screenshot FILE.png`")


#: Harmless Qt messages dropped (exact text): offscreen and some X11 platform plugins print this
#: for every top-level window shown, which reads like an error on the terminal.
QUIET_QT_MESSAGES = frozenset({"This plugin does not support propagateSizeHints()"})


def install_message_filter() -> Any:
    """Drop :data:`QUIET_QT_MESSAGES`, pass every other Qt message on; return the old handler."""
    from PySide6.QtCore import qInstallMessageHandler

    previous: Any = None

    def handler(mode: Any, context: Any, message: str) -> None:
        if message in QUIET_QT_MESSAGES:
            return
        if previous is not None:
            previous(mode, context, message)
        else:  # Qt's default handler prints the bare message on stderr
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    return previous


def application(argv: list[str] | None = None) -> Any:
    """Return the QApplication (created once), themed."""
    from PySide6.QtWidgets import QApplication

    from oncoboard.ui import theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv or ["oncoboard"])
        app.setApplicationName("Oncoboard")
        app.setOrganizationName("Oncoboard")
    if not isinstance(app, QApplication):
        raise RuntimeError("a QCoreApplication without widgets is already running")
    theme.apply_theme(app)
    theme.configure_pyqtgraph()
    return app


_translators: list[Any] = []


def install_language(language: str) -> bool:
    """Load the UI translation for `language` ('en' needs none); return True if one is active."""
    from PySide6.QtCore import QCoreApplication, QTranslator

    for old in _translators:
        QCoreApplication.removeTranslator(old)
    _translators.clear()
    if language == "en":
        return False
    translator = QTranslator()
    if not translator.load(str(I18N_DIR / f"oncoboard_{language}.qm")):
        log.warning("no UI translation for %s in %s", language, I18N_DIR)
        return False
    QCoreApplication.installTranslator(translator)
    _translators.append(translator)
    return True


def create_window(ctx: Any) -> Any:
    """Create the main window on `ctx` (settings, store, log file) with the error boundary."""
    from oncoboard.ui.errors import ErrorBoundary
    from oncoboard.ui.main_window import MainWindow

    ErrorBoundary.install(getattr(ctx, "log_file", None))
    install_language(ctx.settings.language)
    return MainWindow(ctx)


def prepare_view(window: Any, view: str | None, patient: str | None) -> None:
    """Open `patient` (if any) and bring `view` on screen."""
    if patient:
        window.open_patient(patient)
    window.show_view(view or ("patient" if patient else "patients"))


def wait_until_idle(app: Any, timeout_s: float = 60.0) -> bool:
    """Process events until no background task runs (views report loading as tasks)."""
    from oncoboard.ui import workers

    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        app.processEvents()
        busy = bool(workers.Task._alive)
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.3:
            return True
        time.sleep(0.01)
    return False


def save_screenshot(window: Any, path: Path) -> Path:
    """Grab `window` (with the 3D view if shown) and save it as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap = window.grab()
    if not pixmap.save(str(path)):
        raise OncoboardError("cannot write the screenshot", file=path)
    return path


def run_gui(ctx: Any, *, screenshot: Path | None = None, view: str | None = None,
            patient: str | None = None, size: str = "1600x1000") -> int:
    """Run the app until its window closes (or save one screenshot); return the exit code."""
    _ensure_platform(headless=screenshot is not None)
    install_message_filter()
    app = application()
    window = create_window(ctx)
    try:
        width, height = (int(x) for x in size.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"--size must look like 1600x1000, not {size!r}") from exc
    window.resize(width, height)
    window.show()
    prepare_view(window, view, patient)
    if screenshot is None:
        code = int(app.exec())
    else:
        if not wait_until_idle(app):
            log.warning("screenshot taken before every background task ended")
        out = save_screenshot(window, screenshot)
        print(out)
        code = 0
    from oncoboard.ui import workers

    workers.wait_all(10000)
    window.close()
    window.deleteLater()
    app.processEvents()
    return code
