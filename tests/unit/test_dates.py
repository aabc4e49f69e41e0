"""Ages at a date: one helper used by the record, the import, the board and the UI."""

from __future__ import annotations

import datetime as dt

from oncoboard.dates import age_at, age_in_years


def test_age_at_counts_whole_years_from_text_or_dates():
    assert age_at("1960-06-15", "2026-06-14") == 65
    assert age_at("1960-06-15", "2026-06-15") == 66
    assert age_at("1960-06-15T08:00:00+02:00", dt.date(2026, 6, 15)) == 66
    assert age_at("2000-02-29", "2026-02-28") == 25  # leap-day birthday: not yet


def test_age_at_is_unknown_rather_than_guessed():
    assert age_at(None, "2026-01-01") is None
    assert age_at("1960", "2026-01-01") is None  # partial birth date
    assert age_at("1960-06-15", None) is None


def test_age_in_years_is_exact_for_age_ranges():
    assert age_in_years("2000-01-01", "2001-01-01") == 366 / 365.25
    assert age_in_years("2000-01", "2001-01-01") is None
