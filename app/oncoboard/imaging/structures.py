"""RTSTRUCT contours and DICOM SEG segments, rasterised onto a `Volume`'s grid."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.imaging.volume import Structure, Volume


def load_structures(store: Any, series_uid: str) -> list[Structure]:
    """Return the structures drawn on image series `series_uid` (or held by RTSTRUCT/SEG `series_uid`)."""
    raise NotImplementedError


def rasterise(structure: Structure, volume: Volume) -> NDArray[np.bool_]:
    """Return a boolean mask shaped like ``volume.voxels`` that is True inside `structure`."""
    raise NotImplementedError
