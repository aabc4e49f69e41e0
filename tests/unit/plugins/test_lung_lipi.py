"""LIPI is exact: the committed ONNX file against the rule, transcribed here from the reference
sheet (../shared/references/lipi.md), on its test vectors and on a grid across both cut-offs."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.inference.inputs import assemble_given
from oncoboard.inference.manifest import load_manifest

PLUGIN = Path(__file__).resolve().parents[3] / "plugins" / "lung-lipi"
OS = {0: (34.0, 17.0), 1: (10.0, 8.0), 2: (3.0, 1.0)}              # months, lower 95 % (upper NR)
PFS = {0: (6.3, 5.0, 8.0), 1: (3.7, 3.0, 4.8), 2: (2.0, 1.7, 4.0)}
# ANC, WBC, LDH, ULN (U/L), score
VECTORS = [(4.0, 7.0, 200.0, 250.0, 0), (6.0, 8.0, 250.0, 250.0, 0), (7.0, 9.0, 180.0, 250.0, 1),
           (5000.0, 8000.0, 400.0, 250.0, 1), (8.0, 10.0, 300.0, 250.0, 2)]


@pytest.fixture(scope="module")
def run():
    sess = ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def call(rows):
        return dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                        strict=True))
    return call


def expected(dnlr: float, ratio: float) -> int:
    return int(dnlr > 3) + int(ratio > 1)


def test_manifest_valid_hash_and_metrics():
    m = load_manifest(PLUGIN)
    assert m.model.sha256 == hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert not m.synthetic and m.population.diagnoses == ["C34"]
    assert m.metrics.values["agreement_on_test_vectors"].value == 1
    assert m.metrics.values["agreement_on_threshold_grid"].value == 1
    srcs = {i.name: i.source for i in m.inputs}
    assert srcs["dnlr"].derivation == "dnlr" and srcs["ldh_uln_ratio"].derivation == \
        "ldh_uln_ratio_lab"


@pytest.mark.parametrize("anc,wbc,ldh,uln,score", VECTORS)
def test_sheet_vectors(run, anc, wbc, ldh, uln, score):
    r = run([[anc / (wbc - anc), ldh / uln]])
    assert r["score"][0, 0] == score
    assert (r["median_os"][0, 0], r["median_os_lower"][0, 0]) == OS[score]
    assert (r["median_pfs"][0, 0], r["median_pfs_lower"][0, 0], r["median_pfs_upper"][0, 0]) == \
        PFS[score]


def test_grid_across_both_cut_offs(run):
    def side(x):
        return [0.0, x / 2, np.nextafter(x, 0), x, np.nextafter(x, np.inf), 2 * x, 50.0]
    rows = list(itertools.product(side(3.0), side(1.0)))
    r = run(rows)
    for i, (d, q) in enumerate(rows):
        s = expected(d, q)
        assert r["score"][i, 0] == s and list(r["factors"][i]) == [d > 3, q > 1]
        assert r["median_os"][i, 0] == OS[s][0] and r["median_pfs_upper"][i, 0] == PFS[s][2]


def test_value_range_refuses_and_golden():
    m = load_manifest(PLUGIN)
    asm = assemble_given(m, {"dnlr": -1.0, "ldh_uln_ratio": 1.0})
    assert any("dnlr" in r for r in asm.refusals)
    assert m.golden.expected["lipi_score"] == 2
