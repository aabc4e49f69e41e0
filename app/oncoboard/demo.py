"""``oncoboard demo``: generate the synthetic demo cohort and import it like any other data.

The cohort (:mod:`oncoboard.patients.demo_cohort`) is written as one FHIR R4 Bundle per patient
into ``DATA_DIR/demo/fhir/`` and imported through the normal importer, so the demo exercises the
real import path; running it again changes nothing (same files, same hashes).

Dates: the cohort is generated for a reference date, the day its demonstration tumour board
meets (``oncoboard demo --date YYYY-MM-DD``, default today): every date in the records (labs,
notes, treatments, birth dates) is relative to it, so ``oncoboard predict`` and the UI, which
default to today, find the values inside the plugins' look-back windows. For a given seed and
date the content is the same, byte for byte; another date moves the dates only. A data folder
holds the demo of one date (``demo/cohort.json``): running ``oncoboard demo`` there again
without ``--date`` keeps it, and asking for another date is refused with a message (use a fresh
``--data-dir``).

Imaging hook: when the module ``oncoboard.imaging.demo`` exists, its
``generate_demo_imaging(store, settings, cohort)`` is called after the records are imported,
with the :class:`~oncoboard.patients.demo_cohort.DemoCohort` (each lung patient carries
``tumour = {"diameter_mm", "lobe", "side", "t", "n", "m", "seed"}`` so the images can match the
record, and every patient ``study_date``, the date its demo study should carry so that it lies
inside the plugins' look-back windows). Whatever it returns is reported under ``imaging``
(its ``to_dict()``/``describe()`` are used when present).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoboard.config import Settings
from oncoboard.errors import OncoboardError
from oncoboard.patients.demo_cohort import SEED, DemoCohort, generate
from oncoboard.patients.importer import ImportReport, import_file
from oncoboard.store import Store

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What ``oncoboard demo`` did."""

    folder: Path
    cohort: DemoCohort
    reports: list[ImportReport]
    seconds: float                    # records: generate, write and import the bundles
    imaging: Any = None
    groups: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        imaging = self.imaging
        if imaging is not None and hasattr(imaging, "to_dict"):
            imaging = imaging.to_dict()
        return {"folder": str(self.folder), "seed": self.cohort.seed,
                "reference_date": self.cohort.reference_date,
                "patients": [p.id for p in self.cohort.patients], "groups": self.groups,
                "files": len(self.reports),
                "newly_imported": sum(not r.already_imported for r in self.reports),
                "seconds": round(self.seconds, 2), "imaging": imaging}

    def describe(self, command: str = "oncoboard", export: str | None = None) -> str:
        """Return a short human-readable account, ending with commands to try.

        Parameters
        ----------
        command
            How to type ``oncoboard`` in the user's shell (a path when it is not on PATH).
        export
            A line to run first so that a new shell reads this data folder, if one is needed.
        """
        new = sum(not r.already_imported for r in self.reports)
        groups = ", ".join(f"{v} {k}" for k, v in self.groups.items())
        lines = [f"demo cohort: {len(self.cohort.patients)} synthetic patients ({groups}), "
                 f"reference date {self.cohort.reference_date}",
                 f"  FHIR bundles in {self.folder}: {new} imported, "
                 f"{len(self.reports) - new} already present ({self.seconds:.1f} s)"]
        if self.imaging is not None:
            text = self.imaging.describe() if hasattr(self.imaging, "describe") \
                else str(self.imaging)
            lines.append(f"  imaging: {text}")
        when = "" if self.cohort.reference_date == dt.date.today().isoformat() else \
            f" --date {self.cohort.reference_date}"
        lines.append("next, in a shell (these lines work as they are copied):")
        if export:
            lines.append(f"  {export}")
        lines += [f"  {command} patients list", f"  {command} patients show DEMO-LU-001",
                  f"  {command} search fievre", f"  {command} predict DEMO-BR-001{when}",
                  f"  {command} board list"]
        return "\n".join(lines)


def write_bundles(cohort: DemoCohort, folder: Path) -> list[Path]:
    """Write one FHIR Bundle per patient into `folder` (unchanged files are not rewritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for patient in cohort.patients:
        path = folder / f"{patient.id}.json"
        text = json.dumps(patient.bundle(), ensure_ascii=False, indent=1, sort_keys=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def generate_demo_imaging(store: Store, settings: Settings, cohort: DemoCohort) -> Any:
    """Call the imaging demo if the imaging package provides one; return its result or None."""
    try:
        module = importlib.import_module("oncoboard.imaging.demo")
    except ModuleNotFoundError as exc:
        if exc.name not in ("oncoboard.imaging.demo", "oncoboard.imaging"):
            raise
        log.info("no imaging demo available")
        return None
    return module.generate_demo_imaging(store, settings, cohort)


def run_demo(store: Store, settings: Settings, seed: int | None = None,
             imaging: bool = True, date: dt.date | str | None = None) -> DemoResult:
    """Generate the demo cohort, write its FHIR bundles, import them, add demo imaging.

    Parameters
    ----------
    seed
        Another seed gives another (still deterministic) cohort.
    imaging
        False skips the imaging hook (records only: fast, for tests).
    date
        The demo board's date, YYYY-MM-DD; every demo date is relative to it. Default: the
        date of the demo already in the data folder, else today.
    """
    started = time.perf_counter()
    seed = SEED if seed is None else seed
    cohort = generate(seed, date=demo_date(settings.data_dir, date, seed))
    folder = settings.data_dir / "demo" / "fhir"
    # the demo's import day is its board date (a later --date would put facts "in the future")
    day = dt.date.fromisoformat(cohort.reference_date)
    reports = [import_file(store, path, day) for path in write_bundles(cohort, folder)]
    seconds = time.perf_counter() - started
    images = generate_demo_imaging(store, settings, cohort) if imaging else None
    from oncoboard.board.demo import create_demo_meeting  # a planned meeting to hold (board)
    create_demo_meeting(store, [p.id for p in cohort.patients], date=cohort.reference_date)
    groups: dict[str, int] = {}
    for p in cohort.patients:
        groups[p.group] = groups.get(p.group, 0) + 1
    return DemoResult(folder, cohort, reports, seconds, images, groups)


def parse_date(value: dt.date | str | None) -> dt.date:
    """Return the demo date: `value` (a date or YYYY-MM-DD), or today when None."""
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise OncoboardError(f"invalid date {value!r} (expected YYYY-MM-DD)",
                             where="demo") from None


def demo_date(data_dir: Path, date: dt.date | str | None, seed: int) -> dt.date:
    """Return the date to generate the demo for, refusing to mix two demos in one folder.

    A folder that already holds a demo keeps its date when none is given (running
    ``oncoboard demo`` again on another day changes nothing); asking for another date or seed
    there is refused with a message (use a fresh ``--data-dir``).
    """
    marker = data_dir / "demo" / "cohort.json"
    made = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    if made is not None and date is None and made.get("seed") == seed:
        return dt.date.fromisoformat(made["reference_date"])
    day = parse_date(date)
    wanted = {"seed": seed, "reference_date": day.isoformat()}
    if made is not None and made != wanted:
        raise OncoboardError(
            f"this data folder already holds the demo cohort of {made.get('reference_date')} "
            f"(seed {made.get('seed')}); use a fresh --data-dir for the demo of "
            f"{day.isoformat()} (seed {seed})", file=marker, where="demo")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(wanted), encoding="utf-8")
    return day
