"""Rigid registration and series linking: known motions recovered, no overlap reported."""

from __future__ import annotations

import numpy as np
import pytest
from compare_helpers import chest_volume, moved_followup

from oncoboard.imaging import registration as reg
from oncoboard.imaging.registration import RigidTransform
from oncoboard.imaging.volume import Volume

#: Rotation about x, y, z (degrees) and translation (mm) of the follow-up scan.
KNOWN = ((2.0, -1.5, 4.0), (12.0, -8.0, 15.0))


@pytest.fixture(scope="module")
def pair() -> tuple[Volume, Volume, RigidTransform]:
    baseline = chest_volume()
    centre = tuple(baseline.index_to_patient(np.array(baseline.shape) / 2.0))
    truth = RigidTransform.from_euler(*KNOWN, centre=centre)
    return moved_followup(baseline, truth), baseline, truth


def _errors(found: RigidTransform, truth: RigidTransform, volume: Volume) -> tuple[float, float]:
    """Return (max displacement error in mm over the volume, residual rotation in degrees)."""
    corners = np.array([[k, r, c] for k in (0, volume.shape[0] - 1)
                        for r in (0, volume.shape[1] - 1) for c in (0, volume.shape[2] - 1)])
    pts = volume.index_to_patient(corners)
    mm = float(np.linalg.norm(found.apply(pts) - truth.apply(pts), axis=1).max())
    residual = RigidTransform.from_matrix(np.linalg.inv(found.array) @ truth.array)
    return mm, residual.rotation_degrees


def test_known_rigid_motion_is_recovered_within_1_mm_and_1_degree(pair):
    current, prior, truth = pair
    assert reg.initial_link(current, prior).mode == "unregistered"
    progress: list[float] = []
    result = reg.register_rigid(current, prior, progress=lambda f, _m: progress.append(f))
    mm, degrees = _errors(result.transform, truth, current)
    print(f"registration: {mm:.3f} mm (worst corner), {degrees:.3f} deg, {result.seconds:.1f} s, "
          f"overlap {result.overlap:.2f}, similarity {result.similarity:.3f}")
    assert mm < 1.0 and degrees < 1.0
    assert result.ok and result.similarity > 0.9
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)
    link = reg.link_from_result(result)
    assert link.linked and link.mode == "registered"
    # the tumour centre of the baseline is found at the same anatomy in the follow-up
    tumour = np.array(prior.meta["tumour_centre_lps"])
    in_current = truth.inverse().apply(tumour)
    idx = link.to_prior_index(current, prior, current.patient_to_index(in_current))
    assert np.linalg.norm((idx - prior.patient_to_index(tumour)) * prior.spacing) < 1.0


def test_manual_offset_is_added_in_prior_coordinates(pair):
    current, prior, truth = pair
    result = reg.RegistrationResult(truth, 1.0, 1.0, offset_mm=(0.0, 3.0, -2.0))
    link = reg.link_from_result(result)
    p = np.array([1.0, 2.0, 3.0])
    assert np.allclose(link.transform.apply(p), truth.apply(p) + [0, 3, -2])
    assert "manual offset" in link.message
    back = link.to_current_index(current, prior, link.to_prior_index(current, prior,
                                                                     np.array([4.0, 5.0, 6.0])))
    assert np.allclose(back, [4, 5, 6])


def test_registration_is_cached_by_series_and_content(pair, tmp_path):
    current, prior, truth = pair
    cache = reg.RegistrationCache(tmp_path / "cache" / "registration")
    key = reg.RegistrationCache.key(current, prior)
    stored = reg.RegistrationResult(truth, 0.9, 0.95, seconds=4.2)
    cache.put(key, stored)
    hit, hit_key, cached = reg.register_cached(current, prior, cache)
    assert cached and hit_key == key and np.allclose(hit.transform.array, truth.array)
    assert cache.set_offset(key, (1.0, 0.0, 0.0)) and cache.get(key).offset_mm == (1.0, 0.0, 0.0)
    changed = Volume(current.voxels.copy(), current.affine, modality="CT",
                     series_uid=current.series_uid, meta=current.meta)
    changed.voxels[0, 0, 0] += 1
    assert reg.RegistrationCache.key(changed, prior) != key
    assert reg.RegistrationCache.key(prior, current) != key


def test_same_frame_of_reference_links_in_patient_coordinates():
    ct = chest_volume()
    other = Volume(ct.voxels, ct.affine, modality="CT", series_uid="b", meta=dict(ct.meta))
    link = reg.initial_link(ct, other)
    assert link.mode == "patient" and link.linked
    assert np.allclose(link.to_prior_index(ct, other, np.array([3.0, 4.0, 5.0])), [3, 4, 5])


def test_same_frame_of_reference_without_overlap_is_reported():
    ct = chest_volume()
    shifted = ct.affine.copy()
    shifted[2, 3] += 1000.0  # a second block of slices a metre away, same scanner coordinates
    far = Volume(ct.voxels, shifted, modality="CT", series_uid="far", meta=dict(ct.meta))
    link = reg.initial_link(ct, far)
    assert link.mode == "no_overlap" and not link.linked and "not linked" in link.message


def head_volume() -> Volume:
    """Return a synthetic head CT (skull, brain, ventricles): anatomy a chest CT lacks."""
    shape, step = (60, 160, 160), 1.5
    z, y, x = np.meshgrid(*(np.arange(n) * step - n * step / 2 for n in shape), indexing="ij")
    r = np.sqrt((x / 75) ** 2 + (y / 90) ** 2 + (z / 70) ** 2)
    hu = np.full(shape, -1000, np.int16)
    hu[r < 1.0] = 1200
    hu[r < 0.9] = 35
    hu[(np.abs(x) < 12) & (np.abs(y) < 25) & (np.abs(z) < 15)] = 5
    hu += np.random.default_rng(5).normal(0, 12, shape).astype(np.int16)
    aff = np.diag([step, step, step, 1.0])[[2, 1, 0, 3]]
    aff[:3, 3] = [-120.0, -120.0, 400.0]
    return Volume(hu, aff, modality="CT", series_uid="head", meta={"frame_of_reference_uid": "h"})


def test_different_frame_of_reference_without_overlap_is_reported_not_linked():
    chest, head = chest_volume(), head_volume()
    assert reg.initial_link(chest, head).mode == "unregistered"
    result = reg.register_rigid(chest, head)
    link = reg.link_from_result(result)
    print(f"chest vs head: overlap {result.overlap:.2f}, similarity {result.similarity:.2f}")
    assert not result.ok
    assert link.mode == "no_overlap" and not link.linked
    assert "no overlap" in link.message


def test_cancel_stops_the_registration(pair):
    current, prior, _ = pair
    with pytest.raises(reg.RegistrationCancelled):
        reg.register_rigid(current, prior, cancel=lambda: True)


def test_transform_helpers():
    t = RigidTransform.from_euler((0.0, 0.0, 90.0), (1.0, 0.0, 0.0))
    assert np.allclose(t.apply(np.array([1.0, 0.0, 0.0])), [1.0, 1.0, 0.0])
    assert abs(t.rotation_degrees - 90.0) < 1e-9
    assert np.allclose(t.inverse().apply(t.apply(np.array([3.0, 2.0, 1.0]))), [3, 2, 1])
    data = reg.RegistrationResult(t, 0.5, 0.7, offset_mm=(1.0, 2.0, 3.0)).to_json()
    back = reg.RegistrationResult.from_json(data)
    assert np.allclose(back.transform.array, t.array) and back.offset_mm == (1.0, 2.0, 3.0)
