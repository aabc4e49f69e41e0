"""The CARG plugin is exact: every item's points against the reference table, on the ONNX file.

The table is transcribed here independently of models/carg-toxicity (from
../shared/references/carg-toxicity-score.md); the tests run the committed model.onnx.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.inference.manifest import load_manifest

PLUGIN = Path(__file__).resolve().parents[3] / "plugins" / "carg-toxicity"
COLUMNS = ["age", "cancer_site_gi_gu", "dose_intensity", "n_agents", "haemoglobin", "sex_male",
           "crcl", "hearing", "falls_6m", "walk_limited", "needs_medication_help",
           "social_decreased"]
# A patient scoring 0: under 72, lung, reduced dose, one agent, Hb 13, CrCl 80, good hearing...
ZERO = dict(age=66.0, cancer_site_gi_gu=0.0, dose_intensity=0.8, n_agents=1.0, haemoglobin=13.0,
            sex_male=1.0, crcl=80.0, hearing=1.0, falls_6m=0.0, walk_limited=0.0,
            needs_medication_help=0.0, social_decreased=0.0)
# item -> (points, overrides that switch it on) from the reference table.
TABLE = {
    "age >= 72": (2, {"age": 72.0}),
    "GI or GU cancer": (2, {"cancer_site_gi_gu": 1.0}),
    "standard dose": (2, {"dose_intensity": 1.0}),
    "polychemotherapy": (2, {"n_agents": 2.0}),
    "Hb < 11 (men)": (3, {"haemoglobin": 10.9}),
    "CrCl < 34": (3, {"crcl": 33.9}),
    "hearing fair or worse": (2, {"hearing": 2.0}),
    "falls": (3, {"falls_6m": 1.0}),
    "walking limited": (2, {"walk_limited": 1.0}),
    "medication help": (1, {"needs_medication_help": 1.0}),
    "social decreased": (1, {"social_decreased": 1.0}),
}


@pytest.fixture(scope="module")
def session():
    return ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])


def _run(session, rows: list[dict[str, float]]):
    x = np.array([[r[c] for c in COLUMNS] for r in rows], dtype=np.float32)
    score, group, rate, items, *_validation = session.run(None, {"features": x})
    return score[:, 0], group[:, 0], rate[:, 0], items


def _expected_group(points: float) -> int:
    return 0 if points <= 5 else 1 if points <= 9 else 2


def test_manifest_validates_and_hash_matches():
    m = load_manifest(PLUGIN)
    assert m.model.sha256 == hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert m.id == "carg-toxicity" and not m.synthetic
    assert "0.52" in m.description and "never alone" in m.description
    assert m.metrics is not None and m.metrics.values["agreement_with_reference_table"].value == 1


def test_zero_patient_scores_zero(session):
    score, group, rate, items = _run(session, [ZERO])
    assert score[0] == 0 and group[0] == 0 and rate[0] == pytest.approx(0.30)
    assert not items.any()


@pytest.mark.parametrize("item", list(TABLE))
def test_each_item_alone_gives_its_points(session, item):
    points, on = TABLE[item]
    score, *_ = _run(session, [{**ZERO, **on}])
    assert score[0] == points


def test_every_combination_of_items_adds_up(session):
    """All 2^11 on/off combinations: the score is the table's sum and the group its band."""
    rows, expected = [], []
    for mask in itertools.product([0, 1], repeat=len(TABLE)):
        row = dict(ZERO)
        total = 0
        for on, (points, overrides) in zip(mask, TABLE.values(), strict=True):
            if on:
                row.update(overrides)
                total += points
        rows.append(row)
        expected.append(total)
    score, group, rate, items = _run(session, rows)
    exp = np.array(expected, dtype=np.float32)
    np.testing.assert_array_equal(score, exp)
    np.testing.assert_array_equal(items.sum(axis=1), exp)
    np.testing.assert_array_equal(group, [_expected_group(p) for p in expected])
    np.testing.assert_allclose(rate, np.array([0.30, 0.52, 0.83])[group.astype(int)], atol=1e-6)
    assert exp.max() == 23


@pytest.mark.parametrize("column,below,at", [
    ("age", 71.9, 72.0), ("n_agents", 1.0, 2.0), ("dose_intensity", 0.94, 0.95),
    ("hearing", 1.0, 2.0), ("falls_6m", 0.0, 1.0)])
def test_thresholds_that_add_points(session, column, below, at):
    s, *_ = _run(session, [{**ZERO, column: below}, {**ZERO, column: at}])
    assert s[0] == 0 and s[1] > 0


def test_creatinine_clearance_threshold(session):
    s, *_ = _run(session, [{**ZERO, "crcl": 34.0}, {**ZERO, "crcl": 33.99}])
    assert list(s) == [0, 3]


@pytest.mark.parametrize("sex_male,hb,points", [
    (1.0, 11.0, 0), (1.0, 10.99, 3), (1.0, 10.5, 3),
    (0.0, 10.5, 0), (0.0, 10.0, 0), (0.0, 9.99, 3)])
def test_haemoglobin_threshold_is_sex_specific(session, sex_male, hb, points):
    s, *_ = _run(session, [{**ZERO, "sex_male": sex_male, "haemoglobin": hb}])
    assert s[0] == points


def test_risk_band_edges(session):
    # 5 -> low, 6 -> intermediate, 9 -> intermediate, 10 -> high.
    five = {**ZERO, "haemoglobin": 10.0, "age": 75.0}                    # 3 + 2
    six = {**ZERO, "haemoglobin": 10.0, "crcl": 20.0}                    # 3 + 3
    nine = {**six, "falls_6m": 2.0}                                      # 9
    ten = {**nine, "social_decreased": 1.0}                              # 10
    score, group, rate, _ = _run(session, [five, six, nine, ten])
    assert list(score) == [5, 6, 9, 10]
    assert list(group) == [0, 1, 1, 2]
    np.testing.assert_allclose(rate, [0.30, 0.52, 0.52, 0.83], atol=1e-6)


def test_extreme_inputs_are_finite(session):
    lo = {c: 0.0 for c in COLUMNS}
    hi = {c: 1e6 for c in COLUMNS}
    score, group, rate, _ = _run(session, [lo, hi])
    assert np.isfinite(score).all() and np.isfinite(rate).all()
    assert 0 <= score.min() and score.max() <= 23


# External validation (Hurria et al., J Clin Oncol 2016), as published: 250 patients, 24 / 53 /
# 23 % in the low / intermediate / high groups, toxicity in 36.7 / 62.4 / 70.2 % of each.
VALIDATION_SHARES, VALIDATION_RATES = (24, 53, 23), (36.7, 62.4, 70.2)


def test_validation_rate_and_interval_per_group(session):
    """Each group's validation-cohort rate reproduces the published percentages and its interval
    is scipy's Wilson interval of the same counts; the point lies inside it."""
    from scipy.stats import binomtest

    rows = [ZERO, {**ZERO, "age": 72.0, "cancer_site_gi_gu": 1.0, "dose_intensity": 1.0},
            {**ZERO, **{c: v for _, (_, o) in TABLE.items() for c, v in o.items()}}]
    x = np.array([[r[c] for c in COLUMNS] for r in rows], dtype=np.float32)
    outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"features": x}),
                    strict=True))
    assert outs["risk_group"][:, 0].tolist() == [0.0, 1.0, 2.0]
    sizes = []
    for g in range(3):
        rate = float(outs["validation_rate"][g, 0])
        assert round(100 * rate, 1) == VALIDATION_RATES[g]
        n = next(n for n in range(1, 251) if abs(round(n * rate) / n - rate) < 1e-6
                 and round(100 * n / 250) == VALIDATION_SHARES[g])
        k = round(n * rate)
        sizes.append(n)
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert outs["validation_lower"][g, 0] == pytest.approx(ci.low, abs=1e-6)
        assert outs["validation_upper"][g, 0] == pytest.approx(ci.high, abs=1e-6)
        assert outs["validation_lower"][g, 0] < rate < outs["validation_upper"][g, 0]
    assert sum(sizes) == 250


def test_validation_rate_is_shown_with_its_interval():
    m = load_manifest(PLUGIN)
    out = next(o for o in m.outputs if o.name == "validation_cohort_toxicity_rate")
    assert out.lower and out.upper and out.display
    assert "Wilson 95 %" in (out.interval_method or "") and "40/57" in out.interval_method
    assert all(not o.display for o in m.outputs if o.name in (out.lower, out.upper))
