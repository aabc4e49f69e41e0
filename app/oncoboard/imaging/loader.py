"""Load series as `Volume` objects: from the index (with the cache) or straight from files."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from oncoboard.errors import DicomError
from oncoboard.imaging.assemble import assemble, pick_stack
from oncoboard.imaging.cache import VolumeCache
from oncoboard.imaging.headers import InstanceRecord, read_record
from oncoboard.imaging.index import (
    CancelFn,
    IndexReport,
    ProgressFn,
    _read_all,
    get_series,
    series_records,
    update_records,
)
from oncoboard.imaging.index_files import _expand
from oncoboard.imaging.volume import Volume

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)


def cache_for(store: Store, settings: Settings | None = None) -> VolumeCache | None:
    """Return the volume cache of this data folder (None for an in-memory store)."""
    if settings is not None:
        return VolumeCache(settings.cache_dir, settings.cache_max_bytes)
    if store.path is not None:
        return VolumeCache(store.path.parent / "cache")
    return None


def load_series(store: Store, series_uid: str, *, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None, use_cache: bool = True,
                stack: int | None = None, settings: Settings | None = None) -> Volume:
    """Load an indexed series (one stack of it) as a `Volume`.

    Parameters
    ----------
    store
        The open store.
    series_uid
        SeriesInstanceUID of an indexed series.
    progress, cancel
        ``progress(done, total, message)``; ``cancel()`` returning True stops with
        `LoadCancelled` (a DicomError).
    use_cache
        Reuse (and fill) the on-disk volume cache.
    stack
        Which stack when the series holds several (see `SeriesInfo.stacks`; 0, the default, is
        the largest).
    settings
        Gives the cache folder and size limit; else ``<database folder>/cache``, 4 GiB.

    Raises
    ------
    NotFoundError
        The series is not indexed.
    DicomError
        A file is missing or unreadable, or the pixels cannot be decoded.
    """
    get_series(store, series_uid)
    records = _fresh(store, series_records(store, series_uid), series_uid)
    cache = cache_for(store, settings) if use_cache else None
    key = None
    if cache is not None:
        key = VolumeCache.key(series_uid, stack,
                              [(r.path, r.size, r.mtime_ns) for r in records])
        hit = cache.get(key)
        if hit is not None:
            log.info("series %s: from cache", series_uid)
            return hit
    volume = assemble(records, stack=stack, progress=progress, cancel=cancel, where=series_uid)
    if cache is not None and key is not None:
        cache.put(key, volume)
    return volume


def _fresh(store: Store, records: list[InstanceRecord], where: str) -> list[InstanceRecord]:
    """Re-read the headers of files changed since indexing; fail on missing files."""
    out, changed = [], []
    for rec in records:
        try:
            st = os.stat(rec.path)
        except OSError as exc:
            raise DicomError("file of an indexed series is missing (re-import the folder)",
                             file=rec.path, where=where) from exc
        if (st.st_size, st.st_mtime_ns) != (rec.size, rec.mtime_ns):
            rec = read_record(rec.path)
            changed.append(rec)
        out.append(rec)
    if changed:
        log.info("series %s: %d files changed since indexing, re-read", where, len(changed))
        update_records(store, changed)
    return out


def read_records(paths: Iterable[str | Path]) -> tuple[list[InstanceRecord], list[tuple[str, str]]]:
    """Read the headers of every file under `paths`; return records and skipped files."""
    report = IndexReport()
    files = list(_expand(paths, Path.cwd(), report))
    records = _read_all(files, report, None, None) or []
    return records, report.skipped


def load_files(paths: Iterable[str | Path], *, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> list[Volume]:
    """Load DICOM files directly (no store): one `Volume` per stack of every image series.

    Files that are not DICOM are ignored; series without image frames (RTSTRUCT, SR...) too.
    """
    records, _ = read_records(paths)
    by_series: dict[str, list[InstanceRecord]] = defaultdict(list)
    for rec in records:
        if rec.has_pixels:
            by_series[rec.series_uid].append(rec)
    volumes = []
    for uid, recs in sorted(by_series.items()):
        _, stacks = pick_stack(recs, None, uid)
        for i in range(len(stacks)):
            volumes.append(assemble(recs, stack=i, progress=progress, cancel=cancel, where=uid))
    return volumes
