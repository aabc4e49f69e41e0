"""Fixtures of the board tests: a fresh store per test with a few synthetic patients."""

from __future__ import annotations

from typing import Any

import pytest
from board_helpers import PATIENTS, add_patient

from oncoboard.store import open_store


@pytest.fixture
def store(db_target: Any) -> Any:
    """Return a fresh store (SQLite data folder or PostgreSQL database), with synthetic patients."""
    s = open_store(db_target)
    for row in PATIENTS:
        add_patient(s, *row)
    yield s
    s.close()


@pytest.fixture
def meeting(store: Any) -> Any:
    """Return a planned breast meeting with two cases."""
    from oncoboard.board import meetings

    m = meetings.create_meeting(store, date="2026-11-23", specialty="sein",
                                title="RCP sein hebdomadaire", location="Salle 3",
                                attendees=["Dr Alice Roy (medical oncologist)",
                                           "Dr Marc Petit (radiologist)"])
    meetings.add_case(store, m.id, "BRC-001", question="Adjuvant chemotherapy after surgery?",
                      presenter="Dr Roy")
    meetings.add_case(store, m.id, "BRC-002", question="Neoadjuvant strategy?",
                      presenter="Dr Petit")
    return meetings.get_meeting(store, m.id)
