"""Colours, fonts and the style sheet: calm, high contrast, readable from the back of a room."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b2027"
PANEL = "#242b33"
PANEL_ALT = "#2d3640"
TEXT = "#f2f5f7"
MUTED = "#aab4be"
ACCENT = "#5aaee8"
WARNING = "#f3b63f"
DANGER = "#f0625a"
OK = "#5cc98a"
#: Distinct series colours for plots (colour-blind friendly, bright on the dark background).
SERIES = ("#5aaee8", "#f3b63f", "#5cc98a", "#e57ac6", "#f0625a", "#b9a3f5", "#7fd8d8")

BASE_POINT_SIZE = 12
PRESENTER_POINT_SIZE = 26

STYLE = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; }}
QLabel {{ background: transparent; }}
QMainWindow::separator {{ background: {PANEL_ALT}; width: 2px; }}
QFrame#card, QGroupBox {{ background: {PANEL}; border: 1px solid {PANEL_ALT}; border-radius: 8px; }}
QGroupBox {{ margin-top: 1.4em; padding: 8px; font-weight: bold; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QLabel#title {{ font-size: {BASE_POINT_SIZE + 8}pt; font-weight: bold; }}
QLabel#subtitle {{ font-size: {BASE_POINT_SIZE + 3}pt; color: {MUTED}; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#warning {{ background: #3b3020; color: {WARNING}; border: 1px solid {WARNING};
                  border-radius: 6px; padding: 6px 10px; font-weight: bold; }}
QLabel#danger {{ background: #3b2323; color: {DANGER}; border: 1px solid {DANGER};
                 border-radius: 6px; padding: 6px 10px; font-weight: bold; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QDateEdit, QTextEdit, QPlainTextEdit,
QListWidget, QTableView, QTableWidget, QTextBrowser, QTreeWidget {{
    background: {PANEL}; border: 1px solid {PANEL_ALT}; border-radius: 6px; padding: 4px;
    selection-background-color: {ACCENT}; selection-color: {BACKGROUND}; }}
QHeaderView::section {{ background: {PANEL_ALT}; color: {TEXT}; padding: 6px; border: none;
                        font-weight: bold; }}
QPushButton, QToolButton {{ background: {PANEL_ALT}; border: 1px solid #3c4753; border-radius: 6px;
                            padding: 6px 14px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:checked, QToolButton:checked {{ background: {ACCENT}; color: {BACKGROUND}; }}
QPushButton#primary {{ background: {ACCENT}; color: {BACKGROUND}; font-weight: bold; }}
QPushButton:disabled, QPushButton#primary:disabled {{ color: #66717c; background: {PANEL_ALT}; }}
QToolButton#nav {{ border: none; border-radius: 0; padding: 14px 18px; text-align: left;
                   font-size: {BASE_POINT_SIZE + 1}pt; background: {BACKGROUND}; }}
QToolButton#nav:checked {{ background: {PANEL_ALT}; color: {ACCENT};
                           border-left: 4px solid {ACCENT}; }}
QTabBar::tab {{ background: {PANEL}; padding: 8px 16px; border-top-left-radius: 6px;
                border-top-right-radius: 6px; margin-right: 2px; }}
QTabBar::tab:selected {{ background: {PANEL_ALT}; color: {ACCENT}; }}
QProgressBar {{ background: {PANEL}; border: 1px solid {PANEL_ALT}; border-radius: 6px;
                text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 6px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QMenuBar, QMenu {{ background: {PANEL}; }}
QMenu::item:selected, QMenuBar::item:selected {{ background: {ACCENT}; color: {BACKGROUND}; }}
"""


def apply_theme(app: QApplication) -> None:
    """Give `app` the Oncoboard palette, font and style sheet."""
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, BACKGROUND),
                         (QPalette.ColorRole.Base, PANEL),
                         (QPalette.ColorRole.Text, TEXT),
                         (QPalette.ColorRole.WindowText, TEXT),
                         (QPalette.ColorRole.ButtonText, TEXT),
                         (QPalette.ColorRole.Button, PANEL_ALT),
                         (QPalette.ColorRole.Highlight, ACCENT),
                         (QPalette.ColorRole.Link, ACCENT)):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)


def configure_pyqtgraph() -> None:
    """Set pyqtgraph's global options once (row-major images, dark plots, antialiasing)."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", background=PANEL, foreground=TEXT,
                        antialias=True)
