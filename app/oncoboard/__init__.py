"""Oncoboard: clinical decision support for cancer tumour boards.

The clinical core (``store``, ``patients``, ``imaging``, ``inference``, ``board``) runs headless
and never imports Qt; ``oncoboard.ui`` is the only package that does.
"""

__version__ = "0.1.0"
