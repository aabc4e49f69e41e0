"""The committed relapse-gbsg2 plugin: integrity, sense at the edges, and its recorded metrics.

The tests run the committed ``plugins/relapse-gbsg2/model.onnx`` (no retraining) on the GBSG2
cohort shipped in scikit-survival and recompute the cheap, apparent metrics with the validation
code of ``models/relapse-gbsg2/validate.py``; the cross-validated ones need the full rebuild.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from oncoboard.config import load_settings
from oncoboard.inference.discovery import check_plugin
from oncoboard.inference.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "relapse-gbsg2"
_spec = importlib.util.spec_from_file_location(
    "relapse_gbsg2_validate", ROOT / "models" / "relapse-gbsg2" / "validate.py")
assert _spec is not None and _spec.loader is not None
validate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate)  # puts models/relapse-gbsg2 and models/ on sys.path

from gbsg2_data import FEATURES, SEED, load_gbsg2  # noqa: E402

# age, menostat, tsize, tgrade, pnodes, progrec, estrec, horth (the graph's column order)
REFERENCE = [53.0, 1.0, 25.0, 2.0, 3.0, 32.0, 36.0, 0.0]


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(PLUGIN)


@pytest.fixture(scope="module")
def cohort():
    return load_gbsg2()


def run(rows) -> dict[str, np.ndarray]:
    return {k: v.astype(float) for k, v in
            validate.run_onnx(PLUGIN / "model.onnx", np.asarray(rows, float)).items()}


def test_hash_matches_manifest_and_engine_accepts_plugin(manifest, tmp_path):
    digest = hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert manifest.model.sha256 == digest
    assert (PLUGIN / "model.onnx").stat().st_size < 2 * 1024 * 1024
    plugin = check_plugin(PLUGIN, load_settings(tmp_path), "bundled")  # schema, graph, golden
    assert plugin.problems == [] and plugin.enabled


def test_inputs_are_named_as_the_dataset_and_accept_its_codings(manifest):
    assert [i.name for i in manifest.inputs] == list(FEATURES)
    codings = {"menostat": ("Pre", "Post", "pre", "post", "0", "1"),
               "tgrade": ("I", "II", "III", "1", "2", "3"),
               "horth": ("no", "yes", "0", "1")}
    for name, spellings in codings.items():
        accepted = {c.label.lower() for c in manifest.input(name).categories} | {
            s.lower() for c in manifest.input(name).categories for s in c.synonyms}
        assert {s.lower() for s in spellings} <= accepted


def test_edges_of_valid_ranges_give_finite_monotone_curves(manifest):
    ranges = [manifest.input(n).valid_range or [c.value for c in manifest.input(n).categories]
              for n in FEATURES]
    rows = list(itertools.product(*[(r[0], r[-1]) for r in ranges]))
    rows += [[*REFERENCE[:3], 2.0, *REFERENCE[4:]], [*REFERENCE[:3], 3.0, *REFERENCE[4:]]]
    out = run(rows)
    for curve in out.values():
        assert np.all(np.isfinite(curve)) and curve.min() >= 0 and curve.max() <= 1
        assert np.all(np.diff(curve, axis=1) <= 1e-7)  # survival never rises over time
    assert np.all(out["rfs_lower"] <= out["rfs_upper"])


def test_more_nodes_lower_and_hormonal_therapy_higher_survival(cohort):
    x = cohort.x[:200]
    rfs = run(x)["rfs"]
    more_nodes = x.copy()
    more_nodes[:, 4] += 5
    assert np.all(run(more_nodes)["rfs"] <= rfs + 1e-7)
    # strictly lower while the new count stays inside the training support (held beyond it)
    inside = more_nodes[:, 4] <= 26
    assert inside.sum() > 150
    assert np.mean(run(more_nodes)["rfs"][inside, 59] < rfs[inside, 59]) == 1.0
    no, yes = x.copy(), x.copy()
    no[:, 7], yes[:, 7] = 0, 1
    assert np.all(run(yes)["rfs"][:, 59] > run(no)["rfs"][:, 59])


def test_band_contains_estimate_on_the_cohort(cohort):
    out = run(cohort.x)
    inside = (out["rfs_lower"] <= out["rfs"] + 1e-6) & (out["rfs"] <= out["rfs_upper"] + 1e-6)
    assert inside.mean() > 0.99
    width = (out["rfs_upper"] - out["rfs_lower"])[:, 59]
    assert 0.01 < np.median(width) < 0.5


def test_recorded_metrics_are_reproduced_by_the_validation_code(manifest, cohort):
    got = validate.apparent_metrics(PLUGIN / "model.onnx", cohort, SEED, interval=False)
    stored = manifest.metrics.values
    assert manifest.metrics.generated_by == "models/relapse-gbsg2/build.py"
    for name, est in got.items():
        assert stored[name].value == pytest.approx(round(est["value"], 6), abs=2e-6), name
    cv = stored["c_index_cv"]
    assert cv.lower < cv.value < cv.upper and 0.6 < cv.value < 0.8


def test_golden_case_matches_graph(manifest):
    coded = []
    for name in FEATURES:
        value = manifest.golden.inputs[name]
        cats = {c.label: c.value for c in manifest.input(name).categories}
        coded.append(float(cats[value]) if cats else float(value))
    out = run([coded])
    assert np.allclose(out["rfs"][0], manifest.golden.expected["rfs"],
                       atol=manifest.golden.tolerance)


def test_scenarios_toggle_hormonal_therapy(manifest):
    by_name = {s.name: s for s in manifest.scenarios}
    assert {s.overrides["horth"] for s in by_name.values()} == {"no", "yes"}
    assert [s.overrides for s in manifest.scenarios if s.baseline] == [{"horth": "no"}]


def test_engine_calculator_accepts_documented_codings_and_refuses_node_negative(tmp_path):
    from oncoboard.inference.engine import run_plugin

    settings = load_settings(tmp_path)
    plugin = check_plugin(PLUGIN, settings, "bundled")
    given = {"age": 45, "menostat": "pre", "tsize": "2.5 cm", "tgrade": "3", "pnodes": 4,
             "progrec": 10, "estrec": 20, "horth": "0"}
    doc = run_plugin(plugin, given, settings, explain_it=False).to_dict()
    assert doc["status"] == "ok", doc["refusal"]
    assert doc["inputs"]["tsize"]["coded"] == pytest.approx(25.0)  # converted to mm
    assert doc["inputs"]["tgrade"]["value"] == "III"
    rfs = doc["outputs"]["rfs"]
    assert len(rfs["values"]) == 84 and rfs["lower"][59] <= rfs["values"][59] <= rfs["upper"][59]
    with_ht = {s["name"]: s for s in doc["scenarios"]}["With hormonal therapy"]
    assert with_ht["benefit"]["rfs"][59] > 0
    refused = run_plugin(plugin, {**given, "pnodes": 0}, settings, explain_it=False).to_dict()
    assert refused["status"] == "refused"
