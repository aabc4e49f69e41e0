"""Oncoboard: clinical decision support for cancer tumour boards.

The clinical core (``store``, ``patients``, ``imaging``, ``inference``, ``board``) runs headless
and never imports Qt; ``oncoboard.ui`` is the only package that does.
"""

__version__ = "0.1.0"

import os as _os

# onnxruntime's telemetry (a device id and usage events under ~/.cache/Microsoft) is read from
# this variable when onnxruntime is imported, wherever that happens: set before any import.
# No data leaves the machine (README "Privacy").
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
