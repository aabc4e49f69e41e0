"""A baseline chest CT and a follow-up with an exactly known rigid motion (registration tests).

The baseline is the demo's synthetic chest phantom (`oncoboard.imaging.demo.chest_phantom`); the
follow-up is the same anatomy resampled on the same grid after a known rotation and translation
(`synth.resample_rigid`), with fresh noise and its own Frame of Reference, as a later scan of the
same patient on another day would be.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oncoboard.imaging import demo, synth
from oncoboard.imaging.registration import RigidTransform
from oncoboard.imaging.volume import Volume


def chest_affine(positions: np.ndarray, spacing: tuple[float, float, float] = demo.CT_SPACING
                 ) -> np.ndarray:
    """Return the affine of an axial series at `positions` (row, column, slice spacing)."""
    aff = np.eye(4)
    aff[:3, 0] = positions[1] - positions[0] if len(positions) > 1 else [0, 0, spacing[2]]
    aff[:3, 1] = [0.0, spacing[0], 0.0]
    aff[:3, 2] = [spacing[1], 0.0, 0.0]
    aff[:3, 3] = positions[0]
    return aff


def chest_volume(seed: int = 3, *, series: str = "baseline", frame: str = "for-a",
                 date: str = "20260501", **meta: Any) -> Volume:
    """Return the phantom chest CT as a Volume (no files)."""
    hu, positions, centre = demo.chest_phantom({"seed": seed, "diameter_mm": 30})
    return Volume(hu, chest_affine(positions), modality="CT", series_uid=series,
                  study_uid=f"study-{series}", patient_id="SYNTH-CMP",
                  meta={"frame_of_reference_uid": frame, "study_date": date,
                        "tumour_centre_lps": centre, **meta})


def moved_followup(baseline: Volume, transform: RigidTransform, *, seed: int = 11,
                   series: str = "followup", frame: str = "for-b",
                   date: str = "20261116") -> Volume:
    """Return a follow-up whose LPS x shows the baseline's anatomy at ``transform(x)``."""
    moved = synth.resample_rigid(baseline.voxels, baseline.affine, transform.array)
    noise = np.random.default_rng(seed).normal(0.0, 12.0, moved.shape)
    voxels = (moved + np.rint(noise)).astype(np.int16)
    return Volume(voxels, baseline.affine.copy(), modality="CT", series_uid=series,
                  study_uid=f"study-{series}", patient_id=baseline.patient_id,
                  meta={"frame_of_reference_uid": frame, "study_date": date})
