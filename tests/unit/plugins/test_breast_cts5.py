"""CTS5 is exact: the committed ONNX file against the equation transcribed from the reference
sheet (../shared/references/cts5.md), on its test vectors and on a grid crossing every node
category edge and both cut-offs; the unconfirmed parts are refused or absent."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oncoboard.inference.inputs import assemble_given
from oncoboard.inference.manifest import load_manifest

PLUGIN = Path(__file__).resolve().parents[3] / "plugins" / "breast-cts5"
VECTORS = [(56, 5, 1, 2, 2.6218, 0), (78, 15, 3, 9, 4.8915, 2), (55, 25, 2, 0, 3.3444, 1),
           (60, 20, 1, 2, 3.6967, 1)]                      # age, mm, grade, nodes, CTS5, group
OBSERVED = {0: (0.029, 0.019, 0.045), 1: (0.072, 0.053, 0.099), 2: (0.129, 0.100, 0.167)}


def cts5(age, size, grade, nodes):
    cat = 0 if nodes == 0 else 1 if nodes == 1 else 2 if nodes <= 3 else 3 if nodes <= 9 else 4
    return 0.438 * cat + 0.988 * (0.093 * size - 0.001 * size ** 2 + 0.375 * grade + 0.017 * age)


@pytest.fixture(scope="module")
def run():
    sess = ort.InferenceSession(str(PLUGIN / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def call(rows):
        return dict(zip(names, sess.run(None, {"features": np.array(rows, np.float64)}),
                        strict=True))
    return call


def test_manifest_valid_hash_and_no_individual_risk():
    m = load_manifest(PLUGIN)
    assert m.model.sha256 == hashlib.sha256((PLUGIN / "model.onnx").read_bytes()).hexdigest()
    assert m.metrics.values["agreement_on_grid"].value == 1
    assert {o.name for o in m.outputs} == {"cts5", "observed_late_distant_recurrence",
                                          "observed_late_distant_recurrence_lower",
                                          "observed_late_distant_recurrence_upper"}
    assert m.input("nodes").integer and m.input("size_mm").valid_range[1] == 30
    assert m.input("age").source.derivation == "age_at_diagnosis"


@pytest.mark.parametrize("age,size,grade,nodes,score,group", VECTORS)
def test_sheet_vectors(run, age, size, grade, nodes, score, group):
    r = run([[age, size, grade, nodes]])
    assert r["score"][0, 0] == pytest.approx(score, abs=5e-5)
    assert r["group"][0, 0] == group
    assert (r["observed_dr"][0, 0], r["observed_dr_lower"][0, 0],
            r["observed_dr_upper"][0, 0]) == pytest.approx(OBSERVED[group])


def test_grid_every_node_edge_and_both_cut_offs(run):
    rows = list(itertools.product(range(30, 91, 3), range(1, 31), (1, 2, 3),
                                  (0, 1, 2, 3, 4, 9, 10, 25)))
    r = run(rows)
    want = np.array([cts5(*row) for row in rows])
    assert np.allclose(r["score"][:, 0], want, rtol=0, atol=1e-12)
    groups = (want >= 3.13).astype(int) + (want >= 3.86)
    assert (r["group"][:, 0] == groups).all() and set(groups) == {0, 1, 2}
    assert (r["node_category"][:, 0] == [min(4, (n >= 1) + (n >= 2) + (n >= 4) + (n >= 10))
                                         for *_, n in rows]).all()


@pytest.mark.parametrize("given,why", [
    ({"size_mm": 40}, "could not be confirmed"),          # sheet vector 5: refused, not guessed
    ({"nodes": 2.5}, "not a whole number"),
])
def test_unconfirmed_or_invalid_inputs_are_refused(given, why):
    base = {"age": 65, "size_mm": 20, "grade": "III", "nodes": 5}
    asm = assemble_given(load_manifest(PLUGIN), {**base, **given})
    assert any(why in r for r in asm.refusals)
