"""Imaging: DICOM index, series -> `Volume` (voxels + exact geometry), RT structures, cache.

Public API (imported lazily so ``import oncoboard.imaging`` stays cheap)::

    index_paths(store, paths, *, progress=None, cancel=None, settings=None) -> IndexReport
    list_series(store, patient_id=None) -> list[SeriesInfo]
    load_series(store, series_uid, *, progress=None, cancel=None, use_cache=True,
                stack=None, settings=None) -> Volume
    load_files(paths, *, progress=None, cancel=None) -> list[Volume]
    load_structures(store, series_uid) -> list[Structure]
    rasterise(structure, volume) -> numpy bool mask shaped like volume.voxels
    get_series(store, series_uid) -> SeriesInfo; relink_studies(store, rule) -> int
    read_structures(path) -> list[Structure]; LoadCancelled (a DicomError)

See `oncoboard.imaging.volume` for the axis and affine conventions.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Volume": "oncoboard.imaging.volume",
    "Structure": "oncoboard.imaging.volume",
    "WindowPreset": "oncoboard.imaging.volume",
    "IndexReport": "oncoboard.imaging.index",
    "SeriesInfo": "oncoboard.imaging.index",
    "index_paths": "oncoboard.imaging.index",
    "list_series": "oncoboard.imaging.index",
    "load_series": "oncoboard.imaging.loader",
    "load_files": "oncoboard.imaging.loader",
    "get_series": "oncoboard.imaging.index",
    "relink_studies": "oncoboard.imaging.index",
    "LoadCancelled": "oncoboard.imaging.pixels",
    "read_structures": "oncoboard.imaging.structures",
    "load_structures": "oncoboard.imaging.structures",
    "rasterise": "oncoboard.imaging.structures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oncoboard.imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
