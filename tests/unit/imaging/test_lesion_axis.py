"""The semi-automatic long/short axis on synthetic discs and ellipses of known size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oncoboard.imaging.lesion_axis import propose_axes


def ellipse_plane(a_mm: float, b_mm: float, angle_deg: float, spacing: tuple[float, float],
                  shape: tuple[int, int] = (160, 160), noise: float = 10.0) -> np.ndarray:
    """A lesion (35 HU) in lung (-820 HU) with semi-axes a, b mm rotated by angle."""
    rows, cols = shape
    y = (np.arange(rows) - rows / 2)[:, None] * spacing[0]
    x = (np.arange(cols) - cols / 2)[None, :] * spacing[1]
    t = math.radians(angle_deg)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    plane = np.full(shape, -820.0)
    plane[(u / a_mm) ** 2 + (v / b_mm) ** 2 <= 1] = 35.0
    rng = np.random.default_rng(1)
    return plane + rng.normal(0, noise, shape)


@pytest.mark.parametrize(("a", "b", "angle", "spacing"), [
    (15.0, 15.0, 0.0, (1.3, 1.3)),       # 30 mm disc (sphere's central slice)
    (5.0, 5.0, 0.0, (0.7, 0.7)),         # 10 mm: the measurability threshold
    (20.0, 10.0, 0.0, (1.3, 1.3)),       # 40 x 20 ellipse
    (20.0, 10.0, 30.0, (1.3, 1.3)),      # rotated
    (25.0, 12.0, 65.0, (0.8, 1.2)),      # anisotropic pixels
])
def test_axes_within_one_pixel(a, b, angle, spacing):
    plane = ellipse_plane(a, b, angle, spacing)
    p = propose_axes(plane, (80, 80), spacing)
    assert p is not None and not p.leaked
    pixel = max(spacing)
    assert abs(p.long_mm - 2 * a) <= pixel, p
    assert abs(p.short_mm - 2 * b) <= pixel, p
    (r1, c1), (r2, c2) = p.long_ends
    ends_mm = math.hypot((r2 - r1) * spacing[0], (c2 - c1) * spacing[1])
    assert ends_mm == pytest.approx(p.long_mm, abs=0.05)
    direction = math.degrees(math.atan2((r2 - r1) * spacing[0], (c2 - c1) * spacing[1])) % 180
    if a != b:
        assert min(abs(direction - angle % 180), 180 - abs(direction - angle % 180)) < 8


@pytest.mark.parametrize("angle", range(0, 180, 15))
def test_rotated_ellipse_any_angle(angle):
    spacing = (1.3, 1.3)
    p = propose_axes(ellipse_plane(20.0, 10.0, angle, spacing), (80, 80), spacing)
    assert p is not None
    assert abs(p.long_mm - 40.0) <= 1.3 and abs(p.short_mm - 20.0) <= 1.3


def test_region_stays_on_the_lesion_next_to_another():
    spacing = (1.0, 1.0)
    plane = ellipse_plane(10, 10, 0, spacing)
    plane[20:40, 20:40] = 35.0  # another lesion, not connected
    p = propose_axes(plane, (80, 80), spacing)
    assert p is not None and abs(p.long_mm - 20) <= 1.0


def test_leak_is_reported():
    plane = np.full((100, 100), 40.0)
    p = propose_axes(plane, (50, 50), (1.0, 1.0), max_extent_mm=40)
    assert p is not None and p.leaked


def test_seed_outside_raises():
    with pytest.raises(ValueError):
        propose_axes(np.zeros((10, 10)), (20, 3), (1.0, 1.0))
