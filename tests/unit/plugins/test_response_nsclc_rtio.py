"""Response plugin (NSCLC, radiotherapy + immunotherapy, synthetic): integrity, edges, directions,
generator and the DICOM feature path. No retraining: the committed model.onnx is tested."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.config import load_settings
from oncoboard.inference.discovery import check_plugin
from oncoboard.inference.manifest import load_manifest
from oncoboard.inference.radiomics import compute_features

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "response-nsclc-rtio"
MODELS = ROOT / "models" / "response-nsclc-rtio"
sys.path.insert(0, str(MODELS))

import generate as gen  # noqa: E402

# A typical patient: columns as in the manifest's channel_def.
TYPICAL = {"nlr": 3.0, "ldh_ratio": 0.9, "albumin": 38.0, "crp": 10.0, "ecog": 1.0,
           "pdl1_tps": 20.0, "volume_cc": 35.0, "glcm_entropy": 5.5}


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(PLUGIN)


@pytest.fixture(scope="module")
def predict(manifest):
    sess = ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])
    cols = [manifest.model.inputs[0].channel_def[str(i)] for i in range(len(TYPICAL))]

    def run(rows: list[dict[str, float]]) -> np.ndarray:
        x = np.array([[r[c] for c in cols] for r in rows], dtype=np.float32)
        return sess.run(["probability"], {"features": x})[0][:, 0]
    return run


def test_manifest_hash_synthetic_flag_and_metrics(manifest):
    assert manifest.model.sha256 == hashlib.sha256(
        (PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert manifest.synthetic and manifest.training_data.source == "synthetic"
    assert "synthetic - demonstration only" in manifest.name
    assert "NSCLC" in manifest.name and manifest.population.diagnoses == ["C34"]
    values = manifest.metrics.values
    assert values["bayes_gap"].value <= 0.02
    assert values["auc"].lower < values["auc"].value < values["auc"].upper
    card = (PLUGIN / "MODEL_CARD.md").read_text()
    assert "SYNTHETIC - DEMONSTRATION ONLY" in card and manifest.model.sha256 in card
    assert f"{values['auc'].value:.3f}" in card


def test_metrics_file_agrees_with_manifest(manifest):
    recorded = json.loads((MODELS / "metrics.json").read_text())
    assert recorded["sha256"] == manifest.model.sha256
    assert recorded["metrics"]["auc"]["value"] == pytest.approx(
        manifest.metrics.values["auc"].value, abs=1e-4)
    assert recorded["metrics"]["dicom_round_trip"]["checked"] is True


def test_engine_accepts_the_plugin():
    plugin = check_plugin(PLUGIN, load_settings(Path(tempfile.mkdtemp())), "bundled")
    assert plugin.enabled, plugin.problems


def test_finite_at_the_edges_of_every_valid_range(manifest, predict):
    rows = []
    for spec in manifest.inputs:
        if spec.kind != "clinical":
            continue
        edges = ([c.value for c in spec.categories] if spec.categories else spec.valid_range)
        rows += [{**TYPICAL, spec.name: float(v)} for v in edges]
    lows = {s.name: s.valid_range[0] for s in manifest.inputs
            if s.kind == "clinical" and s.valid_range}
    highs = {s.name: s.valid_range[1] for s in manifest.inputs
             if s.kind == "clinical" and s.valid_range}
    rows += [{**TYPICAL, **lows, "ecog": 0.0}, {**TYPICAL, **highs, "ecog": 3.0}]
    p = predict(rows)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


@pytest.mark.parametrize("name,values,direction", [
    ("ldh_ratio", [0.5, 0.8, 0.99, 1.01, 1.5, 3.0, 10.0], -1),
    ("nlr", [1.0, 2.0, 2.99, 3.01, 6.0, 15.0], -1),
    ("crp", [0.5, 5.0, 20.0, 100.0], -1),
    ("albumin", [25.0, 32.0, 38.0, 45.0], 1),
    ("ecog", [0.0, 1.0, 2.0, 3.0], -1),
    ("pdl1_tps", [0.0, 1.0, 49.0, 50.0, 90.0], 1),
    ("volume_cc", [2.0, 10.0, 50.0, 200.0], -1),
    ("glcm_entropy", [3.0, 4.5, 6.0, 7.5], -1),
])
def test_published_directions(predict, name, values, direction):
    p = predict([{**TYPICAL, name: v} for v in values])
    steps = np.diff(p) * direction
    assert (steps >= -1e-7).all(), p
    assert p[-1] * direction > p[0] * direction


def test_lipi_thresholds_are_steps(predict):
    below, above = predict([{**TYPICAL, "ldh_ratio": 0.999}, {**TYPICAL, "ldh_ratio": 1.001}])
    assert below - above > 0.02


def test_generator_is_seeded_and_follows_its_truth():
    a, b = gen.sample_cohort(400, 5), gen.sample_cohort(400, 5)
    for key in a.columns:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["response"], gen.sample_cohort(400, 6)["response"])
    c = gen.sample_cohort(4000, 1)
    high_ldh = c["ldh"] > c["ldh_uln"]
    assert c["response"][high_ldh].mean() < c["response"][~high_ldh].mean()
    assert c["response"][c["pdl1_tps"] >= 50].mean() > c["response"][c["pdl1_tps"] < 1].mean()


def test_synthetic_tumour_volume_matches_its_truth():
    c = gen.sample_cohort(5, 3)
    for i in range(3):
        vox, mask, affine = gen.tumour_image(c, i, 3, full=False)
        f = compute_features(vox, mask, ["volume_cc"], affine=affine)
        assert f["volume_cc"] == pytest.approx(c["true_volume_cc"][i], rel=0.03)


def test_dicom_round_trip_gives_the_training_features(tmp_path):
    from roundtrip import features_from_dicom

    c = gen.sample_cohort(3, 11)
    names = ["volume_cc", "hu_mean", "hu_sd", "glcm_homogeneity", "glcm_entropy", "elongation"]
    vox, mask, affine = gen.tumour_image(c, 0, 11, full=True)
    expected = compute_features(vox, mask, names, affine=affine)
    folder = gen.write_dicom(c, 0, 11, tmp_path)
    got = features_from_dicom(folder, names)
    for k in names:
        assert got[k] == pytest.approx(expected[k], rel=0.01), k
