"""GRIm-Score is exact: the committed ONNX file against the rule transcribed from the reference
sheet (../shared/references/grim-score.md), on its test vectors and on a grid of all cut-offs."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.inference.inputs import assemble_given
from oncoboard.inference.manifest import load_manifest

PLUGIN = Path(__file__).resolve().parents[3] / "plugins" / "immuno-grim"
# ANC, ALC, albumin g/L, LDH, ULN, score
VECTORS = [(4.0, 2.0, 40.0, 200.0, 250.0, 0), (6.0, 1.0, 35.0, 250.0, 250.0, 0),
           (7.0, 1.0, 38.0, 200.0, 250.0, 1), (5.0, 1.5, 30.0, 300.0, 250.0, 2),
           (9.0, 1.0, 28.0, 500.0, 250.0, 3)]
HR = {0: (1.0, 1.0, 1.0), 1: (2.07, 1.73, 2.48)}          # low (reference), high
MEDIAN_OS = {0: 19.9, 1: 3.2}


@pytest.fixture(scope="module")
def run():
    sess = ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def call(rows):
        return dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                        strict=True))
    return call


def test_manifest_valid_hash_and_metrics():
    m = load_manifest(PLUGIN)
    assert m.model.sha256 == hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert m.metrics.values["agreement_on_threshold_grid"].value == 1
    assert m.input("albumin").unit == "g/L"
    assert m.input("ldh_uln_ratio").source.derivation == "ldh_uln_ratio_lab"


@pytest.mark.parametrize("anc,alc,alb,ldh,uln,score", VECTORS)
def test_sheet_vectors(run, anc, alc, alb, ldh, uln, score):
    r = run([[anc / alc, ldh / uln, alb]])
    high = int(score >= 2)
    assert r["score"][0, 0] == score and r["group"][0, 0] == high
    assert (r["os_hr"][0, 0], r["os_hr_lower"][0, 0], r["os_hr_upper"][0, 0]) == HR[high]
    assert r["median_os_nsclc_ici"][0, 0] == MEDIAN_OS[high]


def test_grid_across_all_cut_offs(run):
    def side(x):
        return [x / 2, np.nextafter(x, 0), x, np.nextafter(x, np.inf), 2 * x]
    rows = list(itertools.product(side(6.0), side(1.0), side(35.0)))
    r = run(rows)
    for i, (nlr, q, alb) in enumerate(rows):
        s = int(nlr > 6) + int(q > 1) + int(alb < 35)
        assert r["score"][i, 0] == s and r["group"][i, 0] == int(s >= 2)
        assert r["os_hr"][i, 0] == HR[int(s >= 2)][0]


def test_albumin_in_g_per_dl_is_converted():
    asm = assemble_given(load_manifest(PLUGIN), {"nlr": 2, "ldh_uln_ratio": 0.5,
                                                 "albumin": "3.4 g/dL"})
    assert not asm.refusals and asm.values["albumin"].value == pytest.approx(34.0)
