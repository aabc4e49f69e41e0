"""Export a Cox model plus its bootstrap ensemble as one ONNX graph.

Graph input ``features`` (float32, n x 8, columns as gbsg2_data.FEATURES, raw codings). Inside,
in double precision: the design columns (the same transforms as candidates.DESIGNS), the linear
predictor of every member lp = (D - mu) @ gamma, and S(t) = exp(-H0(t) * exp(lp)) on months 1..84.
Member 0 is the model fitted on all patients (the point estimate); members 1..B are refits on
bootstrap resamples, and the 95 % band is their pointwise 2.5th and 97.5th percentiles (NumPy's
'linear' quantile rule, reproduced with TopK + interpolation). Outputs (float32, n x 84): ``rfs``,
``rfs_lower``, ``rfs_upper``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from candidates import DESIGNS, SUPPORT, PHModel
from common.onnx_graph import GraphBuilder
from gbsg2_data import FEATURES, GRID_MONTHS
from onnx import TensorProto
from onnx import helper as onnx_helper

BAND_LEVEL = 0.95


@dataclass(frozen=True)
class PHEnsemble:
    """Everything the graph needs: member 0 = point fit, members 1..B = bootstrap refits.

    Cox designs: lp = (D - mu) @ gamma with the baselines rescaled for the centring. GBM: lp =
    learning_rate x sum of the trees of each member (``members``), baselines as fitted.
    """

    kind: str
    h0: np.ndarray                      # (M, 84) baselines for the graph's lp
    mu: np.ndarray | None = None        # (p,) design means on the full cohort (Cox)
    gamma: np.ndarray | None = None     # (p, M) raw-scale coefficients (Cox)
    members: tuple[PHModel, ...] = ()   # the fitted models (GBM: their trees go in the graph)

    @property
    def n_boot(self) -> int:
        """Return the number of bootstrap members."""
        return self.h0.shape[0] - 1


def ensemble_from(models: list[PHModel], x: np.ndarray) -> PHEnsemble:
    """Pack fitted models (first = point estimate) for the graph."""
    kind = models[0].kind
    if kind == "gbm":
        return PHEnsemble(kind, np.vstack([m.h0 for m in models]), members=tuple(models))
    design = DESIGNS[kind](x).astype(float)
    mu = design.mean(axis=0)
    gammas, h0s = [], []
    for m in models:
        scaler, cox = m.estimator.steps[0][1], m.estimator.steps[-1][1]  # type: ignore[attr-defined]
        g = cox.coef_ / scaler.scale_
        offset = mu @ g - scaler.mean_ @ g  # lp(model) = (D - mu) @ g + offset
        gammas.append(g)
        h0s.append(m.h0 * np.exp(offset))
    return PHEnsemble(kind, np.vstack(h0s), mu=mu, gamma=np.column_stack(gammas))


def _lp_numpy(ens: PHEnsemble, x: np.ndarray) -> np.ndarray:
    if ens.kind == "gbm":
        return np.column_stack([m.risk(x) for m in ens.members])
    assert ens.mu is not None and ens.gamma is not None
    return (DESIGNS[ens.kind](x).astype(float) - ens.mu) @ ens.gamma


def numpy_forward(ens: PHEnsemble, x: np.ndarray) -> dict[str, np.ndarray]:
    """Compute the graph's outputs in NumPy (float64), for checking the export."""
    lp = _lp_numpy(ens, x)
    surv = np.exp(-np.exp(lp)[:, :, None] * ens.h0[None, :, :])
    a = (1 - BAND_LEVEL) / 2
    boot = surv[:, 1:, :]
    return {"rfs": surv[:, 0, :], "rfs_lower": np.quantile(boot, a, axis=1),
            "rfs_upper": np.quantile(boot, 1 - a, axis=1)}


def _tree_ensemble(g: GraphBuilder, feats: str, members: tuple[PHModel, ...]) -> str:
    """Add one ai.onnx.ml TreeEnsembleRegressor whose target m is member m's lp (n x M)."""
    attrs: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids",
        "target_ids", "target_weights")}
    tree_id = 0
    for target, member in enumerate(members):
        est = member.estimator
        for (reg,) in est.estimators_:  # type: ignore[attr-defined]
            t = reg.tree_
            for node in range(t.node_count):
                leaf = t.children_left[node] == -1
                attrs["nodes_treeids"].append(tree_id)
                attrs["nodes_nodeids"].append(node)
                attrs["nodes_featureids"].append(0 if leaf else int(t.feature[node]))
                attrs["nodes_values"].append(0.0 if leaf else float(t.threshold[node]))
                attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
                attrs["nodes_truenodeids"].append(0 if leaf else int(t.children_left[node]))
                attrs["nodes_falsenodeids"].append(0 if leaf else int(t.children_right[node]))
                if leaf:
                    attrs["target_treeids"].append(tree_id)
                    attrs["target_nodeids"].append(node)
                    attrs["target_ids"].append(target)
                    attrs["target_weights"].append(
                        float(est.learning_rate * t.value[node, 0, 0]))  # type: ignore[attr-defined]
            tree_id += 1
    g.nodes.append(onnx_helper.make_node(
        "TreeEnsembleRegressor", [feats], ["gbm_lp"], name="gbm_trees", domain="ai.onnx.ml",
        n_targets=len(members), aggregate_function="SUM", post_transform="NONE",
        base_values=[0.0] * len(members), **attrs))
    return g.op("Cast", "gbm_lp", to=TensorProto.DOUBLE)


def _design_graph(g: GraphBuilder, kind: str, x: str) -> list[str]:
    col = {name: g.column(x, i) for i, name in enumerate(FEATURES)}

    def c(v: float) -> str:
        return g.const(v)

    for name, sup in SUPPORT.items():  # hold continuous inputs inside the training support
        col[name] = g.op("Clip", col[name], c(sup["lower"]), c(sup["upper"]))

    def flag(cond: str) -> str:
        return g.op("Cast", cond, to=TensorProto.DOUBLE)

    grade = col["tgrade"]
    grade2_or_more = flag(g.op("GreaterOrEqual", grade, c(1.5)))
    grade3 = flag(g.op("GreaterOrEqual", grade, c(2.5)))
    if kind == "cox-linear":
        grade2 = g.op("Sub", grade2_or_more, grade3)
        return [col["age"], col["menostat"], col["tsize"], grade2, grade3, col["pnodes"],
                col["progrec"], col["estrec"], col["horth"]]
    if kind == "cox-fp":
        a = g.op("Div", col["age"], c(50.0))
        return [g.op("Pow", a, c(-2.0)), g.op("Pow", a, c(-0.5)), col["menostat"],
                g.op("Div", col["tsize"], c(10.0)), grade2_or_more, grade3,
                g.op("Exp", g.op("Mul", col["pnodes"], c(-0.12))),
                g.op("Log", g.op("Add", col["progrec"], c(1.0))),
                g.op("Log", g.op("Add", col["estrec"], c(1.0))), col["horth"]]
    raise ValueError(f"no ONNX export for candidate {kind!r}")


def _quantile(g: GraphBuilder, sorted_vals: str, n: int, q: float) -> str:
    """Return NumPy's 'linear' quantile q along axis 1 of ascending values (n members)."""
    h = (n - 1) * q
    lo = int(np.floor(h))
    frac = h - lo
    lo_v = g.op("Gather", sorted_vals, g.const(lo, np.int64), axis=1)
    if frac == 0.0:
        return lo_v
    hi_v = g.op("Gather", sorted_vals, g.const(min(lo + 1, n - 1), np.int64), axis=1)
    return g.op("Add", lo_v, g.op("Mul", g.op("Sub", hi_v, lo_v), g.const(frac)))


def build_graph(ens: PHEnsemble, metadata: dict[str, str]):  # -> onnx.ModelProto
    """Return the ONNX model for ``ens``."""
    g = GraphBuilder("relapse_gbsg2")
    feats = g.add_input("features", TensorProto.FLOAT, ["n", len(FEATURES)])
    if ens.kind == "gbm":
        lp = _tree_ensemble(g, feats, ens.members)
    else:
        x = g.op("Cast", feats, to=TensorProto.DOUBLE)
        cols = [g.op("Unsqueeze", c, g.const([1], np.int64))
                for c in _design_graph(g, ens.kind, x)]
        design = g.op("Concat", *cols, axis=1)
        lp = g.op("MatMul", g.op("Sub", design, g.const(ens.mu)), g.const(ens.gamma))
    risk = g.op("Unsqueeze", g.op("Exp", lp), g.const([2], np.int64))
    surv = g.op("Exp", g.op("Neg", g.op("Mul", risk, g.const(ens.h0))))  # n x M x 84
    point = g.op("Gather", surv, g.const(0, np.int64), axis=1)
    m = ens.n_boot
    boot = g.op("Slice", surv, g.const([1], np.int64), g.const([m + 1], np.int64),
                g.const([1], np.int64))
    ascending = g.op("TopK", boot, g.const([m], np.int64), axis=1, largest=0, sorted=1, n_out=2)
    a = (1 - BAND_LEVEL) / 2
    grid = ["n", len(GRID_MONTHS)]
    g.add_output(g.to_float32(point), "rfs", TensorProto.FLOAT, grid)
    g.add_output(g.to_float32(_quantile(g, ascending, m, a)), "rfs_lower", TensorProto.FLOAT, grid)
    g.add_output(g.to_float32(_quantile(g, ascending, m, 1 - a)), "rfs_upper", TensorProto.FLOAT,
                 grid)
    doc = (f"Recurrence-free survival after breast cancer (GBSG2), {ens.kind} with "
           f"{m} bootstrap members for the {BAND_LEVEL:.0%} band; months 1..84.")
    return g.model(doc, "oncoboard models/relapse-gbsg2", metadata)
