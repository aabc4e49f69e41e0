"""Toxicity plugin (hospitalisation within 30 days, synthetic notes): integrity, text handled
inside the graph, negations, structured directions, corpus generator. No retraining."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.config import load_settings
from oncoboard.inference.discovery import check_plugin
from oncoboard.inference.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "toxicity-hosp30"
sys.path.insert(0, str(ROOT / "models" / "toxicity-hosp30"))

import corpus  # noqa: E402

REF = [65.0, 1.0, 12.0, 2.0, 1.0]       # age, ECOG, Hb, agents, dose intensity


@pytest.fixture(scope="module")
def predict():
    sess = ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])

    def run(notes: list[str], x: list[list[float]] | None = None) -> np.ndarray:
        feats = np.array(x if x is not None else [REF] * len(notes), dtype=np.float32)
        out = sess.run(["probability"], {"note": np.array(notes, dtype=object).reshape(-1, 1),
                                         "features": feats})[0]
        return out[:, 0]
    return run


def test_manifest_hash_and_synthetic_label():
    m = load_manifest(PLUGIN)
    assert m.model.sha256 == hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert m.synthetic and "synthetic - demonstration only" in m.name
    text = next(i for i in m.inputs if i.kind == "text")
    assert set(text.languages) == {"fr", "en"} and text.explain
    values = m.metrics.values
    assert values["auc_held_out_templates"].lower < values["auc_held_out_templates"].value
    card = (PLUGIN / "MODEL_CARD.md").read_text()
    assert "SYNTHETIC - DEMONSTRATION ONLY" in card and "FAILED" not in card


def test_engine_accepts_the_plugin():
    plugin = check_plugin(PLUGIN, load_settings(Path(tempfile.mkdtemp())), "bundled")
    assert plugin.enabled, plugin.problems


def test_graph_tokenises_raw_text_itself():
    import onnx

    ops = {n.op_type for n in onnx.load(str(PLUGIN / "model.onnx")).graph.node}
    assert {"StringNormalizer", "Tokenizer", "TfIdfVectorizer"} <= ops


@pytest.mark.parametrize("positive,negated", [
    ("Fièvre à 39,2°C depuis hier.", "Pas de fièvre."),
    ("fièvre 39", "pas de fièvre"),
    ("Fever of 39.4 C since yesterday.", "No fever."),
    ("Febrile at 39.0 with rigors.", "Denies fever or chills."),
    ("Diarrhée depuis 3 jours.", "Pas de diarrhée."),
    ("Repeated vomiting.", "No vomiting."),
])
def test_negation_moves_risk_the_right_way(predict, positive, negated):
    stem = "Patient vu en consultation. "
    p_none, p_pos, p_neg = predict([stem, stem + positive, stem + negated])
    assert p_pos > p_none + 0.02
    assert p_neg < p_pos - 0.03
    assert p_neg <= p_none + 0.02       # a negated sign does not raise the risk


@pytest.mark.parametrize("finding,education", [
    ("Diarrhée depuis 3 jours.", "Consulter en urgence en cas de fièvre ou de diarrhée."),
    ("Fever of 39.1 C since yesterday.", "Advised to call if fever or diarrhea."),
])
def test_warning_sign_education_counts_less_than_a_finding(predict, finding, education):
    stem = "Seen in clinic. "
    p_finding, p_education = predict([stem + finding, stem + education])
    assert p_education < p_finding


def test_case_accents_and_typos_handled_in_graph(predict):
    p = predict(["FIÈVRE À 39,2°C.", "fièvre à 39,2°c.", "Pas de fièvre."])
    assert p[0] == pytest.approx(p[1], abs=1e-6)
    assert p[0] > p[2]


def test_empty_and_odd_text_is_finite(predict):
    notes = ["", " ", "...", "°°°", "x" * 5000, "fièvre " * 2000, "日本語のテキスト"]
    p = predict(notes)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize("col,low,high", [(0, 40.0, 85.0), (1, 0.0, 3.0), (3, 1.0, 3.0)])
def test_structured_directions(predict, col, low, high):
    lo, hi = list(REF), list(REF)
    lo[col], hi[col] = low, high
    p = predict(["Seen in clinic.", "Seen in clinic."], [lo, hi])
    assert p[1] > p[0]


def test_low_haemoglobin_raises_risk(predict):
    p = predict(["Seen in clinic."] * 2, [[65, 1, 13.5, 2, 1], [65, 1, 8.5, 2, 1]])
    assert p[1] > p[0]


def test_structured_edges_finite(predict):
    p = predict(["Seen in clinic."] * 2, [[18, 0, 3, 1, 0.05], [110, 3, 25, 10, 2.0]])
    assert np.isfinite(p).all()


def test_corpus_is_seeded_bilingual_and_holds_templates_out():
    split = corpus.split_templates(1)
    a = corpus.sample(200, 4, "train", split)
    b = corpus.sample(200, 4, "train", split)
    assert a.notes == b.notes
    assert any("fièvre" in n.lower() for n in a.notes) and any("fever" in n.lower()
                                                                for n in a.notes)
    for key, (train_ids, held_ids) in split.items():
        assert held_ids and train_ids and not set(train_ids) & set(held_ids), key
    held = corpus.sample(300, 5, "held_out", split)
    train_sentences = {s for (st, pol), langs in corpus.T.items() for lang, ts in langs.items()
                       for i, s in enumerate(ts) if i in split[(st, pol, lang)][0]}
    assert not any(s in n for n in held.notes[:50] for s in train_sentences
                   if "{" not in s and len(s) > 25)
