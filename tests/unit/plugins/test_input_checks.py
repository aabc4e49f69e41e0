"""Issue 11: inputs outside the training data are bounded and flagged, counts are whole numbers,
clinically inconsistent inputs are flagged, and the band widens (never collapses) at the edges.

Runs the committed plugins (no rebuild) through oncoboard.inference.checks and onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.inference import checks
from oncoboard.inference.manifest import ClinicalInput, load_manifest

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "plugins"
TRAINED = ["relapse-gbsg2", "response-nsclc-rtio", "toxicity-hosp30"]
# The example: 5-year RFS 0.000 [0.000-0.000] and no flag before the fix.
AGE21 = {"age": 21, "menostat": "Pre", "tsize": 25, "tgrade": "II", "pnodes": 3,
         "progrec": 32, "estrec": 36, "horth": "no"}
RELAPSE_REF = [53, 1, 25, 2, 3, 32, 36, 0]


def _relapse(rows: list[list[float]]) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(str(PLUGINS / "relapse-gbsg2" / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = sess.run(names, {"features": np.asarray(rows, np.float32)})
    return {k: v.astype(float) for k, v in zip(names, out, strict=True)}


def test_relapse_age_21_is_bounded_flagged_and_has_a_wide_band():
    out = _relapse([[21, 0, 25, 2, 3, 32, 36, 0], RELAPSE_REF])
    rfs, lo, hi = out["rfs"][:, 59], out["rfs_lower"][:, 59], out["rfs_upper"][:, 59]
    assert rfs[0] > 0.1                       # was 0.000
    assert hi[0] - lo[0] > hi[1] - lo[1]      # wider than for the typical patient, not 0
    assert lo[0] <= rfs[0] <= hi[0]
    m = load_manifest(PLUGINS / "relapse-gbsg2")
    flags = checks.input_flags(m, AGE21)
    age_flag = [f for f in flags if f.startswith("age 21")]
    assert age_flag and "of 686 training patients" in age_flag[0] and "extrapolated" in age_flag[0]


@pytest.mark.parametrize("menostat,age,flagged", [("Post", 30, True), ("Pre", 70, True),
                                                  ("Post", 60, False), ("Pre", 40, False),
                                                  ("postmenopausal", 30, True)])
def test_relapse_menopausal_status_is_checked_against_age(menostat, age, flagged):
    m = load_manifest(PLUGINS / "relapse-gbsg2")
    flags = checks.consistency_flags(m, {**AGE21, "age": age, "menostat": menostat})
    assert bool(flags) is flagged


@pytest.mark.parametrize("plugin_id", TRAINED)
def test_every_continuous_input_of_a_trained_plugin_declares_its_support(plugin_id):
    m = load_manifest(PLUGINS / plugin_id)
    numeric = [s for s in m.inputs if isinstance(s, ClinicalInput) and not s.categories]
    assert numeric
    for spec in numeric:
        assert spec.support is not None, spec.name
        sup = spec.support
        assert sup.n_at_or_below_lower >= 1 and sup.n_at_or_above_upper >= 1
        # inside: no flag; outside (within the accepted range): a flag
        assert checks.support_flag(spec, (sup.lower + sup.upper) / 2) is None
        lo, hi = spec.valid_range or (sup.observed_min - 1, sup.observed_max + 1)
        for v in (lo, hi):
            if v < sup.lower or v > sup.upper:
                assert "extrapolated" in (checks.support_flag(spec, v) or ""), (spec.name, v)


@pytest.mark.parametrize("plugin_id", TRAINED + ["predict-breast-v2.1", "carg-toxicity"])
def test_every_output_states_its_uncertainty(plugin_id):
    m = load_manifest(PLUGINS / plugin_id)
    shown = [o for o in m.outputs if o.display]
    for out in shown:
        has_band = out.lower is not None and out.upper is not None and out.interval_method
        assert has_band or out.uncertainty, out.name


def test_relapse_band_never_shrinks_toward_an_edge_of_an_input():
    """Sweep each continuous input across its accepted range: on the complementary log-log
    scale (where the model is linear) the band is narrowest inside and never narrows outwards."""
    m = load_manifest(PLUGINS / "relapse-gbsg2")
    for spec in m.inputs:
        if not isinstance(spec, ClinicalInput) or spec.categories:
            continue
        grid = np.linspace(spec.valid_range[0], spec.valid_range[1], 60)
        rows = np.tile(RELAPSE_REF, (len(grid), 1)).astype(float)
        rows[:, spec.column] = grid
        out = _relapse(rows.tolist())

        def cll(s: np.ndarray) -> np.ndarray:
            return np.log(-np.log(np.clip(s, 1e-12, 1 - 1e-12)))
        width = cll(out["rfs_lower"][:, 59]) - cll(out["rfs_upper"][:, 59])
        assert (width > 0).all(), spec.name
        # percentiles of 200 refits wiggle by up to about 0.02 on this scale: allow 0.03
        k = int(np.argmin(width))
        assert (np.diff(width[k:]) >= -0.03).all() and (np.diff(width[:k + 1]) <= 0.03).all(), \
            spec.name
        assert min(width[0], width[-1]) >= width[k]


@pytest.mark.parametrize("plugin_id,name,value", [
    ("relapse-gbsg2", "pnodes", 2.5), ("predict-breast-v2.1", "nodes", 1.5),
    ("carg-toxicity", "n_agents", 2.5), ("carg-toxicity", "falls_6m", 0.5),
    ("toxicity-hosp30", "n_agents", 1.5)])
def test_fractional_counts_are_refused(plugin_id, name, value):
    m = load_manifest(PLUGINS / plugin_id)
    assert checks.input_refusals(m, {name: value})
    assert not checks.input_refusals(m, {name: round(value)})


@pytest.mark.parametrize("age,flagged", [(35, True), (39.9, True), (40, False), (60, False),
                                         (75, False), (80, True)])
def test_predict_flags_ages_where_published_performance_is_weaker(age, flagged):
    m = load_manifest(PLUGINS / "predict-breast-v2.1")
    assert bool(checks.input_flags(m, {"age": age})) is flagged
