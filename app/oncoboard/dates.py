"""Dates as the record holds them (ISO text): ages at a date, timestamps for the screen.

One helper per fact, used by the record, the import, the board and the app alike.
"""

from __future__ import annotations

import datetime as dt


def age_at(birth_date: str | None, on: str) -> int | None:
    """Return the age in whole years on the date `on` (None without a birth date)."""
    if not birth_date:
        return None
    try:
        born, day = dt.date.fromisoformat(birth_date[:10]), dt.date.fromisoformat(on[:10])
    except ValueError:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def local_time(stamp: str | None) -> str:
    """Return a stored UTC ISO timestamp as local 'YYYY-MM-DD HH:MM' for the screen."""
    if not stamp:
        return ""
    try:
        return dt.datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp
