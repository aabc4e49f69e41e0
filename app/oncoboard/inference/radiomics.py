"""Tumour features from an image volume inside a mask (a small, NumPy-only radiomics set).

The engine calls :func:`compute_features` for plugin inputs whose source is
``{type = "radiomics", image = ..., feature = ...}``; the plugin build scripts call the same
function on their training volumes, so a model sees the same numbers at training and at the
tumour board.

Every feature is defined as in the Image Biomarker Standardisation Initiative, IBSI 1
(Zwanenburg et al., Radiology 2020; its four-letter code is in :data:`FEATURES`), so a plugin
trained with another IBSI-compliant tool (pyradiomics, MIRP...) on the same image processing
gets the same inputs; a manifest says so with ``feature_definition = "IBSI 1"`` on the image
input (:data:`FEATURE_DEFINITION`). The configuration IBSI asks to report:

* no resampling here (the image input's preprocessing does it, if any); positions in
  millimetres from the volume's affine, so anisotropic spacing and oblique orientations count;
* morphology on the mask as given: the mesh features (volume, surface area, sphericity) on the
  marching-cubes mesh of the padded mask at 0.5 (:mod:`.mask_mesh`), the axis lengths from the
  principal components of the voxel centres;
* intensity statistics on every voxel of the mask (no re-segmentation, no discretisation);
* GLCM texture: re-segmentation to :data:`GLCM_RANGE` (voxels outside are left out of the
  texture matrices), fixed bin size discretisation (:data:`GLCM_BIN_WIDTH` wide bins from the
  range's lower bound), Chebyshev distance 1, symmetric matrices, 3D, features computed per
  direction (13) and averaged (IBSI aggregation ITBB).

The IBSI digital phantom reproduces the reference values (tests/unit/plugins/test_radiomics.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import InferenceError
from oncoboard.imaging.volume import Volume
from oncoboard.inference.mask_mesh import area_and_volume

#: The feature definition a manifest names on an image input whose features this module
#: computes (``feature_definition``).
FEATURE_DEFINITION = "IBSI 1"
#: Texture re-segmentation range (HU for CT) and fixed bin width: 32 bins of 12.5 HU.
GLCM_RANGE = (-150.0, 250.0)
GLCM_BIN_WIDTH = 12.5

FEATURES: dict[str, str] = {
    "volume_cc": "Volume by voxel counting in cm3: voxel count x voxel volume (IBSI YEKZ).",
    "mesh_volume_cc": "Volume enclosed by the mask's mesh in cm3 (IBSI RNU0).",
    "voxel_count": "Number of voxels in the mask.",
    "surface_mm2": "Surface area of the mask's mesh in mm2 (IBSI C0JK).",
    "sphericity": "(36 pi V^2)^(1/3) / A, mesh volume V and area A; 1 for a sphere "
                  "(IBSI QCFX).",
    "major_axis_mm": "Major axis length, 4 sqrt(largest eigenvalue of the covariance, n - 1 "
                     "denominator, of the voxel centres) (IBSI TDIC).",
    "minor_axis_mm": "Minor axis length, 4 sqrt(second eigenvalue) (IBSI P9VJ).",
    "least_axis_mm": "Least axis length, 4 sqrt(smallest eigenvalue) (IBSI 7J51).",
    "elongation": "sqrt(second / largest eigenvalue); 1 = round (IBSI Q3CK).",
    "flatness": "sqrt(smallest / largest eigenvalue); 1 = round (IBSI N17B).",
    "hu_mean": "Mean voxel value, HU for CT (IBSI Q4LE).",
    "hu_sd": "Standard deviation of voxel values: square root of the intensity variance "
             "(IBSI ECT3, population variance).",
    "hu_min": "Minimum voxel value (IBSI 1GSF).",
    "hu_max": "Maximum voxel value (IBSI 84IY).",
    "hu_p10": "10th percentile of voxel values (IBSI QG58; linear interpolation).",
    "hu_p25": "25th percentile of voxel values (lower bound of the IBSI SALO range).",
    "hu_median": "Median voxel value (IBSI Y12H).",
    "hu_p75": "75th percentile of voxel values (upper bound of the IBSI SALO range).",
    "hu_p90": "90th percentile of voxel values (IBSI 8DWT; linear interpolation).",
    "hu_skewness": "Skewness of voxel values (IBSI KE2A); 0 for a uniform region.",
    "hu_kurtosis": "Excess kurtosis of voxel values (IBSI IPH6); 0 for a uniform region.",
    "glcm_contrast": "GLCM contrast, sum p(i,j) (i-j)^2 (IBSI ACUI).",
    "glcm_homogeneity": "GLCM inverse difference moment, sum p/(1+(i-j)^2) (IBSI WF0Z).",
    "glcm_energy": "GLCM angular second moment, sum p^2 (IBSI 8ZQL).",
    "glcm_correlation": "GLCM correlation (IBSI NI2N); 1 for a uniform region.",
    "glcm_entropy": "GLCM joint entropy, -sum p log2 p (IBSI TU9B).",
}

# The 13 unique directions of the 26-neighbourhood (the other 13 are their opposites).
_DIRECTIONS = [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
               if (dz, dy, dx) > (0, 0, 0)]


def feature_names() -> list[str]:
    """Return every feature name :func:`compute_features` knows, in a stable order."""
    return list(FEATURES)


def compute_features(volume: Volume | NDArray[Any], mask: NDArray[Any],
                     names: Iterable[str] | None = None,
                     affine: NDArray[Any] | None = None, *,
                     texture_range: tuple[float, float] = GLCM_RANGE,
                     bin_width: float = GLCM_BIN_WIDTH) -> dict[str, float]:
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
    texture_range, bin_width
        GLCM re-segmentation range (inclusive) and fixed bin width; the defaults are the
        configuration the plugins are trained with.

    Returns
    -------
    dict
        Feature name -> value (float). GLCM features are NaN when no two neighbouring voxels
        of the mask lie in the texture range.

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
    ctx = _Context(voxels[box].astype(np.float64), roi[box], geom, texture_range, bin_width)
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
                 affine: NDArray[np.float64], texture_range: tuple[float, float],
                 bin_width: float):
        self.values = values
        self.roi = roi
        self.linear = np.asarray(affine, dtype=np.float64)[:3, :3]
        self.inside = values[roi]
        self.texture = (float(texture_range[0]), float(texture_range[1]), float(bin_width))
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def voxel_mm3(self) -> float:
        return float(abs(np.linalg.det(self.linear)))

    def eigen(self) -> NDArray[np.float64]:
        """Return the eigenvalues (descending) of the covariance of the voxel centres (mm)."""
        def fn() -> NDArray[np.float64]:
            idx = np.argwhere(self.roi).astype(np.float64)
            if len(idx) < 2:
                return np.zeros(3)
            pts = idx @ self.linear.T
            ev = np.linalg.eigvalsh(np.cov(pts, rowvar=False))
            return np.asarray(np.clip(ev[::-1], 0.0, None), dtype=np.float64)
        return np.asarray(self.cached("eigen", fn))

    def mesh(self) -> tuple[float, float]:
        """Return the (area mm2, volume mm3) of the mask's marching-cubes mesh."""
        return tuple(self.cached("mesh", lambda: area_and_volume(self.roi, self.linear)))

    def glcm(self) -> list[NDArray[np.float64]]:
        return list(self.cached("glcm", lambda: _glcm_matrices(self.values, self.roi,
                                                               *self.texture)))


def _glcm_matrices(values: NDArray[np.float64], roi: NDArray[np.bool_], lo: float, hi: float,
                   width: float) -> list[NDArray[Any]]:
    """Return one normalised symmetric GLCM per direction that has at least one voxel pair.

    Voxels outside [lo, hi] leave the texture mask (IBSI re-segmentation); the others get the
    fixed-bin-size grey level floor((x - lo) / width) (IBSI: that + 1; the features used here
    do not depend on where the levels start).
    """
    roi = roi & (values >= lo) & (values <= hi)
    levels = np.zeros(values.shape, dtype=np.int64)
    levels[roi] = np.floor((values[roi] - lo) / width).astype(np.int64)
    n_levels = int(levels.max()) + 1
    mats = []
    n = values.shape
    for d in _DIRECTIONS:
        src = tuple(slice(max(-s, 0), n[a] - max(s, 0)) for a, s in enumerate(d))
        dst = tuple(slice(max(s, 0), n[a] - max(-s, 0)) for a, s in enumerate(d))
        both = roi[src] & roi[dst]
        if not both.any():
            continue
        i, j = levels[src][both], levels[dst][both]
        counts = np.bincount(i * n_levels + j, minlength=n_levels ** 2)
        counts = counts + np.bincount(j * n_levels + i, minlength=n_levels ** 2)
        m = counts.reshape(n_levels, n_levels).astype(np.float64)
        mats.append(m / m.sum())
    return mats


def _glcm_feature(ctx: _Context, fn: Callable[[NDArray[np.float64]], float]) -> float:
    mats = ctx.glcm()
    if not mats:
        return float("nan")
    return float(np.mean([fn(p) for p in mats]))


def _grid(p: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the grey levels i, j (from 1) of each cell of a GLCM."""
    levels = np.arange(p.shape[0], dtype=np.float64) + 1
    return levels[:, None], levels[None, :]


def _contrast(p: NDArray[np.float64]) -> float:
    i, j = _grid(p)
    return float((p * (i - j) ** 2).sum())


def _inverse_difference_moment(p: NDArray[np.float64]) -> float:
    i, j = _grid(p)
    return float((p / (1.0 + (i - j) ** 2)).sum())


def _correlation(p: NDArray[np.float64]) -> float:
    i, j = _grid(p)
    mu_i, mu_j = float((p * i).sum()), float((p * j).sum())
    sd_i = float(np.sqrt((p * (i - mu_i) ** 2).sum()))
    sd_j = float(np.sqrt((p * (j - mu_j) ** 2).sum()))
    if sd_i * sd_j < 1e-12:
        return 1.0
    return float((p * (i - mu_i) * (j - mu_j)).sum() / (sd_i * sd_j))


def _joint_entropy(p: NDArray[np.float64]) -> float:
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def _moment(ctx: _Context, k: int) -> float:
    x = ctx.inside
    sd = float(x.std())
    if sd < 1e-12:
        return 0.0
    return float(np.mean(((x - x.mean()) / sd) ** k))


def _sphericity(ctx: _Context) -> float:
    area, volume = ctx.mesh()
    return float((36.0 * np.pi * volume ** 2) ** (1 / 3) / area)


def _axis(ctx: _Context, k: int) -> float:
    return 4.0 * float(np.sqrt(ctx.eigen()[k]))


def _axis_ratio(ctx: _Context, k: int) -> float:
    ev = ctx.eigen()
    return float(np.sqrt(ev[k] / ev[0])) if ev[0] > 0 else 1.0


_COMPUTE: dict[str, Callable[[_Context], float]] = {
    "volume_cc": lambda c: c.roi.sum() * c.voxel_mm3 / 1000.0,
    "mesh_volume_cc": lambda c: c.mesh()[1] / 1000.0,
    "voxel_count": lambda c: float(c.roi.sum()),
    "surface_mm2": lambda c: c.mesh()[0],
    "sphericity": _sphericity,
    "major_axis_mm": lambda c: _axis(c, 0),
    "minor_axis_mm": lambda c: _axis(c, 1),
    "least_axis_mm": lambda c: _axis(c, 2),
    "elongation": lambda c: _axis_ratio(c, 1),
    "flatness": lambda c: _axis_ratio(c, 2),
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
    "glcm_contrast": lambda c: _glcm_feature(c, _contrast),
    "glcm_homogeneity": lambda c: _glcm_feature(c, _inverse_difference_moment),
    "glcm_energy": lambda c: _glcm_feature(c, lambda p: float((p ** 2).sum())),
    "glcm_correlation": lambda c: _glcm_feature(c, _correlation),
    "glcm_entropy": lambda c: _glcm_feature(c, _joint_entropy),
}
