"""The in-memory image objects the rest of the app works with: `Volume` and `Structure`.

Conventions, fixed for every consumer (viewer, plugins, PACS, CLI):

* ``Volume.voxels`` is a 3-D numpy array indexed ``[slice, row, column]``. ``row`` and ``column``
  are the DICOM pixel rows and columns of each slice; ``slice`` runs along the slice normal
  (``row direction x column direction``), in increasing order of the position along that normal
  (so for an axial CT in the usual orientation, slice 0 is the most inferior slice).
* Values are rescaled (``stored * RescaleSlope + RescaleIntercept``): Hounsfield units for CT.
  The dtype is ``int16`` when every rescaled value fits it exactly (the usual CT case, half the
  memory of float32), otherwise ``float32``. MONOCHROME1 images are inverted so that higher
  values are always brighter.
* ``Volume.affine`` is a 4x4 float64 matrix mapping array indices, in the order of the voxels'
  axes, to patient coordinates in millimetres (DICOM LPS): the voxel ``voxels[a, b, c]`` is at
  ``affine @ [a, b, c, 1]``. Columns 0-2 are the steps along the slice, row and column axes.
  With a gantry tilt the slice step is not perpendicular to the slices (a sheared affine): the
  geometry stays exact and a warning says so; nothing is resampled.
* A volume reopened from the cache holds a read-only memory map: copy ``voxels`` before
  changing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

WindowPreset = tuple[str, float, float]
"""A display window: (name, centre, width), in the voxels' units."""


@dataclass
class Volume:
    """A series assembled into a 3-D array with its exact geometry.

    Attributes
    ----------
    voxels
        Rescaled values, axes ``(slice, row, column)``; int16 or float32.
    affine
        4x4 float64 map from array indices ``(slice, row, column, 1)`` to LPS millimetres.
    modality
        DICOM modality (``CT``, ``MR``, ``PT``...).
    series_uid, study_uid, patient_id, description
        Identifiers and series description from the headers.
    window_presets
        Windows from the headers (WindowCenter/Width) and, for CT, the usual presets.
    warnings
        Everything a reader should know: gaps, non-uniform spacing, tilt, lossy compression...
    meta
        Other header facts (units, frame of reference, slice positions, source stack key, ...);
        JSON-serialisable.
    """

    voxels: NDArray[Any]
    affine: NDArray[np.float64]
    modality: str = ""
    series_uid: str = ""
    study_uid: str = ""
    patient_id: str = ""
    description: str = ""
    window_presets: list[WindowPreset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, not {self.affine.shape}")
        if self.voxels.ndim != 3:
            raise ValueError(f"voxels must be 3-D, not {self.voxels.ndim}-D")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return the array shape ``(slices, rows, columns)``."""
        s = self.voxels.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Return the length in mm of one step along each array axis (slice, row, column).

        For a tilted (sheared) series the slice value is the distance between the origins of
        consecutive slices, not their distance along the normal: see `slice_thickness_normal`.
        """
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def origin(self) -> tuple[float, float, float]:
        """Return the LPS position (mm) of voxel ``[0, 0, 0]``."""
        o = self.affine[:3, 3]
        return (float(o[0]), float(o[1]), float(o[2]))

    @property
    def normal(self) -> NDArray[np.float64]:
        """Return the unit slice normal (row direction x column direction)."""
        n = np.cross(self.affine[:3, 2], self.affine[:3, 1])
        return np.asarray(n / np.linalg.norm(n), dtype=np.float64)

    @property
    def slice_thickness_normal(self) -> float:
        """Return the distance between consecutive slices measured along the slice normal."""
        return float(abs(np.dot(self.affine[:3, 0], self.normal)))

    @property
    def is_sheared(self) -> bool:
        """Return True when the slice axis is not perpendicular to the slices (gantry tilt)."""
        step = self.affine[:3, 0]
        return bool(np.linalg.norm(np.cross(step / np.linalg.norm(step), self.normal)) > 1e-4)

    def index_to_patient(self, indices: NDArray[Any]) -> NDArray[np.float64]:
        """Map array indices ``(..., 3)`` (slice, row, column) to LPS mm ``(..., 3)``."""
        idx = np.asarray(indices, dtype=np.float64)
        return np.asarray(idx @ self.affine[:3, :3].T + self.affine[:3, 3], dtype=np.float64)

    def patient_to_index(self, points: NDArray[Any]) -> NDArray[np.float64]:
        """Map LPS mm points ``(..., 3)`` to fractional array indices ``(..., 3)``."""
        inv = np.linalg.inv(self.affine)
        pts = np.asarray(points, dtype=np.float64)
        return np.asarray(pts @ inv[:3, :3].T + inv[:3, 3], dtype=np.float64)


@dataclass
class Structure:
    """One region of interest from an RTSTRUCT or a DICOM SEG.

    Attributes
    ----------
    name
        ROI name (RTSTRUCT ``ROIName``) or segment label (SEG ``SegmentLabel``), e.g. ``GTV``.
    number
        ROI number or segment number in its source object.
    kind
        ``"rtstruct"`` (planar contours) or ``"seg"`` (a labelled mask).
    color
        Display colour (r, g, b) 0-255.
    source_series_uid
        Series UID of the RTSTRUCT or SEG it comes from.
    referenced_series_uid
        Series UID of the image series it was drawn on ('' when the object does not say).
    frame_of_reference_uid
        Frame of reference of the coordinates.
    contours
        For RTSTRUCT: closed planar polygons, each an ``(N, 3)`` array of LPS mm points.
    mask, mask_affine
        For SEG: a boolean ``(slice, row, column)`` mask and its affine (same convention as
        `Volume.affine`).
    interpreted_type
        RTROIInterpretedType (``GTV``, ``CTV``, ``PTV``, ``ORGAN``...) or the SEG category.
    """

    name: str
    number: int
    kind: str
    color: tuple[int, int, int] = (255, 0, 0)
    source_series_uid: str = ""
    referenced_series_uid: str = ""
    frame_of_reference_uid: str = ""
    contours: list[NDArray[np.float64]] = field(default_factory=list)
    mask: NDArray[np.bool_] | None = None
    mask_affine: NDArray[np.float64] | None = None
    interpreted_type: str = ""
