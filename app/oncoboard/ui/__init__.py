"""The desktop workstation: PySide6 widgets on top of the headless core.

This is the only package that imports PySide6, pyqtgraph or VTK (an import-linter contract in
``pyproject.toml`` keeps the core free of them). Widgets take core objects and show them; the
clinical logic (record queries, geometry, inference, board rules) stays in the core.
"""
