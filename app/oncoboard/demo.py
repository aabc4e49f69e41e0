"""``oncoboard demo``: generate the synthetic demo cohort and import it like any other data.

The cohort (:mod:`oncoboard.patients.demo_cohort`) is written as one FHIR R4 Bundle per patient
into ``DATA_DIR/demo/fhir/`` and imported through the normal importer, so the demo exercises the
real import path; running it again changes nothing (same files, same hashes).

Imaging hook: when the module ``oncoboard.imaging.demo`` exists, its
``generate_demo_imaging(store, settings, cohort)`` is called after the records are imported,
with the :class:`~oncoboard.patients.demo_cohort.DemoCohort` (each lung patient carries
``tumour = {"diameter_mm", "lobe", "side", "t", "n", "m", "seed"}`` so the images can match the
record). Whatever it returns is reported under ``imaging`` (its ``to_dict()``/``describe()`` are
used when present).
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoboard.config import Settings
from oncoboard.patients.demo_cohort import DemoCohort, generate
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

    def describe(self) -> str:
        """Return a short human-readable account."""
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
        lines.append("  try: oncoboard patients list; oncoboard patients show DEMO-LU-001; "
                     "oncoboard search fievre")
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
             imaging: bool = True) -> DemoResult:
    """Generate the demo cohort, write its FHIR bundles, import them, add demo imaging.

    Parameters
    ----------
    seed
        Another seed gives another (still deterministic) cohort.
    imaging
        False skips the imaging hook (records only: fast, for tests).
    """
    started = time.perf_counter()
    cohort = generate() if seed is None else generate(seed)
    folder = settings.data_dir / "demo" / "fhir"
    reports = [import_file(store, path) for path in write_bundles(cohort, folder)]
    seconds = time.perf_counter() - started
    images = generate_demo_imaging(store, settings, cohort) if imaging else None
    from oncoboard.board.demo import create_demo_meeting  # a planned meeting to hold (board)
    create_demo_meeting(store, [p.id for p in cohort.patients], date=cohort.reference_date)
    groups: dict[str, int] = {}
    for p in cohort.patients:
        groups[p.group] = groups.get(p.group, 0) + 1
    return DemoResult(folder, cohort, reports, seconds, images, groups)
