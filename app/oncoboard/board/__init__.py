"""Tumour boards: meetings, case lists, decisions, report export, and the audit trail.

:mod:`oncoboard.board.audit` is the append-only, hash-chained audit log that every prediction and
board decision is written to (``append``, ``verify``, ``entries``).
"""
