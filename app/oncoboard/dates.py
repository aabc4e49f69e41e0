"""Dates as the record holds them (ISO text): ages at a date, timestamps for the screen.

One helper per fact, used by the record, the import, the board and the app alike.
"""

from __future__ import annotations

import datetime as dt


def _day(value: str | dt.date | None) -> dt.date | None:
    """Return the calendar day of an ISO date or timestamp (None when missing or partial)."""
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def age_at(birth_date: str | None, on: str | dt.date | None) -> int | None:
    """Return the age in whole years on the day `on` (None when either date is missing)."""
    born, day = _day(birth_date or None), _day(on or None)
    if born is None or day is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def age_in_years(birth_date: str | None, on: str | dt.date | None) -> float | None:
    """Return the exact age in years (days / 365.25) on the day `on`, e.g. to fit age ranges."""
    born, day = _day(birth_date or None), _day(on or None)
    if born is None or day is None:
        return None
    return (day - born).days / 365.25


def local_time(stamp: str | None) -> str:
    """Return a stored UTC ISO timestamp as local 'YYYY-MM-DD HH:MM' for the screen."""
    if not stamp:
        return ""
    try:
        return dt.datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp
