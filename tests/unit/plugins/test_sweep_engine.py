"""Issue 11, property test per trained plugin, through the engine as a user runs it: each
continuous input swept across its valid range (the others at their reference values).

* no output leaves what the training data supports without a flag: a value outside the
  supported range is flagged "extrapolated" in plain words, and its output is the output at
  the supported edge (the model holds the value there); inside, no such flag;
* the band never shrinks toward an edge of the range (on the scale where the model is linear;
  bootstrap percentiles wiggle a little: tolerance 0.03).

The model-level sweep of relapse-gbsg2's band is in test_input_checks.py; this one runs every
trained plugin through calculator mode (input checks, units, outputs as shown).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oncoboard.config import Settings
from oncoboard.inference.discovery import check_plugin
from oncoboard.inference.engine import run_plugin
from oncoboard.inference.inputs import reference_of
from oncoboard.inference.manifest import ClinicalInput

ROOT = Path(__file__).resolve().parents[3]
TRAINED = ["relapse-gbsg2", "response-nsclc-rtio", "toxicity-hosp30"]
#: Inputs the model reads by clinical group (PD-L1 < 1 %, 1-49 %, >= 50 %): the band is constant
#: within a group and narrowest in the well-populated >= 50 % group, so it may narrow toward the
#: upper edge; for these only "no collapse beyond the supported range" is asserted.
GROUPED = {("response-nsclc-rtio", "pdl1_tps")}
NOTE = "Seen before cycle 2. Tolerating treatment, no fever, eating well."


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("sweep"),
                    providers=("CPUExecutionProvider",))


def _shown(pred) -> tuple[float, float, float, str]:
    """Return (point, lower, upper, scale) of the plugin's first shown output."""
    o = next(o for o in pred.outputs.values() if o.display)
    if o.kind == "survival":
        return o.values[-1], o.lower[-1], o.upper[-1], "cloglog"
    return o.value, o.lower, o.upper, "logit"


def _width(lo: float, hi: float, scale: str) -> float:
    lo, hi = np.clip([lo, hi], 1e-9, 1 - 1e-9)
    if scale == "logit":
        return float(np.log(hi / (1 - hi)) - np.log(lo / (1 - lo)))
    return float(np.log(-np.log(lo)) - np.log(-np.log(hi)))


@pytest.mark.parametrize("plugin_id", TRAINED)
def test_sweeping_each_input_stays_supported_or_flagged_and_the_band_never_narrows_outwards(
        plugin_id, settings):
    plugin = check_plugin(ROOT / "plugins" / plugin_id, settings, "bundled")
    assert plugin.enabled, plugin.problems
    m = plugin.manifest
    base = {}
    for spec in m.inputs:
        if isinstance(spec, ClinicalInput):
            ref = reference_of(spec)
            if ref is not None:
                base[spec.name] = f"{ref}{spec.unit}" if spec.unit and not spec.categories \
                    and spec.unit not in ("1", "a", "%") else ref
        elif spec.kind == "text":
            base[spec.name] = NOTE
    swept = 0
    for spec in m.inputs:
        if not isinstance(spec, ClinicalInput) or spec.categories or spec.support is None:
            continue
        lo, hi = spec.valid_range
        sup = spec.support
        grid = sorted({*np.linspace(lo, hi, 15).round(6), sup.lower, sup.upper})
        if spec.integer:
            grid = sorted({float(round(v)) for v in grid})
        rows = []
        for v in grid:
            given = {**base, spec.name: f"{v:.10g}{spec.unit}" if spec.unit
                     and spec.unit not in ("1", "a", "%") else f"{v:.10g}"}
            pred = run_plugin(plugin, given, settings, explain_it=False)
            assert pred.ok, (spec.name, v, pred.refusal)
            flagged = any(w.code == "extrapolated" and w.input == spec.name
                          for w in pred.warnings)
            outside = bool(v < sup.lower or v > sup.upper)
            assert flagged is outside, (plugin_id, spec.name, v)
            rows.append((v, *_shown(pred)))
        swept += 1
        values = np.array([r[0] for r in rows])
        points = np.array([r[1] for r in rows])
        at = {sup.lower: points[values == sup.lower][0], sup.upper: points[values == sup.upper][0]}
        # the model holds the value at the supported edge: no output beyond it
        for v, p in zip(values, points, strict=True):
            if v < sup.lower:
                assert p == pytest.approx(at[sup.lower], abs=1e-6), (spec.name, v)
            elif v > sup.upper:
                assert p == pytest.approx(at[sup.upper], abs=1e-6), (spec.name, v)
        width = np.array([_width(r[2], r[3], r[4]) for r in rows])
        assert (width > 0).all(), (plugin_id, spec.name)
        # beyond the supported range the band is the edge's: it never collapses there
        for edge, beyond in ((sup.lower, values < sup.lower), (sup.upper, values > sup.upper)):
            if beyond.any():
                assert np.allclose(width[beyond], width[values == edge][0], atol=1e-6), \
                    (plugin_id, spec.name)
        if (plugin_id, spec.name) in GROUPED:
            continue
        k = int(np.argmin(width))
        assert (np.diff(width[k:]) >= -0.03).all(), (plugin_id, spec.name, width.round(3))
        assert (np.diff(width[:k + 1]) <= 0.03).all(), (plugin_id, spec.name, width.round(3))
    assert swept >= 3
