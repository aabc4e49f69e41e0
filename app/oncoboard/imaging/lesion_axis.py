"""Propose a lesion's long and short axes from one click on a slice (semi-automatic, editable).

From the clicked pixel a region is grown over the 4-connected neighbours whose value lies within a
tolerance of the seed's neighbourhood (for a lung nodule on CT: soft tissue against air), inside a
square of at most ``max_extent_mm``. Holes are filled. The long axis is the longest distance
between two points of the region's edge; the short axis the longest chord perpendicular to it. Edge
points lie midway between inside and outside pixels, so both come out within a pixel of the true
diameters for a sharp-edged lesion. A region that reaches the search square is reported
(``leaked``): the proposal is then only a starting point, as every proposal is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class AxisProposal:
    """A proposed long and short axis on one slice, in (row, column) pixel coordinates."""

    long_ends: tuple[tuple[float, float], tuple[float, float]]
    short_ends: tuple[tuple[float, float], tuple[float, float]]
    long_mm: float
    short_mm: float
    area_px: int
    leaked: bool

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"long_ends": [list(p) for p in self.long_ends],
                "short_ends": [list(p) for p in self.short_ends],
                "long_mm": round(self.long_mm, 2), "short_mm": round(self.short_mm, 2),
                "area_px": self.area_px, "leaked": self.leaked}


def grow_region(plane: NDArray[Any], seed: tuple[int, int], spacing: tuple[float, float], *,
                tolerance: float | None = None,
                max_extent_mm: float = 120.0) -> tuple[NDArray[np.bool_], bool]:
    """Return (mask of the region grown from `seed`, whether it reached the search bounds).

    `tolerance` defaults to the larger of 150 (HU for CT) and 4 standard deviations of the
    seed's 5x5 neighbourhood.
    """
    rows, cols = plane.shape
    r0, c0 = int(seed[0]), int(seed[1])
    if not (0 <= r0 < rows and 0 <= c0 < cols):
        raise ValueError(f"seed {seed} is outside the {rows}x{cols} slice")
    hr = max(1, int(max_extent_mm / 2 / spacing[0]))
    hc = max(1, int(max_extent_mm / 2 / spacing[1]))
    top, left = max(0, r0 - hr), max(0, c0 - hc)
    box = np.asarray(plane[top:min(rows, r0 + hr + 1), left:min(cols, c0 + hc + 1)], float)
    sr, sc = r0 - top, c0 - left
    near = box[max(0, sr - 2):sr + 3, max(0, sc - 2):sc + 3]
    centre = float(np.median(near))
    tol = tolerance if tolerance is not None else max(150.0, 4.0 * float(near.std()))
    inside = np.abs(box - centre) <= tol
    region = np.zeros_like(inside)
    if inside[sr, sc]:
        queue = deque([(sr, sc)])
        region[sr, sc] = True
        h, w = inside.shape
        while queue:
            r, c = queue.popleft()
            for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= nr < h and 0 <= nc < w and inside[nr, nc] and not region[nr, nc]:
                    region[nr, nc] = True
                    queue.append((nr, nc))
    region = _fill_holes(region)
    leaked = bool(region[0].any() or region[-1].any() or region[:, 0].any()
                  or region[:, -1].any())
    mask = np.zeros(plane.shape, bool)
    mask[top:top + box.shape[0], left:left + box.shape[1]] = region
    return mask, leaked


def _fill_holes(region: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Return `region` with the background not connected to the border added to it."""
    outside = np.zeros(region.shape, bool)
    h, w = region.shape
    queue = deque((r, c) for r in range(h) for c in (0, w - 1) if not region[r, c])
    queue.extend((r, c) for c in range(w) for r in (0, h - 1) if not region[r, c])
    for r, c in queue:
        outside[r, c] = True
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and not region[nr, nc] and not outside[nr, nc]:
                outside[nr, nc] = True
                queue.append((nr, nc))
    return np.asarray(~outside)


def _edge_points(mask: NDArray[np.bool_], spacing: tuple[float, float]) -> NDArray[np.float64]:
    """Return the region's edge in mm: the midpoint between each inside pixel and each of its
    outside 4-neighbours (where a 50 % threshold between the two pixel values would fall)."""
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    points = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        neighbour = padded[1 + dr:padded.shape[0] - 1 + dr, 1 + dc:padded.shape[1] - 1 + dc]
        rc = np.argwhere(inner & ~neighbour).astype(float)
        points.append(rc + np.array([dr / 2, dc / 2]))
    return np.asarray(np.concatenate(points) * np.asarray(spacing, float), dtype=np.float64)


def axes_of_mask(mask: NDArray[np.bool_], spacing: tuple[float, float],
                 leaked: bool = False) -> AxisProposal | None:
    """Return the long axis and its longest perpendicular chord of a 2-D mask (None if empty).

    Both are measured between edge points (`_edge_points`), so a sharp-edged lesion's
    diameters come out within a pixel of the truth.
    """
    if not mask.any():
        return None
    sp = np.asarray(spacing, float)
    mm = _edge_points(mask, spacing)
    d = np.linalg.norm(mm[:, None, :] - mm[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    a, b = mm[i], mm[j]
    length = float(d[i, j])
    u = (b - a) / length
    v = np.array([-u[1], u[0]])
    along, across = mm @ u, mm @ v
    bins = np.round(along / (0.5 * float(min(spacing)))).astype(int)
    short, short_ends = 0.0, ((0.0, 0.0), (0.0, 0.0))
    for k in np.unique(bins):
        sel = np.flatnonzero(bins == k)
        lo, hi = sel[np.argmin(across[sel])], sel[np.argmax(across[sel])]
        if across[hi] - across[lo] > short:
            short = float(across[hi] - across[lo])
            t = float(along[sel].mean())
            short_ends = (_pair((t * u + across[lo] * v) / sp),
                          _pair((t * u + across[hi] * v) / sp))
    return AxisProposal((_pair(a / sp), _pair(b / sp)), short_ends, length, short,
                        int(mask.sum()), leaked)


def _pair(p: Any) -> tuple[float, float]:
    return (round(float(p[0]), 2), round(float(p[1]), 2))


def propose_axes(plane: NDArray[Any], seed: tuple[int, int], spacing: tuple[float, float],
                 **grow: Any) -> AxisProposal | None:
    """Grow a region from the clicked `seed` (row, column) and return its proposed axes."""
    mask, leaked = grow_region(plane, seed, spacing, **grow)
    return axes_of_mask(mask, spacing, leaked)
