"""Rebuild the relapse-gbsg2 plugin: cross-validate, choose, fit, export, validate, document.

Usage (from the repository root)::

    .venv/bin/python models/relapse-gbsg2/build.py [--jobs 2] [--repeats 5] [--n-boot 200]

Steps: load GBSG2 (offline, scikit-survival) -> repeated nested 5-fold CV of the candidates
(candidates.py, cv.py) -> choose the candidate with the best mean CV C-index -> tune it
on all patients (inner CV) and fit it, plus ``n_boot`` bootstrap refits with the same
hyper-parameters -> export ``plugins/relapse-gbsg2/model.onnx`` -> check the graph against the
NumPy model -> measure apparent metrics on the graph (validate.py) -> write ``plugin.toml`` and
``MODEL_CARD.md`` from their templates. Every random choice derives from gbsg2_data.SEED.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
from candidates import fit_cox, fit_gbm, tune_and_fit  # noqa: E402
from common.onnx_graph import save  # noqa: E402
from cv import choose, run_cv, summarise  # noqa: E402
from export_onnx import build_graph, ensemble_from, numpy_forward  # noqa: E402
from gbsg2_data import FEATURES, SEED, Cohort, load_gbsg2, supports  # noqa: E402
from model_card import cohort_text, write_card, write_manifest  # noqa: E402
from validate import PLUGIN, apparent_metrics, run_onnx  # noqa: E402

EXPORTABLE = ("cox-fp", "cox-linear", "gbm")
# Bootstrap members: a Cox member is a few numbers, a GBM member ~100 trees (ONNX file < 2 MB).
DEFAULT_BOOT = {"cox-fp": 200, "cox-linear": 200, "gbm": 50}
GOLDEN_INPUTS = {"age": 53, "menostat": "Post", "tsize": 25, "tgrade": "II", "pnodes": 3,
                 "progrec": 32, "estrec": 36, "horth": "no"}
GOLDEN_ROW = [53, 1, 25, 2, 3, 32, 36, 0]
LABELS = {"age": "age (years)", "tsize": "tumour size (mm)", "pnodes": "positive nodes",
          "progrec": "progesterone receptor (fmol/mg)", "estrec": "oestrogen receptor (fmol/mg)"}


def consistency_rules(d: Cohort) -> list[dict]:
    """Menopausal status against age, from the ages seen in the cohort for each status."""
    age, post = d.x[:, 0], d.x[:, 1] == 1
    youngest_post, oldest_pre = float(age[post].min()), float(age[~post].max())
    return [
        {"input": "menostat", "equals": "Post", "other": "age", "below": youngest_post,
         "message": f"postmenopausal below age {youngest_post:g} is unusual (no "
                    f"postmenopausal patient of the {int(post.sum())} in the training data was "
                    f"younger); check the recorded status"},
        {"input": "menostat", "equals": "Pre", "other": "age", "above": oldest_pre,
         "message": f"premenopausal above age {oldest_pre:g} is unusual (no premenopausal "
                    f"patient of the {int((~post).sum())} in the training data was older); "
                    f"check the recorded status"},
    ]


def fit_final(kind: str, d: Cohort, n_boot: int) -> list:
    """Tune ``kind`` on all patients, fit it, and refit it on ``n_boot`` bootstrap samples."""
    point = tune_and_fit(kind, d.x, d.time, d.event, SEED)
    rng = np.random.default_rng(SEED)
    members = [point]
    for b in range(n_boot):
        idx = rng.integers(0, len(d.x), len(d.x))
        if kind == "gbm":
            members.append(fit_gbm(d.x[idx], d.time[idx], d.event[idx], seed=SEED + b,
                                   **point.params))
        else:
            members.append(fit_cox(kind, d.x[idx], d.time[idx], d.event[idx], **point.params))
    return members


def check_export(path: Path, ens, d: Cohort) -> float:
    """Return the largest |ONNX - NumPy| over the cohort's curves and bands (must be tiny)."""
    got = run_onnx(path, d.x)
    ref = numpy_forward(ens, d.x)
    worst = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    if worst > (1e-5 if ens.kind == "gbm" else 1e-6):  # trees sum in float32 in onnxruntime
        raise SystemExit(f"ONNX export disagrees with NumPy by {worst:g}")
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the whole rebuild."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="processes for the CV (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="CV repeats (default 5)")
    ap.add_argument("--n-boot", type=int, default=None,
                    help="bootstrap members (default 200 for Cox, 50 for GBM)")
    ap.add_argument("--model", choices=EXPORTABLE, default=None,
                    help="export this candidate instead of the CV winner (for checking the "
                         "exporters; the model card then says so)")
    ap.add_argument("--out", type=Path, default=PLUGIN,
                    help="plugin folder to write (default plugins/relapse-gbsg2)")
    args = ap.parse_args(argv)
    out = args.out
    t0 = time.perf_counter()
    d = load_gbsg2()
    folds = run_cv(d, args.repeats, SEED, jobs=args.jobs)
    summary = summarise(d, folds)
    winner = choose(summary)
    kind = args.model or winner
    n_boot = args.n_boot if args.n_boot is not None else DEFAULT_BOOT[kind]
    t_cv = time.perf_counter() - t0
    members = fit_final(kind, d, n_boot)
    ens = ensemble_from(members, d.x)
    meta = {"plugin": "relapse-gbsg2", "model": kind, "seed": str(SEED),
            "n_boot": str(n_boot), "features": ",".join(FEATURES)}
    sha = save(build_graph(ens, meta), out / "model.onnx")
    worst = check_export(out / "model.onnx", ens, d)
    apparent = apparent_metrics(out / "model.onnx", d, SEED)
    golden = run_onnx(out / "model.onnx", np.array([GOLDEN_ROW], float))
    elapsed = time.perf_counter() - t0
    info = {"kind": kind, "winner": winner, "params": members[0].params, "sha256": sha,
            "n_boot": n_boot,
            "repeats": args.repeats, "seed": SEED, "seconds": elapsed, "cv_seconds": t_cv,
            "export_error": worst, "jobs": args.jobs,
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "cohort": cohort_text(d), "size": (out / "model.onnx").stat().st_size,
            "support": supports(d), "labels": LABELS, "consistency": consistency_rules(d),
            "interval_method": (
                f"bootstrap: pointwise 2.5th-97.5th percentiles of {n_boot} refits on patient "
                "resamples (same hyper-parameters); inputs held inside the training support")}
    write_manifest(out / "plugin.toml", info, summary, apparent, GOLDEN_INPUTS,
                   {k: [round(float(v), 6) for v in golden[k][0]] for k in ("rfs",)})
    write_card(out / "MODEL_CARD.md", info, summary, apparent, ens, d)
    print(f"relapse-gbsg2: {kind} {members[0].params}; CV C-index "
          f"{summary[kind]['c_index_mean']:.4f}; apparent C-index "
          f"{apparent['c_index_apparent']['value']:.4f}; sha256 {sha[:12]}; "
          f"{elapsed:.0f} s ({t_cv:.0f} s CV)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
