"""Radiomics features of a written DICOM CT + RTSTRUCT, read back through oncoboard.imaging.

This is the path the engine takes at a tumour board (index, load the series into a Volume, load
the GTV structure, rasterise it, compute features), used to check that the synthetic training
features match what the app measures on the same images.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from oncoboard.inference.radiomics import compute_features


def features_from_dicom(folder: Path, names: list[str], roi: str = "GTV") -> dict[str, float]:
    """Return `names` features of ROI `roi` on the CT series found under `folder`."""
    from oncoboard.imaging.index import index_paths, list_series
    from oncoboard.imaging.loader import load_series
    from oncoboard.imaging.structures import load_structures, rasterise
    from oncoboard.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "roundtrip.db")
        index_paths(store, [folder])
        ct = next(s for s in list_series(store) if s.modality == "CT")
        volume = load_series(store, ct.series_uid, use_cache=False)
        structure = next(s for s in load_structures(store, ct.series_uid)
                         if s.name.upper() == roi.upper())
        mask = rasterise(structure, volume)
        return compute_features(volume, mask, names)
