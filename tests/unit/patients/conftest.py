"""Fixtures for the clinical-record tests: a fresh store per test and a bundle writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oncoboard.patients import fhir_build as fb
from oncoboard.store import Store, open_store


@pytest.fixture
def store(db_target: Any) -> Store:
    s = open_store(db_target)
    yield s
    s.close()


@pytest.fixture
def write_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write resources (or a raw dict) as a bundle file and return its path."""

    def write(resources: list[dict[str, Any]] | dict[str, Any], name: str = "b.json") -> Path:
        data = resources if isinstance(resources, dict) else fb.bundle(resources)
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write
