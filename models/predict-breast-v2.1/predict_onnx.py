"""Build the PREDICT Breast v2.1 ONNX graph from the published equations (no training).

Graph inputs: the 12 float32 tensors of predict_equations.INPUTS, each n x 1, with the sheet's
codings. Inside, in double precision: the prognostic indices, the treatment log-hazard ratio, the
baseline cumulative hazards tabulated on years 1..15 (constants computed from the published
formulas), the competing-risks split of annual deaths. Outputs (float32, n x 15): ``os``,
``br_mortality`` (cumulative breast-cancer mortality) and ``oth_mortality``.
"""

from __future__ import annotations

import numpy as np
import onnx
import predict_equations as pe
from common.onnx_graph import GraphBuilder
from onnx import TensorProto


class _G(GraphBuilder):
    """GraphBuilder with the arithmetic shorthands this graph uses."""

    def c(self, v: float | np.ndarray) -> str:
        return self.const(v)

    def add(self, *xs: str) -> str:
        out = xs[0]
        for x in xs[1:]:
            out = self.op("Add", out, x)
        return out

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", a, b)

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", a, b)

    def is_(self, x: str, value: float) -> str:
        """1.0 where x == value (codes are small integers: compare within 0.5)."""
        close = self.op("Less", self.op("Abs", self.sub(x, self.c(value))), self.c(0.5))
        return self.op("Cast", close, to=TensorProto.DOUBLE)

    def where(self, cond: str, a: str, b: str) -> str:
        """cond * a + (1 - cond) * b, for a 0/1 double condition."""
        return self.add(self.mul(cond, a), self.mul(self.sub(self.c(1.0), cond), b))

    def diff_from_one(self, s: str) -> str:
        """Annual risks 1-S first differences: S(t-1) - S(t) with S(0) = 1 (axis 1)."""
        ones = self.op("Expand", self.c(np.ones((1, 1))),
                       self.op("Concat", self.op("Slice", self.op("Shape", s),
                                                 self.const([0], np.int64),
                                                 self.const([1], np.int64)),
                               self.const([1], np.int64), axis=0))
        prev = self.op("Slice", self.op("Concat", ones, s, axis=1), self.const([0], np.int64),
                       self.const([len(pe.YEARS)], np.int64), self.const([1], np.int64))
        return self.sub(prev, s)


def _breast_index(g: _G, x: dict[str, str]) -> tuple[str, str]:
    """Return (pi with treatment, er flag)."""
    er = g.is_(x["er"], 1)
    grade = g.where(g.is_(x["grade"], pe.GRADE_UNKNOWN), g.c(pe.GRADE_UNKNOWN_VALUE), x["grade"])
    screen = g.where(g.is_(x["screen"], pe.SCREEN_UNKNOWN), g.c(pe.SCREEN_UNKNOWN_VALUE),
                     x["screen"])
    her2_pos, her2_neg = g.is_(x["her2"], 1), g.is_(x["her2"], 0)
    her2 = g.add(g.mul(her2_pos, g.c(0.2413)), g.mul(her2_neg, g.c(-0.0762)))
    ki67 = g.add(g.mul(g.is_(x["ki67"], 1), g.c(0.14904)),
                 g.mul(g.is_(x["ki67"], 0), g.c(-0.11333)))
    a = g.op("Div", x["age"], g.c(10.0))
    a_m2 = g.op("Pow", a, g.c(-2.0))
    log_nodes = g.op("Log", g.op("Div", g.add(x["nodes"], g.c(1.0)), g.c(10.0)))
    size = g.op("Div", x["size_mm"], g.c(100.0))
    pos = g.add(
        g.mul(g.c(34.53642), g.sub(a_m2, g.c(0.0287449295))),
        g.mul(g.c(-34.20342), g.sub(g.mul(a_m2, g.op("Log", a)), g.c(0.0510121013))),
        g.mul(g.c(0.7530729), g.add(g.op("Log", size), g.c(1.545233938))),
        g.mul(g.c(0.7060723), g.add(log_nodes, g.c(1.387566896))),
        g.mul(g.c(0.746655), grade), g.mul(g.c(-0.22763366), screen), her2, ki67)
    # Published code: 'grade 2 or 3' from the recorded grade; unknown (9) scores 0 here.
    grade_2_3 = g.add(g.is_(x["grade"], 2), g.is_(x["grade"], 3))
    neg = g.add(
        g.mul(g.c(0.0089827), g.sub(x["age"], g.c(56.3254902))),
        g.mul(g.c(2.093446), g.sub(g.op("Sqrt", size), g.c(0.5090456276))),
        g.mul(g.c(0.6260541), g.add(log_nodes, g.c(1.086916249))),
        g.mul(g.c(1.129091), grade_2_3), her2)
    rx = g.add(
        g.mul(g.is_(x["generation"], 2), g.c(pe.RX_CHEMO[2])),
        g.mul(g.is_(x["generation"], 3), g.c(pe.RX_CHEMO[3])),
        g.mul(g.mul(x["horm"], er), g.c(pe.RX_HORM)),
        g.mul(g.mul(x["traz"], her2_pos), g.c(pe.RX_TRAZ)),
        g.mul(x["bis"], g.c(pe.RX_BIS)))
    return g.add(g.where(er, pos, neg), rx), er


def build_graph(metadata: dict[str, str]) -> onnx.ModelProto:
    """Return the PREDICT v2.1 ONNX model."""
    g = _G("predict_breast_v2_1")
    x = {}
    for name in pe.INPUTS:
        g.add_input(name, TensorProto.FLOAT, ["n", 1])
        x[name] = g.op("Cast", name, to=TensorProto.DOUBLE)
    pi, er = _breast_index(g, x)
    mi = g.mul(g.c(0.0698252), g.sub(g.op("Pow", g.op("Div", x["age"], g.c(10.0)), g.c(2.0)),
                                    g.c(34.23391957)))
    # cumsum of the annual baseline hazards is H(t) itself: tabulate H on the grid.
    h_oth = g.c(pe.h_oth(pe.YEARS)[None, :])
    h_br = g.where(er, g.c(pe.h_br_pos(pe.YEARS)[None, :]), g.c(pe.h_br_neg(pe.YEARS)[None, :]))
    s_oth = g.op("Exp", g.op("Neg", g.mul(h_oth, g.op("Exp", mi))))
    s_br = g.op("Exp", g.op("Neg", g.mul(h_br, g.op("Exp", pi))))
    m_oth, m_br = g.diff_from_one(s_oth), g.diff_from_one(s_br)
    m_all = g.diff_from_one(g.mul(s_oth, s_br))
    d_br = g.mul(g.op("Div", m_br, g.add(m_br, m_oth)), m_all)
    d_oth = g.sub(m_all, d_br)
    axis = g.const(1, np.int64)
    cum_br, cum_oth = g.op("CumSum", d_br, axis), g.op("CumSum", d_oth, axis)
    os_ = g.sub(g.sub(g.c(1.0), cum_br), cum_oth)
    grid = ["n", len(pe.YEARS)]
    g.add_output(g.to_float32(os_), "os", TensorProto.FLOAT, grid)
    g.add_output(g.to_float32(cum_br), "br_mortality", TensorProto.FLOAT, grid)
    g.add_output(g.to_float32(cum_oth), "oth_mortality", TensorProto.FLOAT, grid)
    doc = ("PREDICT Breast v2.1 (published equations): overall survival and cumulative "
           "breast-cancer and other-cause mortality, years 1-15, for the given treatments.")
    return g.model(doc, "oncoboard models/predict-breast-v2.1", metadata)
