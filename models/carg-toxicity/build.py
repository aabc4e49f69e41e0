"""Rebuild plugins/carg-toxicity: export the CARG score graph, check it exhaustively, write files.

Run from the repository root (a few seconds)::

    .venv/bin/python models/carg-toxicity/build.py

No training: the score is exact. The check runs the ONNX graph with onnxruntime on every
combination of values on both sides of every item's threshold (and the exact thresholds) and
compares points and risk group with a plain-Python transcription of the reference table
(carg_graph.score_python). The agreement and the case count go into the manifest and the card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(HERE.parent)]

import carg_graph as cg  # noqa: E402
import carg_report  # noqa: E402
from common.binomial import wilson  # noqa: E402

PLUGIN_ID = "carg-toxicity"
VERSION = "1.2.0"
# Values on both sides of (and at) every threshold; float32-exact where it matters.
GRID: dict[str, list[float]] = {
    "age": [65.0, 71.0, 71.5, 72.0, 88.0],
    "cancer_site_gi_gu": [0.0, 1.0],
    "dose_intensity": [0.5, 0.9, 0.95, 1.0],
    "n_agents": [1.0, 2.0, 3.0],
    "haemoglobin": [8.0, 9.5, 10.0, 10.5, 11.0, 13.0],
    "sex_male": [0.0, 1.0],
    "crcl": [20.0, 33.5, 34.0, 80.0],
    "hearing": [0.0, 1.0, 2.0, 3.0, 4.0],
    "falls_6m": [0.0, 1.0, 3.0],
    "walk_limited": [0.0, 1.0],
    "needs_medication_help": [0.0, 1.0],
    "social_decreased": [0.0, 1.0],
}


def validation_intervals() -> dict[str, tuple[float, ...]]:
    """Return the external validation cohort's observed rate and Wilson 95 % interval per group."""
    counts = cg.validation_counts()
    bounds = [wilson(k, n) for k, n in counts]
    return {"rate": tuple(k / n for k, n in counts), "lower": tuple(b[0] for b in bounds),
            "upper": tuple(b[1] for b in bounds), "counts": tuple(counts)}


def exhaustive_check(model_path: Path, validation: dict) -> dict[str, float]:
    """Compare the ONNX graph with score_python on the whole grid; return the counts."""
    import onnxruntime as ort

    rows = np.array(list(itertools.product(*(GRID[c] for c in cg.COLUMNS))), dtype=np.float32)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    score, group, rate, items, *valid = sess.run(None, {"features": rows})
    expected = [cg.score_python(dict(zip(cg.COLUMNS, r.tolist(), strict=True))) for r in rows]
    exp_pts = np.array([e[0] for e in expected], dtype=np.float32)
    exp_grp = np.array([cg.GROUP_LABELS.index(e[1]) for e in expected], dtype=np.float32)
    ok = (score[:, 0] == exp_pts) & (group[:, 0] == exp_grp) \
        & (rate[:, 0] == np.asarray(cg.OBSERVED_RATES, np.float32)[exp_grp.astype(int)]) \
        & (items.sum(axis=1) == exp_pts)
    for key, got in zip(cg.VALIDATION_OUTPUTS, valid, strict=True):
        ok &= got[:, 0] == np.asarray(validation[key], np.float32)[exp_grp.astype(int)]
    return {"cases": float(len(rows)), "agreeing": float(ok.sum()),
            "fraction": float(ok.mean()), "max_score": float(score.max()),
            "min_score": float(score.min())}


def validation_text(validation: dict) -> str:
    """Return the sentence describing the validation cohort's rates and their intervals."""
    parts = [f"{g} {k}/{n} = {k / n:.0%} ({lo:.0%}-{hi:.0%})" for g, (k, n), lo, hi in zip(
        cg.GROUP_LABELS, validation["counts"], validation["lower"], validation["upper"],
        strict=True)]
    return (f"Observed grade 3-5 toxicity per risk group in the {cg.VALIDATION_SOURCE}, with "
            "Wilson 95 % intervals from the group counts (recovered exactly from the published "
            "percentages by the build script): " + "; ".join(parts) + ".")


def rate_uncertainty(validation: dict) -> dict:
    """Return the interval of each group's published rate (Wilson, from published counts), or,
    without counts, the statement shown instead."""
    if cg.GROUP_COUNTS is None:
        return {"intervals": None, "validation": validation_text(validation), "text": (
            "No interval for the development cohort's rate: its per-group patient counts are "
            "not in the reference used to build this plugin (it gives the rounded rates 30 %, "
            "52 % and 83 % of 500 patients). The external validation cohort's rate for the "
            "same group is shown with its 95 % interval. External validations vary widely (AUC "
            "0.52-0.68): read the score beside the record-based toxicity model, never alone.")}
    intervals = []
    for label, (k, n) in zip(cg.GROUP_LABELS, cg.GROUP_COUNTS, strict=True):
        lo, hi = wilson(k, n)
        intervals.append({"group": label, "k": k, "n": n, "value": k / n, "lower": lo,
                          "upper": hi})
    text = ("Observed grade 3-5 toxicity in the development cohort, Wilson 95 % interval from "
            "the published counts: " + "; ".join(
                f"{i['group']} {i['k']}/{i['n']} = {i['value']:.0%} ({i['lower']:.0%}-"
                f"{i['upper']:.0%})" for i in intervals) + ". External validations vary widely "
            "(AUC 0.52-0.68): read the score beside the record-based toxicity model, never "
            "alone.")
    return {"intervals": intervals, "validation": validation_text(validation), "text": text}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "plugins" / PLUGIN_ID)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "model.onnx"
    validation = validation_intervals()
    path.write_bytes(cg.build_model(validation).SerializeToString())
    check = exhaustive_check(path, validation)
    if check["fraction"] != 1.0:
        print(f"MISMATCH: {check}", file=sys.stderr)
        return 1
    info = {"plugin_id": PLUGIN_ID, "version": VERSION,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "seconds": round(time.perf_counter() - t0, 1), "uncertainty": rate_uncertainty(validation),
            "validation": validation}
    carg_report.write_manifest(args.out / "plugin.toml", info, check)
    carg_report.write_model_card(args.out / "MODEL_CARD.md", info, check)
    print(f"carg-toxicity: {int(check['agreeing'])}/{int(check['cases'])} cases agree; "
          f"sha256 {info['sha256'][:12]}; {info['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
