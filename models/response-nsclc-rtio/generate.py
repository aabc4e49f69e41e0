"""Virtual cohort for response to radiotherapy plus immunotherapy in stage III-IV NSCLC.

SYNTHETIC - DEMONSTRATION ONLY. No public data set holds blood, clinical data, planning CT and
outcome together, so this generator draws patients from a known model whose effect directions
follow the literature; because the true response probability of each patient is known, the
Bayes-optimal AUC can be computed and a trained model compared with it.

Effect directions (log-odds of objective response, all "worse" effects negative):

* lung immune prognostic index (Mezquita et al., JAMA Oncol 2018): neutrophil-to-lymphocyte ratio
  above 3 and LDH above the upper limit of normal, with a smaller graded effect of each;
* low albumin and high CRP (systemic inflammation; the "CRP/albumin" literature);
* ECOG performance status, with a step at ECOG >= 2;
* PD-L1 tumour proportion score: >= 50 % best, 1-49 % intermediate, < 1 % worst;
* larger gross tumour volume and a more heterogeneous tumour (CT texture) are worse.

One latent inflammation score couples NLR, LDH, CRP and albumin, as in real cohorts. Each tumour is
a rotated ellipsoid in a lung-like background with a smooth heterogeneous texture whose amplitude
(``heterogeneity``, HU) enters the outcome; CT noise, whose level varies between patients
(scanner, reconstruction kernel: 8-16 HU), is added on top and does not. The model only sees
what the radiomics functions measure in the image, never the latent values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

SHAPE = (48, 64, 64)                 # (slices, rows, columns) of a crop around the tumour
SPACING = (2.0, 1.5, 1.5)            # mm: slice thickness, row spacing, column spacing
LUNG_HU = -850.0
MAX_SEMI_AXIS_MM = 44.0

# Generative log-odds coefficients (the truth the model is compared with).
TRUTH = {
    "intercept": 0.35,
    "nlr_gt3": -0.55, "log_nlr": -0.35,
    "ldh_gt_uln": -0.55, "log_ldh_ratio": -0.45,
    "albumin_per_g": 0.05,
    "log_crp": -0.30,
    "ecog": -0.35, "ecog_ge2": -0.55,
    "pdl1_ge50": 0.95, "pdl1_1_49": 0.35,
    "log_volume": -0.45,
    "heterogeneity_per_10hu": -0.55,
}


@dataclass(frozen=True)
class Cohort:
    """Patients in columns (one array per variable, same length)."""

    columns: dict[str, NDArray[np.float64]]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, key: str) -> NDArray[np.float64]:
        return self.columns[key]


def true_logit(c: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
    """Return the generative log-odds of response from the latent values."""
    t = TRUTH
    nlr, ratio = c["neutrophils"] / c["lymphocytes"], c["ldh"] / c["ldh_uln"]
    return (t["intercept"] + t["nlr_gt3"] * (nlr > 3) + t["log_nlr"] * np.log(nlr / 3)
            + t["ldh_gt_uln"] * (ratio > 1) + t["log_ldh_ratio"] * np.log(ratio)
            + t["albumin_per_g"] * (c["albumin"] - 38) + t["log_crp"] * np.log(c["crp"] / 10)
            + t["ecog"] * c["ecog"] + t["ecog_ge2"] * (c["ecog"] >= 2)
            + t["pdl1_ge50"] * (c["pdl1_tps"] >= 50)
            + t["pdl1_1_49"] * ((c["pdl1_tps"] >= 1) & (c["pdl1_tps"] < 50))
            + t["log_volume"] * np.log(c["true_volume_cc"] / 40)
            + t["heterogeneity_per_10hu"] * (c["heterogeneity"] - 20) / 10)


def sample_cohort(n: int, seed: int) -> Cohort:
    """Draw `n` patients: clinical values, tumour parameters, true probability and label."""
    rng = np.random.default_rng([seed, 1])
    z = rng.normal(size=n)                                   # latent systemic inflammation
    c: dict[str, NDArray[np.float64]] = {}
    c["age"] = np.round(rng.uniform(42, 86, n))
    c["sex_male"] = (rng.random(n) < 0.62).astype(float)
    c["stage4"] = (rng.random(n) < 0.45).astype(float)
    c["ecog"] = rng.choice([0, 1, 2, 3], n, p=[0.34, 0.46, 0.16, 0.04]).astype(float)
    c["neutrophils"] = np.round(np.exp(rng.normal(np.log(4.6) + 0.28 * z, 0.33)), 2).clip(0.5, 30)
    c["lymphocytes"] = np.round(np.exp(rng.normal(np.log(1.45) - 0.22 * z, 0.35)), 2).clip(0.1, 6)
    c["ldh_uln"] = rng.choice([214.0, 225.0, 246.0, 250.0], n)
    c["ldh"] = np.round(c["ldh_uln"] * np.exp(rng.normal(np.log(0.85) + 0.22 * z, 0.32)))
    c["albumin"] = np.round(rng.normal(38 - 2.6 * z, 3.8), 1).clip(18, 52)
    c["crp"] = np.round(np.exp(rng.normal(np.log(9) + 0.75 * z, 0.95)), 1).clip(0.3, 350)
    tps_group = rng.choice(3, n, p=[0.33, 0.36, 0.31])
    c["pdl1_tps"] = np.select(
        [tps_group == 0, tps_group == 1],
        [np.zeros(n), np.round(rng.uniform(1, 49.99, n))], np.round(rng.uniform(50, 100, n)))
    c["true_volume_cc"] = np.exp(rng.normal(np.log(35), 0.85, n)).clip(2.5, 220)
    c["elong_true"] = rng.uniform(0.55, 1.0, n)              # semi-axis ratios
    c["flat_true"] = c["elong_true"] * rng.uniform(0.7, 1.0, n)
    c["angle"] = rng.uniform(0, np.pi, n)
    c["tumour_hu"] = rng.normal(35, 8, n)
    c["heterogeneity"] = np.exp(rng.normal(np.log(16), 0.6, n)).clip(1.5, 60)
    c["ct_noise"] = rng.uniform(8, 16, n)        # scanner and reconstruction kernel (nuisance)
    c["true_p"] = 1 / (1 + np.exp(-true_logit(c)))
    c["response"] = (rng.random(n) < c["true_p"]).astype(float)
    return Cohort(c)


def _semi_axes(c: Cohort, i: int) -> NDArray[np.float64]:
    """Return (slice-axis, row-axis, column-axis) semi-axes in mm giving the true volume."""
    ratios = np.array([c["flat_true"][i], 1.0, c["elong_true"][i]])
    a = (c["true_volume_cc"][i] * 1000 / (4 / 3 * np.pi * ratios.prod())) ** (1 / 3)
    return np.asarray(np.minimum(a * ratios, MAX_SEMI_AXIS_MM), dtype=np.float64)


def tumour_image(c: Cohort, i: int, seed: int, *, full: bool = True
                 ) -> tuple[NDArray[np.float32], NDArray[np.bool_], NDArray[np.float64]]:
    """Return (voxels in HU, GTV mask, 4x4 affine) for patient `i`.

    With ``full=False`` only the tumour's bounding box (plus a margin) is synthesised: the same
    values inside the mask in distribution, at a fraction of the cost, for the training cohort.
    """
    rng = np.random.default_rng([seed, 2, i])
    semi = _semi_axes(c, i)
    centre = (np.array(SHAPE) - 1) / 2 * np.array(SPACING) + rng.uniform(-3, 3, 3)
    lo = np.zeros(3, int) if full else np.maximum(
        ((centre - semi.max() - 6) / SPACING).astype(int), 0)
    hi = np.array(SHAPE) if full else np.minimum(
        ((centre + semi.max() + 6) / SPACING).astype(int) + 2, SHAPE)
    shape = tuple(int(b - a) for a, b in zip(lo, hi, strict=True))
    mask = ellipse_mask(c, i, centre, lo, shape)
    field = gaussian_filter(rng.normal(size=shape), sigma=(0.8, 1.1, 1.1))
    field /= field.std()
    vox = np.where(mask, c["tumour_hu"][i] + c["heterogeneity"][i] * field, LUNG_HU)
    vox = vox + rng.normal(0, c["ct_noise"][i], shape)
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = lo * np.array(SPACING)
    return np.round(vox).astype(np.float32), mask, affine


def ellipse_mask(c: Cohort, i: int, centre: NDArray[np.float64], lo: NDArray[np.int_],
                 shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Return voxel centres inside the ellipsoid (in-plane rotation ``angle``)."""
    semi = _semi_axes(c, i)
    axes = [(np.arange(n) + o) * s - m for n, o, s, m in zip(shape, lo, SPACING, centre,
                                                             strict=True)]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    cos, sin = np.cos(c["angle"][i]), np.sin(c["angle"][i])
    u, v = cos * yy + sin * xx, -sin * yy + cos * xx
    return np.asarray((zz / semi[0]) ** 2 + (u / semi[1]) ** 2 + (v / semi[2]) ** 2 <= 1.0)


def slice_contours(c: Cohort, i: int, seed: int, n_points: int = 96
                   ) -> list[tuple[int, NDArray[np.float64]]]:
    """Return (slice index, (N, 2) [row_mm, column_mm]) ellipse cross-sections of the GTV."""
    rng = np.random.default_rng([seed, 2, i])
    semi = _semi_axes(c, i)
    centre = (np.array(SHAPE) - 1) / 2 * np.array(SPACING) + rng.uniform(-3, 3, 3)
    out = []
    t = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    cos, sin = np.cos(c["angle"][i]), np.sin(c["angle"][i])
    for k in range(SHAPE[0]):
        dz = k * SPACING[0] - centre[0]
        scale = 1 - (dz / semi[0]) ** 2
        if scale <= 0:
            continue
        u, v = semi[1] * np.sqrt(scale) * np.cos(t), semi[2] * np.sqrt(scale) * np.sin(t)
        rows, cols = cos * u - sin * v + centre[1], sin * u + cos * v + centre[2]
        out.append((k, np.stack([rows, cols], axis=1)))
    return out


def write_dicom(c: Cohort, i: int, seed: int, out_dir: Path) -> Path:
    """Write patient `i`'s CT crop and GTV RTSTRUCT under ``out_dir/<patient id>``."""
    from dicom_writer import write_ct_and_rtstruct

    vox, _, _ = tumour_image(c, i, seed, full=True)
    pid = f"SYN-LU-{i:05d}"
    folder = out_dir / pid
    write_ct_and_rtstruct(folder, pid, vox, SPACING, slice_contours(c, i, seed),
                          uid_seed=f"{seed}-{i}")
    return folder
