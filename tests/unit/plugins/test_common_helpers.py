"""Helpers shared by the plugin build scripts (models/common): intervals and supported ranges."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "models"))

from common.binomial import clopper_pearson, wilson  # noqa: E402
from common.support import support_of  # noqa: E402


@pytest.mark.parametrize("k,n,w,cp", [
    (0, 10, (0.0, 0.2775), (0.0, 0.3085)),        # textbook values (Brown, Cai, DasGupta 2001)
    (5, 10, (0.2366, 0.7634), (0.1871, 0.8129)),
    (10, 10, (0.7225, 1.0), (0.6915, 1.0))])
def test_binomial_intervals_match_published_values(k, n, w, cp):
    assert wilson(k, n) == pytest.approx(w, abs=1e-4)
    assert clopper_pearson(k, n) == pytest.approx(cp, abs=1e-4)


def test_support_is_the_1st_99th_percentile_of_observed_values_with_edge_counts():
    v = np.arange(1, 201, dtype=float)            # 200 patients aged 1..200
    s = support_of(v)
    assert (s["lower"], s["upper"]) == (2.0, 199.0)
    assert (s["n_at_or_below_lower"], s["n_at_or_above_upper"]) == (2, 2)
    assert (s["observed_min"], s["observed_max"], s["n_training"]) == (1.0, 200.0, 200)
