"""What the command line adds to a message so that a new user can act on it.

The closest known word to a typo ("did you mean 'patients'?"), the data folder a command read
when it found nothing there, and commands printed so that they work when copied as shown.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from oncoboard.errors import NotFoundError, OncoboardError

if TYPE_CHECKING:
    from oncoboard.cli import Context
    from oncoboard.config import Settings
    from oncoboard.store import Store


def edit_distance(a: str, b: str) -> int:
    """Return the Damerau-Levenshtein distance (optimal string alignment) between `a` and `b`.

    Insertions, deletions, substitutions and swaps of two neighbouring letters count one each,
    so ``pateints`` is 1 from ``patients``.
    """
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Return the known word `word` was probably meant to be, or None.

    A choice that differs only in case, or is one edit away (two for words of 6 letters or
    more), is taken; of several, the nearest, then the first. A choice the word merely starts
    (``pat`` for ``patients``) is not a typo and is not suggested.
    """
    best: tuple[int, str] | None = None
    limit = 2 if len(word) >= 6 else 1
    for choice in choices:
        if choice == word:
            continue
        d = 0 if choice.casefold() == word.casefold() else \
            edit_distance(word.casefold(), choice.casefold())
        if d <= limit and (best is None or d < best[0]):
            best = (d, choice)
    return best[1] if best else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the closest choice, or ``""``."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match else ""


def command_prefix(argv0: str | None = None) -> str:
    """Return how to type ``oncoboard`` in the user's shell, as this process was started.

    ``oncoboard`` when that name on PATH is this program; else its absolute path (the
    quickstart's ``.venv/bin/oncoboard``, which is not on PATH), or ``PYTHON -m oncoboard``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    path = Path(argv0)
    if path.name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m oncoboard"
    if path.stem != "oncoboard":
        return "oncoboard"
    found = shutil.which(path.name)
    try:
        if found and Path(found).resolve() == path.resolve():
            return "oncoboard"
    except OSError:
        pass
    return shlex.quote(str(path.absolute()))


def export_line(settings: Settings) -> str | None:
    """Return ``export ONCOBOARD_HOME=DIR`` when a new shell would not read this data folder.

    That is when the folder came from ONCOBOARD_HOME or ``--data-dir`` (a site or user
    configuration file is read by every shell alike).
    """
    from oncoboard.config import default_data_dir

    folder = Path(settings.data_dir)
    if os.environ.get("ONCOBOARD_HOME") or folder != default_data_dir():
        return f"export ONCOBOARD_HOME={shlex.quote(str(folder.absolute()))}"
    return None


def no_patients_text(settings: Settings) -> str:
    """Return "no patients in the data folder DIR", and how to read another folder."""
    return (f"no patients in the data folder {settings.data_dir} (to read another: "
            "--data-dir DIR, or export ONCOBOARD_HOME=DIR)")


def store_is_empty(store: Store) -> bool:
    """Return True when the store holds no patient at all."""
    return not list(store.db.query("SELECT 1 FROM patients LIMIT 1"))


@contextmanager
def suggest_patient(ctx: Context, patient_id: str | None) -> Iterator[None]:
    """Add the closest stored patient ID, or the data folder read, to "no patient" errors."""
    try:
        yield
    except NotFoundError as exc:
        said = rf"\bno patient (with ID )?{re.escape(repr(patient_id))}"
        if not patient_id or not re.search(said, exc.reason):
            raise
        from oncoboard.patients import record

        ids = [p.id for p in record.list_patients(ctx.store)]
        hint = did_you_mean(patient_id, ids) if ids else f": {no_patients_text(ctx.settings)}"
        if not hint:
            raise
        raise NotFoundError(exc.reason + hint, file=exc.file, where=exc.where) from exc


@contextmanager
def suggest_plugin(ctx: Context, plugin_ids: Iterable[str] | None) -> Iterator[None]:
    """Add the closest plugin id to "no plugin" errors."""
    try:
        yield
    except OncoboardError as exc:  # the engine's "no plugin" is not a NotFoundError
        wanted = [p for p in (plugin_ids or []) if f"no plugin {p!r}" in exc.reason]
        if not wanted:
            raise
        from oncoboard.inference.discovery import discover_plugins

        hint = did_you_mean(wanted[0], [p.id for p in discover_plugins(ctx.settings)])
        if not hint:
            raise
        raise type(exc)(exc.reason + hint, file=exc.file, where=exc.where) from exc


@contextmanager
def suggest_case(ctx: Context, meeting: str, patient_id: str) -> Iterator[None]:
    """Add the closest patient on the meeting's agenda to "not on the agenda" errors."""
    try:
        yield
    except NotFoundError as exc:
        if f"patient {patient_id!r} is not on meeting" not in exc.reason:
            raise
        from oncoboard.board.meetings import list_cases

        hint = did_you_mean(patient_id, [c.patient_id for c in list_cases(ctx.store, meeting)])
        if not hint:
            raise
        raise NotFoundError(exc.reason + hint, file=exc.file, where=exc.where) from exc


@contextmanager
def suggest_meeting(ctx: Context) -> Iterator[None]:
    """Add the data folder read to "no tumour-board meeting" errors when it holds none."""
    try:
        yield
    except NotFoundError as exc:
        if "no tumour-board meeting" not in exc.reason or \
                list(ctx.store.db.query("SELECT 1 FROM board_meetings LIMIT 1")):
            raise
        hint = (f"; the data folder {ctx.settings.data_dir} holds no meetings (to read "
                "another: --data-dir DIR, or export ONCOBOARD_HOME=DIR)")
        raise NotFoundError(exc.reason + hint, file=exc.file, where=exc.where) from exc
