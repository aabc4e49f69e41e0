"""Settings (data folder, PACS nodes, execution providers, language) and About/diagnostics."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from oncoboard import __version__
from oncoboard.ui import workers
from oncoboard.ui.errors import ErrorBoundary

if TYPE_CHECKING:
    from oncoboard.config import Settings

LANGUAGES = (("en", "English"), ("fr", "Français"))
PACS_COLUMNS = ("name", "ae_title", "host", "port", "calling_ae_title", "dicomweb_url")
#: A DICOMweb node's settings that the table does not show: kept as they are on save.
_WEB_KEPT = ("auth", "username", "secret_env", "keyring_service", "tls_verify", "tls_ca_bundle",
             "timeout_s")


def tr(text: str) -> str:
    """Translate `text` in the settings dialogs' context."""
    return QCoreApplication.translate("SettingsDialog", text)


class SettingsDialog(QDialog):
    """Edit the user's settings; they are written to the user configuration file.

    Signals
    -------
    saved(dict)
        The settings were saved; the dict holds what changed (``language``, ``data_dir``...).
    """

    saved = Signal(dict)

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle(tr("Settings"))
        self.resize(900, 640)
        self.data_dir = QLineEdit(str(settings.data_dir), objectName="settingsDataDir")
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self._on_browse_clicked)
        self.language = QComboBox(objectName="settingsLanguage")
        for code, name in LANGUAGES:
            self.language.addItem(name, code)
        self.language.setCurrentIndex(max(0, self.language.findData(settings.language)))
        self.providers = QListWidget(objectName="settingsProviders")
        self._fill_providers()
        self.pacs = QTableWidget(0, len(PACS_COLUMNS), objectName="settingsPacs")
        self.pacs.setHorizontalHeaderLabels([tr(c.replace("_", " ")) for c in PACS_COLUMNS])
        for node in settings.pacs:
            if node.is_dicomweb:  # DICOMweb: name and URL (auth and TLS stay as configured)
                self._add_node_row([node.name, "", "", "", "", node.dicomweb_url])
            else:
                self._add_node_row([node.name, node.ae_title, node.host, str(node.port),
                                    node.calling_ae_title, ""])
        add_node = QPushButton(tr("Add node"))
        add_node.clicked.connect(lambda: self._add_node_row(["", "", "127.0.0.1", "104",
                                                             "ONCOBOARD", ""]))
        remove_node = QPushButton(tr("Remove node"))
        remove_node.clicked.connect(lambda: self.pacs.removeRow(self.pacs.currentRow()))
        self.error = QLabel(objectName="danger")
        self.error.setWordWrap(True)
        self.error.hide()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_dir, 1)
        folder_row.addWidget(browse)
        node_row = QHBoxLayout()
        node_row.addWidget(add_node)
        node_row.addWidget(remove_node)
        node_row.addStretch(1)
        form = QFormLayout()
        form.addRow(tr("Data folder"), folder_row)
        form.addRow(tr("Language"), self.language)
        form.addRow(tr("Execution providers (in order)"), self.providers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_accepted)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel(tr("PACS nodes"), objectName="subtitle"))
        lay.addWidget(self.pacs, 1)
        lay.addLayout(node_row)
        lay.addWidget(QLabel(tr("Site settings set by IT (/etc/oncoboard/config.toml) still "
                                "apply; a changed data folder is used at the next start."),
                             objectName="muted"))
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def _fill_providers(self) -> None:
        try:
            from oncoboard.inference.runtime import available_providers

            available = available_providers()
        except Exception:  # noqa: BLE001 - onnxruntime missing: list the configured ones
            available = list(self.settings.providers)
        ordered = [p for p in self.settings.providers if p in available] + \
            [p for p in available if p not in self.settings.providers]
        for name in ordered:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in self.settings.providers
                               else Qt.CheckState.Unchecked)
            self.providers.addItem(item)
        self.providers.setFixedHeight(28 * max(2, len(ordered)) + 8)

    def _add_node_row(self, values: list[str]) -> None:
        row = self.pacs.rowCount()
        self.pacs.insertRow(row)
        for j, value in enumerate(values):
            self.pacs.setItem(row, j, QTableWidgetItem(value))

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Data folder"), self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)

    def _pacs_cell(self, row: int, column: int) -> str:
        item = self.pacs.item(row, column)
        return item.text().strip() if item is not None else ""

    def values(self) -> dict[str, Any]:
        """Return the settings as the user file stores them."""
        nodes = []
        for r in range(self.pacs.rowCount()):
            cells = [self._pacs_cell(r, j) for j in range(len(PACS_COLUMNS))]
            if not any(cells):
                continue
            node: dict[str, Any] = dict(zip(PACS_COLUMNS, cells, strict=True))
            if node["dicomweb_url"]:
                before = next((n for n in self.settings.pacs if n.name == node["name"]
                               and n.is_dicomweb), None)
                web = {"name": node["name"], "dicomweb_url": node["dicomweb_url"]}
                if before is not None:
                    web.update({k: getattr(before, k) for k in _WEB_KEPT})
                nodes.append(web)
                continue
            del node["dicomweb_url"]
            try:
                node["port"] = int(node["port"])
            except ValueError:
                from oncoboard.errors import ConfigError

                raise ConfigError(f"PACS node {node['name']!r}: port must be a number") from None
            nodes.append(node)
        providers = [self.providers.item(i).text() for i in range(self.providers.count())
                     if self.providers.item(i).checkState() == Qt.CheckState.Checked]
        return {"data_dir": self.data_dir.text().strip(), "language": self.language.currentData(),
                "providers": providers or ["CPUExecutionProvider"], "pacs": nodes}

    def _on_accepted(self) -> None:
        from oncoboard.user_settings import save_user_settings

        try:
            values = self.values()
            save_user_settings(values)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, which stays open
            self.error.setText(ErrorBoundary.message_for(exc))
            self.error.show()
            return
        changed = {k: v for k, v in values.items()
                   if k != "pacs" and str(v) != str(getattr(self.settings, k, None))}
        self.saved.emit(changed)
        self.accept()


def diagnostics_job(task: workers.Task, settings: Settings) -> tuple[list[Any], str]:
    """Check the plugins and run `oncoboard doctor`'s checks (seconds: a GL probe process)."""
    from oncoboard.doctor import run_checks

    task.progress(0.1, tr("Checking"))
    plugins = plugins_html(settings)
    return run_checks(settings), plugins


def plugins_html(settings: Settings) -> str:
    """Return the plugin integrity table (discovery hashes and checks each plugin)."""
    try:
        from oncoboard.inference.discovery import discover_plugins

        plugins = discover_plugins(settings)
    except Exception as exc:  # noqa: BLE001
        return f"<p>{html.escape(ErrorBoundary.message_for(exc))}</p>"
    rows = []
    for p in plugins:
        state = tr("verified") if p.enabled else tr("refused")
        colour = "#5cc98a" if p.enabled else "#f0625a"
        why = "; ".join(p.problems + p.warnings)
        signed = tr("signed by {s}").format(s=p.signer) if p.signed else tr("unsigned")
        name = p.manifest.name if p.manifest else p.id
        rows.append(f"<tr><td>{html.escape(name)}</td><td style='color:{colour}'>{state}"
                    f"</td><td>{signed}</td><td>{html.escape(p.origin)}</td>"
                    f"<td>{html.escape(why)}</td></tr>")
    return ("<table cellpadding=4><tr><th>" + "</th><th>".join(
        [tr("Plugin"), tr("Integrity"), tr("Signature"), tr("Origin"), tr("Notes")])
        + "</th></tr>" + "".join(rows) + "</table>")


class AboutDialog(QDialog):
    """Versions, execution provider, plugin integrity and the health checks of this install.

    Signals
    -------
    checked(int)
        The health checks finished; this many did not pass.
    """

    checked = Signal(int)

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle(tr("About Oncoboard"))
        self.resize(1000, 760)
        self.browser = QTextBrowser(objectName="aboutText")
        self.plugins_html = f"<p>{tr('Running the checks…')}</p>"
        self.browser.setHtml(self._html(None))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.task = workers.start(workers.Task(diagnostics_job, settings, name="doctor"),
                                  on_done=self._on_checks_done,
                                  on_error=lambda exc: ErrorBoundary.report(exc, self))

    def _html(self, checks: list[Any] | None) -> str:
        parts = [f"<h1>Oncoboard {__version__}</h1>",
                 f"<p>{tr('Clinical decision support for cancer tumour boards.')}<br>"
                 f"{tr('Data folder')}: {html.escape(str(self.settings.data_dir))}<br>"
                 f"{tr('Execution providers requested')}: "
                 f"{html.escape(', '.join(self.settings.providers))}</p>",
                 f"<h2>{tr('Plugins')}</h2>", self.plugins_html, f"<h2>{tr('Health checks')}</h2>"]
        if checks is None:
            parts.append(f"<p>{tr('Running the checks…')}</p>")
        else:
            colours = {"ok": "#5cc98a", "warn": "#f3b63f", "fail": "#f0625a"}
            parts.append("<table cellpadding=4>" + "".join(
                f"<tr><td>{html.escape(c.name)}</td><td style='color:{colours.get(c.status)}'>"
                f"{c.status}</td><td>{html.escape(c.detail)}</td></tr>" for c in checks)
                + "</table>")
        return "".join(parts)

    def _on_checks_done(self, result: tuple[list[Any], str]) -> None:
        checks, self.plugins_html = result
        self.browser.setHtml(self._html(checks))
        self.checked.emit(sum(c.status != "ok" for c in checks))


def data_dir_of(values: dict[str, Any]) -> Path | None:
    """Return the data folder chosen in the settings, if any."""
    return Path(values["data_dir"]) if values.get("data_dir") else None
