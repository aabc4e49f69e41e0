"""Tumour features from an image volume inside a mask (a small, NumPy-only radiomics set).

The engine calls :func:`compute_features` for plugin inputs whose source is
``{type = "radiomics", image = ..., feature = ...}``; the plugin build scripts call the same
function on their training volumes, so a model sees the same numbers at training and at the
tumour board.

Definitions follow the Image Biomarker Standardisation Initiative (IBSI) / pyradiomics where a
feature has a standard meaning; differences are stated in :data:`FEATURES`:

* shape features use the voxel grid and the volume's affine (millimetres), so they are correct for
  anisotropic spacing;
* first-order features use the voxel values (Hounsfield units for CT);
* GLCM texture features use a fixed bin width (values between :data:`GLCM_RANGE` in
  :data:`GLCM_LEVELS` grey levels, outside values clipped to the end bins), the 13 directions of
  the 26-neighbourhood at distance 1 voxel, symmetric matrices, and the mean over directions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import InferenceError
from oncoboard.imaging.volume import Volume

GLCM_RANGE = (-150.0, 250.0)
GLCM_LEVELS = 32

FEATURES: dict[str, str] = {
    "volume_cc": "Mask volume in cm3 (voxel count x voxel volume).",
    "voxel_count": "Number of voxels in the mask.",
    "major_axis_mm": "Major axis length, 4 sqrt(largest eigenvalue of the voxel-position "
                     "covariance) (IBSI).",
    "elongation": "sqrt(second / largest eigenvalue of the position covariance); 1 = round.",
    "flatness": "sqrt(smallest / largest eigenvalue of the position covariance); 1 = round.",
    "surface_mm2": "Surface area estimated from the exposed voxel faces x 2/3 (the mean "
                   "projection factor of an isotropic surface on three axes).",
    "sphericity": "pi^(1/3) (6 V)^(2/3) / surface; 1 for a sphere (uses surface_mm2).",
    "hu_mean": "Mean voxel value (HU for CT).",
    "hu_sd": "Standard deviation of voxel values (population).",
    "hu_min": "Minimum voxel value.",
    "hu_max": "Maximum voxel value.",
    "hu_p10": "10th percentile of voxel values.",
    "hu_p25": "25th percentile of voxel values.",
    "hu_median": "Median voxel value.",
    "hu_p75": "75th percentile of voxel values.",
    "hu_p90": "90th percentile of voxel values.",
    "hu_skewness": "Skewness of voxel values.",
    "hu_kurtosis": "Excess kurtosis of voxel values.",
    "glcm_contrast": "GLCM contrast, sum P(i,j) (i-j)^2.",
    "glcm_homogeneity": "GLCM homogeneity (inverse difference moment), sum P/(1+(i-j)^2).",
    "glcm_energy": "GLCM energy (angular second moment), sum P^2.",
    "glcm_correlation": "GLCM correlation; 1 for a uniform region (IBSI convention).",
    "glcm_entropy": "GLCM joint entropy, -sum P log2 P.",
}

# The 13 unique directions of the 26-neighbourhood (the other 13 are their opposites).
_DIRECTIONS = [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
               if (dz, dy, dx) > (0, 0, 0)]


def feature_names() -> list[str]:
    """Return every feature name :func:`compute_features` knows, in a stable order."""
    return list(FEATURES)


def compute_features(volume: Volume | NDArray[Any], mask: NDArray[Any],
                     names: Iterable[str] | None = None,
                     affine: NDArray[Any] | None = None) -> dict[str, float]:
    """Compute the named features of the voxels of `volume` inside `mask`.

    Parameters
    ----------
    volume
        A :class:`~oncoboard.imaging.volume.Volume`, or a bare 3-D array (then `affine` gives the
        geometry; identity, i.e. 1 mm voxels, when omitted).
    mask
        Boolean (or 0/1) array with the volume's shape.
    names
        Features wanted (see :data:`FEATURES`); all when None.
    affine
        4x4 index-to-mm matrix for a bare array.

    Returns
    -------
    dict
        Feature name -> value (float).

    Raises
    ------
    InferenceError
        Unknown feature name, shape mismatch, or an empty mask.
    """
    wanted = list(FEATURES) if names is None else list(names)
    unknown = [n for n in wanted if n not in FEATURES]
    if unknown:
        raise InferenceError(f"unknown radiomics feature(s) {unknown}; known: {list(FEATURES)}",
                             where="radiomics")
    if isinstance(volume, Volume):
        voxels, geom = volume.voxels, volume.affine
    else:
        voxels = np.asarray(volume)
        geom = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    roi = np.asarray(mask).astype(bool)
    if roi.shape != voxels.shape:
        raise InferenceError(f"mask shape {roi.shape} differs from volume shape {voxels.shape}",
                             where="radiomics")
    if not roi.any():
        raise InferenceError("the mask is empty: no voxel to compute features on",
                             where="radiomics")
    box = _bbox(roi)
    ctx = _Context(voxels[box].astype(np.float64), roi[box], geom)
    return {name: float(_COMPUTE[name](ctx)) for name in wanted}


def _bbox(roi: NDArray[np.bool_]) -> tuple[slice, ...]:
    """Return the bounding box of the mask, one voxel wider where possible."""
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(roi.any(axis=other))
        out.append(slice(max(int(idx[0]) - 1, 0), int(idx[-1]) + 2))
    return tuple(out)


class _Context:
    """Cached intermediate results shared by the features of one call."""

    def __init__(self, values: NDArray[np.float64], roi: NDArray[np.bool_],
                 affine: NDArray[np.float64]):
        self.values = values
        self.roi = roi
        self.affine = affine
        self.inside = values[roi]
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def voxel_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def eigen(self) -> NDArray[np.float64]:
        """Return eigenvalues (descending) of the covariance of voxel positions in mm."""
        def fn() -> NDArray[np.float64]:
            idx = np.argwhere(self.roi).astype(np.float64)
            if len(idx) < 2:
                return np.zeros(3)
            pts = idx @ self.affine[:3, :3].T
            ev = np.linalg.eigvalsh(np.cov(pts, rowvar=False))
            return np.asarray(np.clip(ev[::-1], 0.0, None), dtype=np.float64)
        return np.asarray(self.cached("eigen", fn))

    def surface(self) -> float:
        def fn() -> float:
            padded = np.pad(self.roi, 1)
            steps = self.affine[:3, :3]
            total = 0.0
            for axis in range(3):
                faces = np.count_nonzero(np.diff(padded.astype(np.int8), axis=axis))
                others = [a for a in range(3) if a != axis]
                # Area of one face: |step_a x step_b| for the two other axes.
                area = float(np.linalg.norm(np.cross(steps[:, others[0]], steps[:, others[1]])))
                total += faces * area
            return total * 2.0 / 3.0
        return float(self.cached("surface", fn))

    def glcm(self) -> list[NDArray[np.float64]]:
        return list(self.cached("glcm", lambda: _glcm_matrices(self.values, self.roi)))


def _glcm_matrices(values: NDArray[np.float64], roi: NDArray[np.bool_]) -> list[NDArray[Any]]:
    """Return one normalised symmetric GLCM per direction that has at least one voxel pair."""
    lo, hi = GLCM_RANGE
    levels = np.clip(((values - lo) / (hi - lo) * GLCM_LEVELS).astype(np.int64), 0,
                     GLCM_LEVELS - 1)
    mats = []
    n = values.shape
    for d in _DIRECTIONS:
        src = tuple(slice(max(-s, 0), n[a] - max(s, 0)) for a, s in enumerate(d))
        dst = tuple(slice(max(s, 0), n[a] - max(-s, 0)) for a, s in enumerate(d))
        both = roi[src] & roi[dst]
        if not both.any():
            continue
        i, j = levels[src][both], levels[dst][both]
        counts = np.bincount(i * GLCM_LEVELS + j, minlength=GLCM_LEVELS ** 2)
        counts = counts + np.bincount(j * GLCM_LEVELS + i, minlength=GLCM_LEVELS ** 2)
        m = counts.reshape(GLCM_LEVELS, GLCM_LEVELS).astype(np.float64)
        mats.append(m / m.sum())
    return mats


def _glcm_feature(ctx: _Context, fn: Callable[[NDArray[np.float64]], float]) -> float:
    mats = ctx.glcm()
    if not mats:
        return float("nan")
    return float(np.mean([fn(p) for p in mats]))


_I, _J = np.meshgrid(np.arange(GLCM_LEVELS, dtype=np.float64) + 1,
                     np.arange(GLCM_LEVELS, dtype=np.float64) + 1, indexing="ij")


def _correlation(p: NDArray[np.float64]) -> float:
    mu_i, mu_j = float((p * _I).sum()), float((p * _J).sum())
    sd_i = float(np.sqrt((p * (_I - mu_i) ** 2).sum()))
    sd_j = float(np.sqrt((p * (_J - mu_j) ** 2).sum()))
    if sd_i * sd_j < 1e-12:
        return 1.0
    return float((p * (_I - mu_i) * (_J - mu_j)).sum() / (sd_i * sd_j))


def _moment(ctx: _Context, k: int) -> float:
    x = ctx.inside
    sd = float(x.std())
    if sd < 1e-12:
        return 0.0
    return float(np.mean(((x - x.mean()) / sd) ** k))


def _sphericity(ctx: _Context) -> float:
    v = ctx.roi.sum() * ctx.voxel_mm3
    return float(np.pi ** (1 / 3) * (6 * v) ** (2 / 3) / ctx.surface())


def _axis_ratio(ctx: _Context, k: int) -> float:
    ev = ctx.eigen()
    return float(np.sqrt(ev[k] / ev[0])) if ev[0] > 0 else 1.0


_COMPUTE: dict[str, Callable[[_Context], float]] = {
    "volume_cc": lambda c: c.roi.sum() * c.voxel_mm3 / 1000.0,
    "voxel_count": lambda c: float(c.roi.sum()),
    "major_axis_mm": lambda c: 4.0 * float(np.sqrt(c.eigen()[0])),
    "elongation": lambda c: _axis_ratio(c, 1),
    "flatness": lambda c: _axis_ratio(c, 2),
    "surface_mm2": lambda c: c.surface(),
    "sphericity": _sphericity,
    "hu_mean": lambda c: float(c.inside.mean()),
    "hu_sd": lambda c: float(c.inside.std()),
    "hu_min": lambda c: float(c.inside.min()),
    "hu_max": lambda c: float(c.inside.max()),
    "hu_p10": lambda c: float(np.percentile(c.inside, 10)),
    "hu_p25": lambda c: float(np.percentile(c.inside, 25)),
    "hu_median": lambda c: float(np.median(c.inside)),
    "hu_p75": lambda c: float(np.percentile(c.inside, 75)),
    "hu_p90": lambda c: float(np.percentile(c.inside, 90)),
    "hu_skewness": lambda c: _moment(c, 3),
    "hu_kurtosis": lambda c: _moment(c, 4) - 3.0 if c.inside.std() > 1e-12 else 0.0,
    "glcm_contrast": lambda c: _glcm_feature(c, lambda p: float((p * (_I - _J) ** 2).sum())),
    "glcm_homogeneity": lambda c: _glcm_feature(
        c, lambda p: float((p / (1.0 + (_I - _J) ** 2)).sum())),
    "glcm_energy": lambda c: _glcm_feature(c, lambda p: float((p ** 2).sum())),
    "glcm_correlation": lambda c: _glcm_feature(c, _correlation),
    "glcm_entropy": lambda c: _glcm_feature(
        c, lambda p: float(-(p[p > 0] * np.log2(p[p > 0])).sum())),
}
