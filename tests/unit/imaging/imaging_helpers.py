"""Synthetic series with known geometry for the imaging tests.

A sphere (1000 HU inside, -1000 HU outside) at a known LPS position is written as a small
series; the tests check that loading puts it on exactly the voxels whose centres are inside it.
File names are shuffled and InstanceNumbers scrambled so that nothing but the positions can
give the right order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard.imaging import synth

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def oblique_iop(angle_deg: float = 25.0, tilt_deg: float = 15.0) -> list[float]:
    """Return an orthonormal oblique ImageOrientationPatient."""
    a, b = np.radians(angle_deg), np.radians(tilt_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    m = rx @ rz
    return [*m[:, 0].tolist(), *m[:, 1].tolist()]


@dataclass
class SphereCase:
    """A written series and what loading it must give."""

    folder: Path
    paths: list[Path]
    datasets: list[Any]
    positions: np.ndarray      # sorted along the normal, slices present in the files
    expected: np.ndarray       # HU at voxel centres, same order
    centre: np.ndarray
    radius: float
    iop: list[float]
    spacing: tuple[float, float]
    series_uid: str
    study_uid: str


def sphere_series(folder: Path, *, n: int = 16, rows: int = 24, cols: int = 28,
                  iop: list[float] | None = None, spacing: tuple[float, float] = (0.8, 0.7),
                  step: Any = 2.0, origin: Any = (-10.0, -9.0, -15.0), centre: Any = None,
                  radius: float = 5.0, drop: tuple[int, ...] = (), ts: str = "",
                  series: str = "sphere", patient_id: str = "SYNTH-0001",
                  positions: np.ndarray | None = None, seed: int = 0,
                  **kwargs: Any) -> SphereCase:
    """Write a sphere series; `step` is mm along the normal or a 3-vector (tilt)."""
    iop = iop or AXIAL
    normal = np.cross(iop[:3], iop[3:])
    step_vec = normal * step if np.isscalar(step) else np.asarray(step, float)
    if positions is None:
        positions = synth.grid_positions(origin, step_vec, n)
    keep = [k for k in range(len(positions)) if k not in drop]
    positions = positions[keep]
    centres = synth.voxel_centres(positions, iop, spacing, rows, cols)
    if centre is None:
        centre = centres[len(positions) // 2, rows // 2, cols // 2] + np.array([0.3, -0.2, 0.1])
    centre = np.asarray(centre, float)
    inside = np.linalg.norm(centres - centre, axis=-1) <= radius
    expected = np.where(inside, 1000, -1000).astype(np.int16)
    uids = {"study": synth.make_uid(series, "study"), "series": synth.make_uid(series)}
    intercept = kwargs.pop("intercepts", -1024.0)
    stored = (expected.astype(np.int32) - np.asarray(intercept).reshape(-1, 1, 1)
              if not np.isscalar(intercept) else expected.astype(np.int32) - intercept)
    slopes = kwargs.pop("slopes", 1.0)
    if not np.isscalar(slopes):
        stored = np.round(stored / np.asarray(slopes).reshape(-1, 1, 1)).astype(np.int32)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(positions))
    scrambled = rng.permutation(len(positions)) + 1
    per_slice = [{"InstanceNumber": int(scrambled[k])} for k in range(len(positions))]
    header = {"PatientID": patient_id, **kwargs.pop("header", {})}
    datasets = synth.slice_datasets(stored, positions, iop, spacing, uids=uids,
                                    intercepts=intercept, slopes=slopes, header=header,
                                    per_slice=per_slice, **kwargs)
    shuffled = [datasets[i] for i in order]
    names = [f"slice_{i:03d}.dcm" for i in range(len(shuffled))]
    paths = synth.write_datasets(shuffled, folder, ts, names=names)
    dist = positions @ normal
    sort = np.argsort(dist)
    return SphereCase(folder, paths, datasets, positions[sort], expected[sort], centre, radius,
                      iop, spacing, uids["series"], uids["study"])


def assert_geometry(volume: Any, case: SphereCase) -> None:
    """Assert the volume's affine reproduces every slice position and pixel direction."""
    for k, pos in enumerate(case.positions):
        np.testing.assert_allclose(volume.affine @ [k, 0, 0, 1], [*pos, 1], atol=1e-3)
    row_dir, col_dir = np.asarray(case.iop[:3]), np.asarray(case.iop[3:])
    np.testing.assert_allclose(volume.affine[:3, 1], col_dir * case.spacing[0], atol=1e-6)
    np.testing.assert_allclose(volume.affine[:3, 2], row_dir * case.spacing[1], atol=1e-6)


def mask_centroid_lps(volume: Any, mask: np.ndarray) -> np.ndarray:
    """Return the LPS centroid of the True voxels of `mask`."""
    idx = np.argwhere(mask)
    return np.asarray(volume.index_to_patient(idx).mean(axis=0))
