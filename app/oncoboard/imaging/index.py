"""Index DICOM files (folders, zip files, DICOMDIR) into the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ProgressFn = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)``."""
CancelFn = Callable[[], bool]
"""Returns True when the user asked to stop (a ``threading.Event().is_set`` works)."""


@dataclass
class IndexReport:
    """What one `index_paths` call did."""

    files_seen: int = 0
    instances_indexed: int = 0
    series_uids: list[str] = field(default_factory=list)
    study_uids: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    linked_patients: list[str] = field(default_factory=list)
    unlinked_patient_ids: list[str] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class SeriesInfo:
    """One indexed series as listed to users."""

    series_uid: str
    study_uid: str
    patient_id: str | None
    dicom_patient_id: str
    modality: str
    description: str
    series_number: int | None
    study_date: str
    study_description: str
    n_instances: int
    n_frames: int
    stacks: list[dict[str, Any]] = field(default_factory=list)
    referenced_series_uid: str = ""


def index_paths(store: Any, paths: Iterable[str | Path], *, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None, settings: Any = None) -> IndexReport:
    """Index DICOM files found under `paths` into `store`."""
    raise NotImplementedError


def list_series(store: Any, patient_id: str | None = None) -> list[SeriesInfo]:
    """Return the indexed series, optionally only those of one patient."""
    raise NotImplementedError
