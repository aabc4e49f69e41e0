"""The folder of the DICOMweb slice cache and its size bound (see `oncoboard.imaging.webseries`).

Entries are ``<series key>-<content key>.npy`` (voxels) with ``.have`` (one byte per slice), and
``<series key>.meta.json`` (the instance records of the series).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

__all__ = ["cache_folder", "evict"]


def cache_folder(settings: Any) -> Path:
    """Return the folder of the DICOMweb slice cache in the data folder's cache."""
    return Path(settings.cache_dir) / "dicomweb"


def evict(root: Path, budget: int, keep: str = "") -> list[str]:
    """Delete least recently used entries of `root` until they take at most `budget` bytes.

    Metadata files of series without an entry go too, except that of series `keep`.
    """
    entries = []
    for npy in root.glob("*.npy"):
        with contextlib.suppress(OSError):
            st = npy.stat()
            entries.append((st.st_mtime, st.st_size, npy))
    entries.sort()
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, npy in entries:
        if total <= max(budget, 0):
            break
        for path in (npy, npy.with_suffix(".have")):
            path.unlink(missing_ok=True)
        total -= size
        removed.append(npy.stem)
    kept = {npy.stem.split("-")[0] for npy in root.glob("*.npy")} | {keep}
    for meta in root.glob("*.meta.json"):
        if meta.name.split(".")[0] not in kept:
            meta.unlink(missing_ok=True)
    return removed
