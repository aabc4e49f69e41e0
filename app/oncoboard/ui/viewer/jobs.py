"""The viewer's background jobs: opening a series (local or PACS), decoding or fetching the
rest of it, thumbnails. Each runs on a pool thread (`workers.Task`) with its own store."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication

from oncoboard.imaging import display
from oncoboard.ui import workers

log = logging.getLogger(__name__)
THUMB = 96


def tr(text: str) -> str:
    """Translate `text` in the viewer's context."""
    return QCoreApplication.translate("ViewerView", text)


def _overlays(store: Any, series_uid: str, volume: Any) -> list[Any]:
    """Rasterise the structures drawn on `series_uid` (geometry only: no voxel is read)."""
    from oncoboard.imaging import load_structures, rasterise

    overlays = []
    for structure in load_structures(store, series_uid):
        mask = structure.mask if (structure.mask is not None and
                                  structure.mask.shape == volume.voxels.shape) \
            else rasterise(structure, volume)
        overlays.append((structure.name, mask, structure.color))
    return overlays


def open_local_job(task: workers.Task, db_path: Any, series_uid: str
                   ) -> tuple[Any, Any, list[Any], Any]:
    """Open an indexed series: a compressed one with only its visible slice decoded (the
    tumour's when structures are drawn on it, else the middle one), others whole.

    Returns ``(series, volume, overlays, cache_put)``; `series` is None when the volume is
    complete, else a `ProgressiveSeries` to finish with `decode_rest_job`.
    """
    from oncoboard.imaging.progressive import open_local
    from oncoboard.store import open_store

    store = open_store(db_path)
    try:
        series, volume, put = open_local(
            store, series_uid, visible=-1,
            progress=lambda done, total, msg: task.progress(0.9 * done / max(total, 1), msg),
            cancel=task.cancel_event.is_set)
        overlays = _overlays(store, series_uid, volume)
        if series is not None:
            visible = volume.shape[0] // 2
            for _name, mask, _colour in overlays:  # the viewer opens on the first overlay
                idx = np.argwhere(mask)
                if idx.size:
                    visible = int(np.round(idx[:, 0].mean()))
                    break
            series.first(visible)
        return series, volume, overlays, put
    finally:
        store.close()


def decode_rest_job(task: workers.Task, series: Any, cache_put: Any) -> Any:
    """Decode the slices of an open local series not decoded yet; keep it in the cache."""
    series.run(progress=lambda done, total, msg: task.progress(done / max(total, 1), msg),
               cancel=task.cancel_event.is_set)
    cache_put()
    return series


def open_remote_job(task: workers.Task, settings: Any, node: Any, study_uid: str,
                    series_uid: str) -> tuple[Any, Any]:
    """Open a PACS series and fetch its middle slice (the one shown first)."""
    from oncoboard.imaging.webseries import open_remote

    task.progress(0.0, tr("Asking the PACS"))
    return open_remote(settings, node, series_uid, study_uid=study_uid, rest=False,
                       cancel=task.cancel_event.is_set)


def fetch_rest_job(task: workers.Task, series: Any) -> Any:
    """Fetch the slices of an open PACS series not yet here (the cache keeps them)."""
    series.fetch(progress=lambda done, total, msg: task.progress(done / max(total, 1), msg),
                 cancel=task.cancel_event.is_set)
    return series


def thumbnails_job(task: workers.Task, db_path: Any, uids: list[str]) -> dict[str, Any]:
    """Return a small 8-bit middle slice per series (from the volume cache after first load;
    of a compressed series not cached, only the middle slice is decoded)."""
    from oncoboard.imaging.progressive import open_local
    from oncoboard.imaging.volume import Volume
    from oncoboard.store import open_store

    store = open_store(db_path)
    out: dict[str, Any] = {}
    try:
        for i, uid in enumerate(uids):
            task.progress(i / max(len(uids), 1), tr("Thumbnails"))
            try:
                series, vol, _put = open_local(store, uid, cancel=task.cancel_event.is_set)
            except Exception as exc:  # noqa: BLE001 - a bad series must not stop the others
                log.info("no thumbnail for %s: %s", uid, exc)
                continue
            if series is not None:  # only its middle slice is decoded: a one-slice volume
                k = vol.shape[0] // 2
                vol = Volume(vol.voxels[k:k + 1], vol.affine, modality=vol.modality,
                             window_presets=[p for p in vol.window_presets if p[0] != "Auto"])
            out[uid] = thumbnail(vol)
    finally:
        store.close()
    return out


def thumbnail(volume: Any) -> np.ndarray:
    """Return the middle acquisition plane as a THUMB-pixel-wide uint8 image."""
    plane = display.extract_plane(volume.voxels, 0, volume.shape[0] // 2)
    step = max(1, max(plane.shape) // THUMB)
    _n, centre, width = display.presets_for(volume)[0]
    return np.ascontiguousarray(display.window_to_uint8(plane[::step, ::step], centre, width))
