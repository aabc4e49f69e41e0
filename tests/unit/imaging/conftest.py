"""Fixtures of the imaging tests: a fresh store in a temporary data folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oncoboard.imaging import jpeg_decoder
from oncoboard.store import open_store

# pydicom's own pixel_array, used as the reference in these tests, decodes JPEG with the
# app's plugin (the loader registers it on first use; the references may decode before).
jpeg_decoder.register()


@pytest.fixture
def data_dir(tmp_path: Any) -> Any:
    """Return an empty data folder."""
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def store(data_dir: Any) -> Iterator[Any]:
    """Return a fresh, migrated store in the data folder."""
    s = open_store(data_dir)
    yield s
    s.close()


@pytest.fixture
def settings(data_dir: Any) -> Any:
    """Return settings pointing at the data folder, with a small cache limit."""
    from dataclasses import replace

    from oncoboard.config import load_settings

    return replace(load_settings(data_dir), cache_max_bytes=64 * 1024**2)
