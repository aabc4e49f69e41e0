"""The committed PREDICT Breast v2.1 plugin against its equations, the published example and sense.

The tests run the committed ``plugins/predict-breast-v2.1/model.onnx`` (no rebuild) and compare it
with the plain NumPy implementation in ``models/predict-breast-v2.1/predict_equations.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.config import load_settings
from oncoboard.inference.discovery import check_plugin
from oncoboard.inference.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "predict-breast-v2.1"
_spec = importlib.util.spec_from_file_location(
    "predict_equations", ROOT / "models" / "predict-breast-v2.1" / "predict_equations.py")
assert _spec is not None and _spec.loader is not None
pe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pe)

EXAMPLE = {"age": 65, "size_mm": 19, "nodes": 1, "grade": 2, "er": 1, "her2": 0, "ki67": 0,
           "screen": 0, "generation": 0, "horm": 0, "traz": 0, "bis": 0}


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(PLUGIN)


def run(session, patients: dict) -> dict[str, np.ndarray]:
    feeds = {k: np.asarray(patients[k], np.float32).reshape(-1, 1) for k in pe.INPUTS}
    names = [o.name for o in session.get_outputs()]
    return {k: v.astype(float) for k, v in zip(names, session.run(names, feeds), strict=True)}


def batch(rows: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.array([float(r[k]) for r in rows]) for k in pe.INPUTS}


def test_hash_matches_manifest_and_engine_accepts_plugin(manifest, tmp_path):
    digest = hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert manifest.model.sha256 == digest
    assert (PLUGIN / "model.onnx").stat().st_size < 2 * 1024 * 1024
    plugin = check_plugin(PLUGIN, load_settings(tmp_path), "bundled")  # schema, graph, golden
    assert plugin.problems == [] and plugin.enabled


def test_onnx_matches_equations_on_random_patients(session):
    patients = pe.random_patients(400, seed=7)
    got, ref = run(session, patients), pe.predict(patients)
    for name in ("os", "br_mortality", "oth_mortality"):
        assert np.abs(got[name] - getattr(ref, name)).max() * 100 < 0.01  # percentage points


def test_published_example(session):
    os10 = run(session, batch([EXAMPLE]))["os"][0, 9]
    assert 0.735 < os10 < 0.745  # the sheet: about 74 % at 10 years after surgery alone


def test_er_negative_unknown_grade_scores_zero_like_the_published_code(session):
    """Issue 11 defect 2: the published code scores an unknown grade 0 in the ER-negative index.

    Age 50, 20 mm, 1 node, grade unknown, ER-, HER2-, surgery only: 84.8 % 10-year OS (the
    plugin gave 65.5 % when it counted unknown grade as 'grade 2 or 3').
    """
    case = {**EXAMPLE, "age": 50, "size_mm": 20, "nodes": 1, "grade": 9, "er": 0, "her2": 0,
            "ki67": 9}
    os10 = run(session, batch([case]))["os"][0, 9]
    assert os10 == pytest.approx(0.848, abs=0.0006)
    assert pe.predict(batch([case])).os[0, 9] == pytest.approx(0.848, abs=0.0006)
    # ER-positive unknown grade still enters as 2.13 (between grade 2 and grade 3)
    er_pos = [{**case, "er": 1, "grade": g} for g in (2, 9, 3)]
    os_pos = run(session, batch(er_pos))["os"][:, 9]
    assert os_pos[0] > os_pos[1] > os_pos[2]


def test_recorded_metrics_reproduced(session, manifest):
    values = manifest.metrics.values
    ex = run(session, batch([EXAMPLE]))["os"][0, 9]
    assert round(100 * ex, 6) == pytest.approx(values["example_os10_surgery_pct"].value, abs=2e-6)
    chemo3 = run(session, batch([{**EXAMPLE, "generation": 3}]))["os"][0, 9]
    assert round(100 * (chemo3 - ex), 6) == pytest.approx(
        values["example_benefit10_generation3_pp"].value, abs=2e-6)
    assert values["max_abs_diff_os_pp"].value < 0.01


def test_golden_case_matches_graph(session, manifest):
    coded = {}
    for name, value in manifest.golden.inputs.items():
        spec = manifest.input(name)
        cats = {c.label: c.value for c in spec.categories}
        coded[name] = cats[value] if cats else value
    out = run(session, batch([coded]))
    for name, expected in manifest.golden.expected.items():
        assert np.allclose(out[name][0], expected, atol=manifest.golden.tolerance)


def test_edges_of_valid_ranges_give_finite_curves(session):
    rows = [dict(zip(pe.INPUTS, combo, strict=True)) for combo in itertools.product(
        (25, 85), (1, 200), (0, 60), (1, 9), (0, 1), (0, 1, 9), (0, 9), (0, 2), (0, 3), (0, 1),
        (0, 1), (0, 1))]
    out = run(session, batch(rows))
    for curve in out.values():
        assert np.all(np.isfinite(curve))
        assert curve.min() >= -1e-6 and curve.max() <= 1 + 1e-6
    assert np.all(np.diff(out["os"], axis=1) <= 1e-7)  # survival never rises
    assert np.all(np.diff(out["br_mortality"], axis=1) >= -1e-7)


def test_more_nodes_larger_tumour_higher_grade_lower_survival(session):
    base = pe.random_patients(200, seed=11)
    os0 = run(session, base)["os"]
    for key, bump in (("nodes", 5), ("size_mm", 20)):
        worse = {**base, key: base[key] + bump}
        assert np.all(run(session, worse)["os"] <= os0 + 1e-7)
    known = base["grade"] < 9
    graded = {k: v[known] for k, v in base.items()}
    up = {**graded, "grade": np.minimum(graded["grade"] + 1, 3)}
    assert np.all(run(session, up)["os"] <= run(session, graded)["os"] + 1e-7)


def test_treatment_benefits_have_the_right_sign(session):
    base = pe.random_patients(200, seed=13)
    none = {"generation": 0, "horm": 0, "traz": 0, "bis": 0}
    surgery = run(session, {**base, **{k: np.zeros(200) for k in none}})["os"]

    def with_(**rx):
        return run(session, {**base, **{k: np.full(200, float(rx.get(k, 0))) for k in none}})["os"]

    gen2, gen3 = with_(generation=2), with_(generation=3)
    assert np.all(gen2 >= surgery) and np.all(gen3 >= gen2)  # chemo benefit >= 0, 3rd >= 2nd
    assert np.all(with_(bis=1) >= surgery)
    horm, traz = with_(horm=1), with_(traz=1)
    er_pos, her2_pos = base["er"] == 1, base["her2"] == 1
    assert np.all(horm[er_pos] > surgery[er_pos]) and np.all(horm[~er_pos] == surgery[~er_pos])
    assert np.all(traz[her2_pos] > surgery[her2_pos])
    assert np.all(traz[~her2_pos] == surgery[~her2_pos])


def test_unknown_codes_follow_the_sheet():
    """Unknown grade counts as 2.13, unknown detection as 0.204, unknown HER2/Ki67 as 0."""
    row = {k: np.array([float(v)]) for k, v in EXAMPLE.items()}
    pi = pe.breast_index
    known = pi({**row, "grade": np.array([2.0])})[0]
    assert pi({**row, "grade": np.array([9.0])})[0] - known == pytest.approx(0.746655 * 0.13)
    assert pi({**row, "screen": np.array([2.0])})[0] - pi(row)[0] == pytest.approx(
        -0.22763366 * 0.204)
    assert pi({**row, "her2": np.array([9.0])})[0] - pi(row)[0] == pytest.approx(0.0762)
    assert pi({**row, "ki67": np.array([9.0])})[0] - pi(row)[0] == pytest.approx(0.11333)


def test_scenarios_cover_every_treatment_combination(manifest):
    combos = {tuple(sorted(s.overrides.items())) for s in manifest.scenarios}
    assert len(combos) == len(manifest.scenarios) == 24
    baseline = [s for s in manifest.scenarios if s.baseline]
    assert len(baseline) == 1
    assert baseline[0].overrides == {"horm": "no", "generation": "none", "traz": "no",
                                     "bis": "no"}


def test_engine_calculator_runs_scenarios_with_benefits(tmp_path):
    from oncoboard.inference.engine import run_plugin

    settings = load_settings(tmp_path)
    plugin = check_plugin(PLUGIN, settings, "bundled")
    given = {"age": 65, "size_mm": 19, "nodes": 1, "grade": "II", "er": "ER+", "her2": "neg",
             "ki67": "negative", "screen": "clinical", "generation": "none", "horm": "no",
             "traz": "no", "bis": "no"}
    doc = run_plugin(plugin, given, settings, explain_it=False).to_dict()
    assert doc["status"] == "ok", doc["refusal"]
    assert doc["outputs"]["os"]["values"][9] == pytest.approx(0.743, abs=0.005)
    scen = {s["name"]: s for s in doc["scenarios"]}
    assert len(scen) == 24 and scen["Surgery only"]["benefit"]["os"][9] == 0
    assert scen["Chemotherapy (3rd gen)"]["benefit"]["os"][9] > 0
    assert scen["Trastuzumab"]["benefit"]["os"][9] == 0  # HER2-negative: no effect
    unknown = run_plugin(plugin, {k: v for k, v in given.items() if k != "ki67"}, settings,
                         explain_it=False).to_dict()
    assert unknown["inputs"]["ki67"]["status"] == "imputed"
