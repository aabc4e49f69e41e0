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
    assert f["mesh_volume_cc"] == pytest.approx(f["volume_cc"], rel=0.03)
    # the marching-cubes mesh of a voxelised sphere keeps some of its staircase: IBSI
    # sphericity about 0.92 rather than 1 (a true sphere), the same in any IBSI-compliant tool
    assert 0.88 < f["sphericity"] < 0.97
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


# The IBSI 1 digital phantom (Zwanenburg et al., IBSI reference manual; data set
# theibsi/data_sets, ibsi_1_digital_phantom, CC BY 4.0): 5 x 4 x 4 voxels (x, y, z) of
# 2 x 2 x 2 mm, written here slice by slice (z), rows y, columns x.
_PHANTOM = [
    [[1, 4, 4, 1, 1], [1, 4, 6, 1, 1], [4, 1, 6, 4, 1], [4, 4, 6, 4, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 6, 1, 1], [1, 1, 3, 1, 1], [4, 4, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 9, 1, 1], [1, 1, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 6, 1, 1]],
]
_EXCLUDED = [(1, 2, 0), (2, 0, 3), (2, 0, 4), (2, 2, 2), (3, 0, 3), (3, 0, 4)]  # (z, y, x)

# Reference values (value, tolerance) of IBSI 1 for the digital phantom; texture: GLCM 3D,
# averaged over the 13 directions. Where the manual gives no tolerance, the value's last digit.
IBSI_PHANTOM = {
    "volume_cc": (0.592, 0.004),          # YEKZ 592 mm3
    "mesh_volume_cc": (0.556, 0.004),     # RNU0 556 mm3
    "surface_mm2": (388, 3),              # C0JK
    "sphericity": (0.843, 0.005),         # QCFX
    "major_axis_mm": (11.4, 0.1),         # TDIC
    "minor_axis_mm": (9.31, 0.06),        # P9VJ
    "least_axis_mm": (8.54, 0.05),        # 7J51
    "elongation": (0.816, 0.005),         # Q3CK
    "flatness": (0.749, 0.005),           # N17B
    "hu_mean": (2.15, 0.005),             # Q4LE
    "hu_min": (1, 0), "hu_max": (6, 0),   # 1GSF, 84IY
    "hu_p10": (1, 0), "hu_p90": (4, 0),   # QG58, 8DWT
    "hu_median": (1, 0),                  # Y12H
    "hu_skewness": (1.08, 0.005),         # KE2A
    "hu_kurtosis": (-0.355, 0.0005),      # IPH6
    "glcm_entropy": (2.40, 0.005),        # TU9B
    "glcm_contrast": (5.32, 0.005),       # ACUI
    "glcm_energy": (0.303, 0.0005),       # 8ZQL
    "glcm_homogeneity": (0.618, 0.0005),  # WF0Z (inverse difference moment)
    "glcm_correlation": (0.157, 0.0005),  # NI2N
}


def _ibsi_phantom():
    image = np.array(_PHANTOM, dtype=np.float64)
    mask = np.ones(image.shape, bool)
    for zyx in _EXCLUDED:
        mask[zyx] = False
    return image, mask


def test_ibsi_digital_phantom_reference_values():
    image, mask = _ibsi_phantom()
    assert mask.sum() == 74
    # the phantom is used as it is: fixed bin size 1 from its lowest grey level, 1 (IBSI)
    f = compute_features(image, mask, affine=np.diag([2.0, 2.0, 2.0, 1.0]),
                         texture_range=(1.0, 6.0), bin_width=1.0)
    for name, (value, tol) in IBSI_PHANTOM.items():
        assert f[name] == pytest.approx(value, abs=tol + 1e-12), name
    assert f["hu_sd"] ** 2 == pytest.approx(3.05, abs=0.005)                 # ECT3 variance
    assert f["hu_p75"] - f["hu_p25"] == 3                                   # SALO
    assert set(IBSI_PHANTOM) | {"voxel_count", "hu_sd", "hu_p25", "hu_p75"} == set(FEATURES)


def test_mesh_of_simple_shapes():
    from oncoboard.inference.mask_mesh import area_and_volume

    one = np.ones((1, 1, 1), bool)  # a voxel: an octahedron through its face centres
    area, volume = area_and_volume(one)
    assert volume == pytest.approx(1 / 6) and area == pytest.approx(np.sqrt(3))
    block = np.ones((3, 4, 5), bool)
    # scaled and rotated: volume and area scale with the geometry, not the index grid
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    linear = rot @ np.diag([2.0, 0.5, 1.5])
    a1, v1 = area_and_volume(block)
    a2, v2 = area_and_volume(block, linear)
    assert v2 == pytest.approx(v1 * 1.5)
    assert v1 < 60 < v1 + 0.5 * a1  # inside the voxels' boxes, less than half a voxel lost
    assert area_and_volume(np.zeros((2, 2, 2), bool)) == (0.0, 0.0)
    # a ring (a hole through it), meshed along another axis order: the fan triangulation of a
    # non-planar loop depends on its first vertex, as in any marching-cubes table (< 0.1 %)
    ring = np.ones((3, 5, 5), bool)
    ring[:, 2, 2] = False
    assert area_and_volume(ring)[1] == pytest.approx(area_and_volume(ring.T)[1], rel=1e-3)
    assert area_and_volume(ring)[1] == pytest.approx(area_and_volume(ring[::-1, ::-1])[1])


def test_image_inputs_name_the_feature_definition_computed_here():
    import tomllib
    from pathlib import Path

    from oncoboard.errors import PluginError
    from oncoboard.inference.manifest import load_manifest, parse_manifest
    from oncoboard.inference.radiomics import FEATURE_DEFINITION

    folder = Path(__file__).parents[3] / "plugins" / "response-nsclc-rtio"
    image = next(i for i in load_manifest(folder).inputs if i.kind == "image")
    assert image.mode == "features" and image.feature_definition == FEATURE_DEFINITION
    raw = tomllib.loads((folder / "plugin.toml").read_text(encoding="utf-8"))
    next(i for i in raw["inputs"] if i["kind"] == "image")["feature_definition"] = "pyradiomics"
    with pytest.raises(PluginError, match="feature_definition"):
        parse_manifest(raw, file="plugin.toml")
