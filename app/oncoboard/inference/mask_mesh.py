"""Surface mesh of a binary mask by marching cubes (NumPy only): its area and enclosed volume.

This is the mesh the Image Biomarker Standardisation Initiative (IBSI 1, Zwanenburg et al.,
Radiology 2020) defines the morphological features on: the mask, padded with one empty voxel
on every side, is meshed by marching cubes at the level 0.5 between voxel centres, so each
vertex lies halfway along a cube edge that joins a voxel inside the mask to one outside.

The triangles of each of the 256 corner configurations of a cube are derived here rather than
tabulated: on each face of the cube, one segment cuts off each run of inside corners (a face
with two diagonal inside corners gets two segments, so the inside corners stay separate: the
mask is 6-connected); the segments, all directed the same way around the inside region, chain
into closed loops, and each loop is fanned into triangles. Because a face's segments depend on
that face's four corners only, neighbouring cubes agree on their shared face and the mesh is
closed and consistently oriented, so the volume follows from the divergence theorem (the sum of
the signed tetrahedra each triangle forms with the origin, IBSI "volume" RNU0).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Corner k of a cube is at offset (k >> 2 & 1, k >> 1 & 1, k & 1) along the array axes.
_CORNERS = np.array([(k >> 2 & 1, k >> 1 & 1, k & 1) for k in range(8)], dtype=np.float64)


def _corner(offset: tuple[int, int, int]) -> int:
    return offset[0] * 4 + offset[1] * 2 + offset[2]


def _faces() -> list[list[int]]:
    """Return each face's four corners, counter-clockwise seen from outside the cube."""
    faces = []
    for a in range(3):
        b, c = (a + 1) % 3, (a + 2) % 3  # e_b x e_c = e_a
        for side in (0, 1):
            ring = []
            for ub, uc in ((0, 0), (1, 0), (1, 1), (0, 1)):
                offset = [0, 0, 0]
                offset[a], offset[b], offset[c] = side, ub, uc
                ring.append(_corner((offset[0], offset[1], offset[2])))
            faces.append(ring if side == 1 else ring[::-1])
    return faces


@lru_cache(maxsize=1)
def _triangle_table() -> tuple[NDArray[np.float64], ...]:
    """Return, per corner configuration (bit k set: corner k inside), its triangles (t, 3, 3)
    in cube coordinates."""
    faces = _faces()
    table = []
    for config in range(256):
        inside = [bool(config >> k & 1) for k in range(8)]
        successor: dict[frozenset[int], frozenset[int]] = {}
        for ring in faces:
            if not any(inside[k] for k in ring) or all(inside[k] for k in ring):
                continue
            for i in range(4):  # a run of inside corners starts at ring[i]
                if inside[ring[i]] and not inside[ring[i - 1]]:
                    enter = frozenset((ring[i - 1], ring[i]))
                    j = i
                    while inside[ring[(j + 1) % 4]]:
                        j += 1
                    leave = frozenset((ring[j % 4], ring[(j + 1) % 4]))
                    successor[leave] = enter
        triangles: list[list[NDArray[np.float64]]] = []
        todo = set(successor)
        while todo:
            start = todo.pop()
            loop, edge = [start], successor[start]
            while edge != start:
                todo.discard(edge)
                loop.append(edge)
                edge = successor[edge]
            points = [_CORNERS[list(e)].mean(axis=0) for e in loop]
            triangles.extend([points[0], points[i], points[i + 1]]
                             for i in range(1, len(points) - 1))
        table.append(np.array(triangles, dtype=np.float64).reshape(-1, 3, 3))
    return tuple(table)


def area_and_volume(mask: NDArray[Any], linear: NDArray[Any] | None = None
                    ) -> tuple[float, float]:
    """Return (surface area, enclosed volume) of the marching-cubes mesh of `mask`.

    Parameters
    ----------
    mask
        3-D boolean (or 0/1) array.
    linear
        3x3 matrix from array index steps to millimetres (the affine's linear part); identity
        when omitted. Any direction cosines and anisotropic spacing are allowed.

    Returns
    -------
    tuple
        Area in mm^2 and volume in mm^3 (0, 0 for an empty mask).
    """
    m = np.identity(3) if linear is None else np.asarray(linear, dtype=np.float64)[:3, :3]
    padded = np.pad(np.asarray(mask).astype(np.uint8), 1)
    nz, ny, nx = padded.shape
    config = np.zeros((nz - 1, ny - 1, nx - 1), dtype=np.uint8)
    for k, (dz, dy, dx) in enumerate(_CORNERS.astype(int)):
        config |= padded[dz:nz - 1 + dz, dy:ny - 1 + dy, dx:nx - 1 + dx] << k
    table = _triangle_table()
    area = volume = 0.0
    present = np.bincount(config.ravel(), minlength=256)
    for c in np.flatnonzero(present[1:255]) + 1:
        tri = table[c] @ m.T  # (t, 3, 3) in mm, relative to the cube's first corner
        a, b, d = tri[:, 0], tri[:, 1], tri[:, 2]
        area += float(present[c]) * 0.5 * float(np.linalg.norm(np.cross(b - a, d - a),
                                                               axis=1).sum())
        origins = np.argwhere(config == c).astype(np.float64) @ m.T  # (n, 3)
        # sum over cubes (origin o) and triangles (a, b, d) of (o + a) . ((o + b) x (o + d))
        # = o . (b x d + d x a + a x b) + a . (b x d): one dot product per cube
        s = (np.cross(b, d) + np.cross(d, a) + np.cross(a, b)).sum(axis=0)
        volume += (float((origins @ s).sum())
                   + float(present[c]) * float(np.einsum("ij,ij->", a, np.cross(b, d)))) / 6.0
    return area, abs(volume)
