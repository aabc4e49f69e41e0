"""Assemble indexed series into `Volume` objects."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from oncoboard.imaging.index import CancelFn, ProgressFn
from oncoboard.imaging.volume import Volume


def load_series(store: Any, series_uid: str, *, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None, use_cache: bool = True,
                stack: int | None = None, settings: Any = None) -> Volume:
    """Load an indexed series as a `Volume`."""
    raise NotImplementedError


def load_files(paths: Iterable[str | Path], *, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> list[Volume]:
    """Load DICOM files directly (no store): one `Volume` per series stack found."""
    raise NotImplementedError
