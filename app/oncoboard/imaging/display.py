"""Display arithmetic for the viewer: planes, window/level to 8 bits, orientation letters.

Pure numpy on a :class:`~oncoboard.imaging.volume.Volume`: nothing here changes the data, it only
decides how a plane is drawn on screen. Geometry comes from the volume's affine, never from
assumptions about the acquisition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Standard CT windows (name, centre, width) in HU.
CT_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("Lung", -600.0, 1500.0),
    ("Mediastinum", 40.0, 400.0),
    ("Abdomen", 60.0, 400.0),
    ("Bone", 400.0, 1800.0),
    ("Brain", 40.0, 80.0),
)
PLANE_NAMES = {0: "axial", 1: "coronal", 2: "sagittal"}  # by dominant LPS axis of the normal
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))           # (negative, positive) along x, y, z


def plane_axes(axis: int) -> tuple[int, int]:
    """Return the array axes (row axis, column axis) shown on screen for plane `axis`."""
    return {0: (1, 2), 1: (0, 2), 2: (0, 1)}[axis]


def extract_plane(voxels: NDArray[Any], axis: int, index: int) -> NDArray[Any]:
    """Return the 2-D plane ``index`` across array `axis` as (screen rows, screen columns)."""
    index = int(np.clip(index, 0, voxels.shape[axis] - 1))
    if axis == 0:
        plane: NDArray[Any] = voxels[index]  # an integer index types as Any in numpy's stubs
        return plane
    if axis == 1:
        return voxels[:, index, :]
    return voxels[:, :, index]


def window_to_uint8(plane: NDArray[Any], centre: float, width: float,
                    out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Map values to 0-255 with the linear window (centre, width); clip outside."""
    width = max(float(width), 1e-6)
    low = centre - width / 2.0
    scaled = (plane.astype(np.float32, copy=False) - np.float32(low)) * np.float32(255.0 / width)
    np.clip(scaled, 0, 255, out=scaled)
    if out is None:
        return scaled.astype(np.uint8)
    np.copyto(out, scaled, casting="unsafe")
    return out


def auto_window(voxels: NDArray[Any], sample: int = 200_000) -> tuple[float, float]:
    """Return a (centre, width) covering the 1st-99th percentile of a voxel sample (MR, PET)."""
    flat = voxels.reshape(-1)
    step = max(1, flat.size // sample)
    lo, hi = np.percentile(flat[::step], [1.0, 99.0])
    width = float(max(hi - lo, 1.0))
    return float(lo + width / 2.0), width


def presets_for(volume: Any, slices: list[int] | None = None) -> list[tuple[str, float, float]]:
    """Return the window presets offered for `volume`: header windows, CT presets or MR auto
    (from `slices` only when given: those already loaded of a volume still loading)."""
    presets = [tuple(p) for p in (volume.window_presets or [])
               if slices is None or p[0] != "Auto"]
    names = {p[0] for p in presets}
    if volume.modality == "CT":
        presets += [p for p in CT_PRESETS if p[0] not in names]
    else:
        centre, width = auto_window(volume.voxels if slices is None else volume.voxels[slices])
        presets.insert(0, ("Auto", centre, width))
    return [(str(n), float(c), float(w)) for n, c, w in presets]


def letter(direction: NDArray[Any], second: float = 0.35) -> str:
    """Return the LPS orientation letters of `direction` (dominant first, e.g. "L" or "LP")."""
    v = np.asarray(direction, dtype=float)
    norm = np.linalg.norm(v)
    if norm == 0:
        return ""
    v = v / norm
    order = np.argsort(-np.abs(v))
    out = ""
    for i, axis in enumerate(order[:2]):
        if i == 0 or abs(v[axis]) >= second:
            out += _LETTERS[axis][int(v[axis] > 0)]
    return out


@dataclass(frozen=True)
class PlaneLayout:
    """How one plane is put on screen: flips, orientation letters and its anatomical name."""

    axis: int
    name: str
    invert_x: bool
    invert_y: bool
    left: str
    right: str
    top: str
    bottom: str


def plane_layout(affine: NDArray[Any], axis: int) -> PlaneLayout:
    """Return the radiological display of plane `axis`: patient's right on screen left.

    Axial: anterior up, left on the right. Coronal: superior up, left on the right. Sagittal:
    superior up, posterior on the right. Letters come from the affine, so oblique or flipped
    acquisitions are labelled as they really are.
    """
    row_axis, col_axis = plane_axes(axis)
    d_row = affine[:3, row_axis]
    d_col = affine[:3, col_axis]
    normal = np.cross(d_row, d_col)
    kind = {2: 0, 1: 1, 0: 2}[int(np.argmax(np.abs(normal)))]
    want_right = np.array([1.0, 0, 0]) if kind in (0, 1) else np.array([0, 1.0, 0])
    want_up = np.array([0, -1.0, 0]) if kind == 0 else np.array([0, 0, 1.0])
    invert_x = bool(np.dot(d_col, want_right) < 0)
    # pyqtgraph's y grows upwards unless inverted: rows must grow towards the bottom of "up"
    invert_y = bool(np.dot(d_row, want_up) <= 0)
    right_dir = -d_col if invert_x else d_col
    top_dir = -d_row if invert_y else d_row
    return PlaneLayout(axis, PLANE_NAMES[kind], invert_x, invert_y,
                       left=letter(-right_dir), right=letter(right_dir),
                       top=letter(top_dir), bottom=letter(-top_dir))


def overlay_rgba(mask_plane: NDArray[np.bool_], colour: tuple[int, int, int],
                 fill_alpha: int = 70) -> NDArray[np.uint8]:
    """Return an RGBA image: translucent fill inside the mask and an opaque outline."""
    h, w = mask_plane.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    if not mask_plane.any():
        return rgba
    m = mask_plane
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    edge = m & ~inner
    rgba[m, :3] = colour
    rgba[m, 3] = fill_alpha
    rgba[edge, 3] = 255
    return rgba


def roi_stats(plane: NDArray[Any], inside: NDArray[np.bool_],
              pixel_area_mm2: float) -> dict[str, float]:
    """Return mean, sd, min, max, voxel count and area (mm²) of `plane` inside the mask."""
    values = plane[inside].astype(np.float64)
    if values.size == 0:
        return {"n": 0, "mean": float("nan"), "sd": float("nan"), "min": float("nan"),
                "max": float("nan"), "area_mm2": 0.0}
    return {"n": int(values.size), "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()),
            "area_mm2": float(values.size * pixel_area_mm2)}


def ellipse_mask(shape: tuple[int, int], centre_rc: tuple[float, float],
                 radii_rc: tuple[float, float]) -> NDArray[np.bool_]:
    """Return the pixels whose centres lie inside an axis-aligned ellipse (pixel units)."""
    rows = np.arange(shape[0])[:, None]
    cols = np.arange(shape[1])[None, :]
    rr, rc = max(radii_rc[0], 1e-6), max(radii_rc[1], 1e-6)
    return ((rows - centre_rc[0]) / rr) ** 2 + ((cols - centre_rc[1]) / rc) ** 2 <= 1.0
