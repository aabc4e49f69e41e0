"""Tumour boards: meetings, case lists, decisions, report export.

Every board change and decision is written to the audit trail (:mod:`oncoboard.audit`);
:func:`oncoboard.board.trail.verify_trail` checks the chain and the rows stored beside it.
"""
