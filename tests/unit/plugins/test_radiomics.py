"""Radiomics features on synthetic shapes whose true values are known."""

from __future__ import annotations

import numpy as np
import pytest

from oncoboard.errors import InferenceError
from oncoboard.imaging.volume import Volume
from oncoboard.inference.radiomics import FEATURES, compute_features, feature_names


def _sphere(radius: float, spacing: tuple[float, float, float], inside: float = 40.0,
            outside: float = -800.0, noise: float = 0.0, seed: int = 0):
    shape = [int(2 * radius / s) + 8 for s in spacing]
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    mask = zz ** 2 + yy ** 2 + xx ** 2 <= radius ** 2
    vox = np.where(mask, inside, outside).astype(np.float32)
    if noise:
        vox = vox + np.random.default_rng(seed).normal(0, noise, vox.shape).astype(np.float32)
    return Volume(voxels=vox, affine=np.diag([*spacing, 1.0]), modality="CT"), mask


@pytest.mark.parametrize("radius,spacing", [(10.0, (1.0, 1.0, 1.0)), (20.0, (2.0, 1.0, 1.0)),
                                            (15.0, (1.5, 0.8, 0.8))])
def test_sphere_volume_shape_and_mean(radius, spacing):
    vol, mask = _sphere(radius, spacing, noise=10.0)
    f = compute_features(vol, mask)
    assert f["volume_cc"] == pytest.approx(4 / 3 * np.pi * radius ** 3 / 1000, rel=0.03)
    assert f["sphericity"] == pytest.approx(1.0, abs=0.05)
    assert f["elongation"] == pytest.approx(1.0, abs=0.03)
    assert f["flatness"] == pytest.approx(1.0, abs=0.03)
    # A solid sphere's position variance along any axis is r^2/5 (IBSI major axis 4 sqrt(l)).
    assert f["major_axis_mm"] == pytest.approx(4 * radius / np.sqrt(5), rel=0.03)
    assert f["hu_mean"] == pytest.approx(40.0, abs=1.0)
    assert f["hu_sd"] == pytest.approx(10.0, rel=0.1)
    assert f["hu_p10"] < f["hu_median"] < f["hu_p90"]


def test_uniform_region_has_trivial_texture():
    vol, mask = _sphere(8.0, (1.0, 1.0, 1.0), inside=40.0)
    f = compute_features(vol, mask)
    assert f["glcm_contrast"] == 0.0
    assert f["glcm_homogeneity"] == pytest.approx(1.0)
    assert f["glcm_energy"] == pytest.approx(1.0)
    assert f["glcm_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert f["glcm_correlation"] == 1.0
    assert f["hu_sd"] == 0.0 and f["hu_skewness"] == 0.0


def test_noise_raises_contrast_and_lowers_homogeneity():
    vol_lo, mask = _sphere(12.0, (1.0, 1.0, 1.0), noise=10.0)
    vol_hi, _ = _sphere(12.0, (1.0, 1.0, 1.0), noise=40.0)
    lo, hi = compute_features(vol_lo, mask), compute_features(vol_hi, mask)
    assert hi["glcm_contrast"] > lo["glcm_contrast"]
    assert hi["glcm_homogeneity"] < lo["glcm_homogeneity"]
    assert hi["glcm_energy"] < lo["glcm_energy"]
    assert hi["glcm_entropy"] > lo["glcm_entropy"]


def test_smooth_texture_is_correlated():
    rng = np.random.default_rng(3)
    field = rng.normal(0, 1, (40, 40, 40))
    for axis in range(3):  # cheap smoothing: neighbouring voxels share most of their value
        field = field + np.roll(field, 1, axis) + np.roll(field, -1, axis)
    vox = 40 + 60 * field / field.std()
    mask = np.zeros(vox.shape, bool)
    mask[5:35, 5:35, 5:35] = True
    white = 40 + 60 * rng.normal(0, 1, vox.shape)
    smooth_corr = compute_features(vox, mask)["glcm_correlation"]
    white_corr = compute_features(white, mask)["glcm_correlation"]
    assert smooth_corr > 0.3
    assert abs(white_corr) < 0.05


def test_elongated_ellipsoid():
    zz, yy, xx = np.meshgrid(*[np.arange(60) - 29.5] * 3, indexing="ij")
    mask = (zz / 25) ** 2 + (yy / 10) ** 2 + (xx / 5) ** 2 <= 1
    f = compute_features(np.zeros(mask.shape), mask)
    assert f["elongation"] == pytest.approx(10 / 25, rel=0.05)
    assert f["flatness"] == pytest.approx(5 / 25, rel=0.08)
    assert f["sphericity"] < 0.85


def test_names_subset_and_errors():
    vol, mask = _sphere(6.0, (1.0, 1.0, 1.0))
    assert set(compute_features(vol, mask, ["volume_cc", "hu_mean"])) == {"volume_cc", "hu_mean"}
    assert feature_names() == list(FEATURES)
    with pytest.raises(InferenceError, match="unknown radiomics feature"):
        compute_features(vol, mask, ["volume_ml"])
    with pytest.raises(InferenceError, match="empty"):
        compute_features(vol, np.zeros_like(mask))
    with pytest.raises(InferenceError, match="shape"):
        compute_features(vol, mask[:-1])


def test_single_voxel_is_finite():
    mask = np.zeros((5, 5, 5), bool)
    mask[2, 2, 2] = True
    f = compute_features(np.full(mask.shape, 10.0), mask)
    finite = {k: v for k, v in f.items() if not k.startswith("glcm")}
    assert all(np.isfinite(v) for v in finite.values())
    assert f["volume_cc"] == pytest.approx(0.001)
