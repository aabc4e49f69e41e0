"""Demo patients imported into a fresh store, with the bundled plugins: what `oncoboard predict`
finds for them. Shared by the plugins' demo-patient tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oncoboard.config import Settings
from oncoboard.patients import demo_cohort
from oncoboard.patients.importer import import_file
from oncoboard.store import open_store

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"


@contextlib.contextmanager
def demo_store(folder: Path, wanted: Callable[[Any], bool]
               ) -> Iterator[tuple[Any, Settings, Any, list[Any]]]:
    """Import the demo patients `wanted` picks into a store in `folder`, on the demo's
    reference date (their records are dated up to it); yield the store, settings for the
    bundled plugins (CPU), the cohort and the patients imported."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(PLUGINS))
    mp.setenv("ONCOBOARD_SITE_CONFIG", str(folder / "no-site.toml"))
    mp.setenv("ONCOBOARD_USER_CONFIG", str(folder / "no-user.toml"))
    store = open_store(folder / "data")
    try:
        cohort = demo_cohort.generate()
        day = dt.date.fromisoformat(cohort.reference_date)
        picked = [p for p in cohort.patients if wanted(p)]
        for p in picked:
            path = folder / f"{p.id}.json"
            path.write_text(json.dumps(p.bundle()), encoding="utf-8")
            import_file(store, path, today=day)
        settings = Settings(data_dir=folder / "data", providers=("CPUExecutionProvider",))
        yield store, settings, cohort, picked
    finally:
        store.close()
        mp.undo()
