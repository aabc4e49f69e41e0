"""Rebuild plugins/toxicity-hosp30: synthetic notes, training, ONNX export, validation.

Run from the repository root (about half a minute on 2 cores)::

    .venv/bin/python models/toxicity-hosp30/build.py

Steps: split the phrasing templates into training and held-out sets (corpus.split_templates),
draw training cycles and two test sets of new cycles (one written with the training phrasings,
one only with held-out phrasings), fit the n-gram + structured logistic regression (penalty by
5-fold CV on the training cycles only), export one ONNX graph that takes the raw note text,
score it with onnxruntime, run the negation checks, and write model.onnx, plugin.toml and
MODEL_CARD.md with every figure from this run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(HERE.parent)]

import common.binary_metrics as bm  # noqa: E402
import corpus  # noqa: E402
import text_model as tm  # noqa: E402
import tox_report  # noqa: E402
from common.support import support_of  # noqa: E402

PLUGIN_ID = "toxicity-hosp30"
VERSION = "1.1.0"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
REFERENCE = [65.0, 1.0, 12.0, 2.0, 1.0]     # age, ECOG, Hb g/dL, agents, dose intensity
N_BOOT = 100
ECOG_RANGE = (0.0, 3.0)                     # categorical: held at its categories, no support
INTEGER = ("n_agents",)
NEGATION_PROBES = {
    "fr": ("Fièvre à 39,0°C depuis hier.",
           ["Pas de fièvre.", "Sans fièvre.", "Absence de fièvre.", "Apyrétique."]),
    "en": ("Fever of 39.0 C since yesterday.",
           ["No fever.", "Denies fever.", "Without fever.", "Afebrile."]),
    "fr-diarrhée": ("Diarrhée depuis 3 jours.", ["Pas de diarrhée.", "Sans diarrhée."]),
    "en-diarrhoea": ("Diarrhea for 3 days.", ["No diarrhea.", "Denies diarrhea."]),
}


def held_out_only_words(split: dict) -> list[str]:
    """Return the words of held-out templates that no training-time sentence contains."""
    import re

    def words(text: str) -> set[str]:
        return set(re.findall(f"[{tm.LETTERS}]+", text.lower()))

    seen: set[str] = set()
    for extra in (corpus.NEUTRAL, corpus.HYPOTHETICAL):
        for texts in extra.values():
            seen |= set().union(*(words(t) for t in texts))
    held: set[str] = set()
    for (state, pol, lang), (train_ids, held_ids) in split.items():
        templates = corpus.T[(state, pol)][lang]
        seen |= set().union(*(words(templates[k]) for k in train_ids))
        held |= set().union(*(words(templates[k]) for k in held_ids))
    return sorted(held - seen)


def structured(c: corpus.Corpus) -> np.ndarray:
    return np.column_stack([c.columns[k] for k in tm.STRUCTURED])


def supports(x_train: np.ndarray) -> tuple[dict[str, dict], np.ndarray, np.ndarray]:
    """Return the support of each continuous structured item and the clamp bounds."""
    sup, lo, hi = {}, np.empty(len(tm.STRUCTURED)), np.empty(len(tm.STRUCTURED))
    for j, name in enumerate(tm.STRUCTURED):
        if name == "ecog":
            lo[j], hi[j] = ECOG_RANGE
            continue
        sup[name] = support_of(x_train[:, j], integer=name in INTEGER)
        lo[j], hi[j] = sup[name]["lower"], sup[name]["upper"]
    return sup, lo, hi


def fit_bootstrap(vec: object, train: corpus.Corpus, x: np.ndarray, params: dict,
                  seed: int) -> None:
    """Refit the regression (same vocabulary, standardisation and C) on cycle resamples."""
    from sklearn.linear_model import LogisticRegression

    y = train.columns["hospitalised"]
    d = tm.design(vec, train.notes, x, params["mean"], params["sd"])
    rng = np.random.default_rng(seed)
    coefs, icepts = [], []
    for _ in range(N_BOOT):
        idx = rng.integers(0, len(y), len(y))
        m = LogisticRegression(C=params["C"], max_iter=3000).fit(d[idx], y[idx])
        coefs.append(m.coef_[0])
        icepts.append(float(m.intercept_[0]))
    params["boot_coef"], params["boot_intercept"] = np.array(coefs), np.array(icepts)


def fit(train: corpus.Corpus, seed: int, x: np.ndarray
        ) -> tuple[object, dict, dict[str, float]]:
    """Fit vectoriser + logistic regression; C by 5-fold CV AUC on the training cycles.

    ``x``: the structured items, already held inside the training support."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = train.columns["hospitalised"]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y))
    cv: dict[str, list[float]] = {f"C={c:g}": [] for c in C_GRID}
    for tr, va in folds:
        vec = tm.make_vectorizer().fit([train.notes[i] for i in tr])
        mean, sd = x[tr].mean(axis=0), x[tr].std(axis=0)
        d_tr = tm.design(vec, [train.notes[i] for i in tr], x[tr], mean, sd)
        d_va = tm.design(vec, [train.notes[i] for i in va], x[va], mean, sd)
        for c in C_GRID:
            m = LogisticRegression(C=c, max_iter=3000).fit(d_tr, y[tr])
            cv[f"C={c:g}"].append(bm.auc(y[va], m.decision_function(d_va)))
    cv_mean = {k: float(np.mean(v)) for k, v in cv.items()}
    best = max(C_GRID, key=lambda c: cv_mean[f"C={c:g}"])
    vec = tm.make_vectorizer().fit(train.notes)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    m = LogisticRegression(C=best, max_iter=3000).fit(tm.design(vec, train.notes, x, mean, sd), y)
    params = {"coef": m.coef_[0], "intercept": float(m.intercept_[0]), "mean": mean, "sd": sd,
              "C": best, "sk_model": m}
    return vec, params, cv_mean


def score_set(path: Path, c: corpus.Corpus, seed: int) -> dict:
    """Return AUC (with interval), Bayes-optimal AUC, gap and calibration on one test set."""
    y, true_p = c.columns["hospitalised"], c.columns["true_p"]
    p = tm.run_onnx(path, c.notes, structured(c))
    (lo, hi), (blo, bhi), (glo, ghi) = bm.bootstrap_auc(y, [p, true_p], seed=seed)
    slope, intercept = bm.calibration_slope_intercept(y, p)
    a, bayes = bm.auc(y, p), bm.auc(y, true_p)
    return {"auc": {"value": a, "lower": lo, "upper": hi},
            "bayes_auc": {"value": bayes, "lower": blo, "upper": bhi},
            "bayes_gap": {"value": bayes - a, "lower": -ghi, "upper": -glo},
            "calibration_slope": slope, "calibration_intercept": intercept,
            "calibration_interval": bm.bootstrap_calibration(y, p, seed=seed),
            "brier": bm.brier(y, p), "prevalence": float(y.mean()), "n": int(len(y)),
            "binned": bm.binned_calibration(y, p, bins=5), "_p": p}


def note_oracle(train: corpus.Corpus, tests: list[corpus.Corpus]) -> list[float]:
    """Return the AUC of a logistic model on what each note truly reports, per test set.

    Its inputs are the generator's record of each sign (reported present, reported absent, not
    mentioned) plus the structured items: the best a reader of the note could do, so
    (oracle - model) is the loss due to text processing and (Bayes - oracle) the information the
    notes do not contain.
    """
    from sklearn.linear_model import LogisticRegression

    def design(c: corpus.Corpus) -> np.ndarray:
        cols = [structured(c)]
        for s in corpus.STATES:
            m = c.columns[f"mention_{s}"]
            cols.append(np.column_stack([m > 0, m < 0]).astype(float))
        return np.column_stack(cols)

    x = design(train)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=3000).fit((x - mean) / sd,
                                                         train.columns["hospitalised"])
    return [bm.auc(t.columns["hospitalised"], model.decision_function((design(t) - mean) / sd))
            for t in tests]


def negation_checks(path: Path) -> dict:
    """Return probabilities for positive, unmentioned and negated signs (reference patient)."""
    out = {}
    base = ["Patient vu en consultation.", "Seen in clinic."]
    for key, (positive, negatives) in NEGATION_PROBES.items():
        stem = base[0] if key.startswith("fr") else base[1]
        texts = [stem, f"{stem} {positive}", *(f"{stem} {n}" for n in negatives)]
        p = tm.run_onnx(path, texts, np.tile(REFERENCE, (len(texts), 1)))
        out[key] = {"not mentioned": float(p[0]), positive: float(p[1]),
                    **{n: float(v) for n, v in zip(negatives, p[2:], strict=True)},
                    "passed": bool(all(v < p[1] for v in p[2:]) and p[1] > p[0])}
    return out


def band_sweep(path: Path, sup: dict, note: str) -> dict:
    """Return probability and band of the reference cycle as each item moves over its data."""
    out = {}
    for name, s in sup.items():
        j = tm.STRUCTURED.index(name)
        pts = sorted({s["observed_min"], s["lower"], REFERENCE[j], s["upper"],
                      s["observed_max"]})
        rows = np.tile(REFERENCE, (len(pts), 1))
        rows[:, j] = pts
        p = tm.run_onnx(path, [note] * len(pts), rows)
        lo, hi = tm.run_onnx_band(path, [note] * len(pts), rows)
        out[name] = [{"value": float(v), "p": float(a), "lower": float(b), "upper": float(c)}
                     for v, a, b, c in zip(pts, p, lo, hi, strict=True)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "plugins" / PLUGIN_ID)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    split = corpus.split_templates(args.seed)
    train = corpus.sample(args.n_train, args.seed, "train", split)
    test_seen = corpus.sample(args.n_test, args.seed + 1, "train", split)
    test_held = corpus.sample(args.n_test, args.seed + 2, "held_out", split)
    sup, lo, hi = supports(structured(train))
    x_train = tm.clamp(structured(train), lo, hi).astype(float)
    vec, params, cv = fit(train, args.seed, x_train)
    params["lo"], params["hi"] = lo, hi
    fit_bootstrap(vec, train, x_train, params, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "model.onnx"
    model = tm.build_model(vec, params)
    path.write_bytes(model.SerializeToString())
    seen, held = score_set(path, test_seen, args.seed), score_set(path, test_held, args.seed)
    x = tm.clamp(structured(test_seen), lo, hi).astype(float)
    p_sk = params["sk_model"].predict_proba(
        tm.design(vec, test_seen.notes, x, params["mean"], params["sd"]))[:, 1]
    metrics = {"seen_templates": seen, "held_out_templates": held, "cv_auc_train": cv,
               "chosen_C": params["C"], "vocabulary": len(vec.vocabulary_),
               "onnx_vs_sklearn_max_abs": float(np.abs(seen.pop("_p") - p_sk).max()),
               "negation": negation_checks(path)}
    seen["note_oracle_auc"], held["note_oracle_auc"] = note_oracle(train, [test_seen, test_held])
    b_lo, b_hi = tm.run_onnx_band(path, test_seen.notes, structured(test_seen))
    p_seen = tm.run_onnx(path, test_seen.notes, structured(test_seen))
    metrics["band"] = {"n_boot": N_BOOT, "median_width": float(np.median(b_hi - b_lo)),
                       "contains_point": float(np.mean((b_lo <= p_seen) & (p_seen <= b_hi))),
                       "sweep": band_sweep(path, sup, test_seen.notes[0])}
    held.pop("_p")
    metrics["seconds_total"] = round(time.perf_counter() - t0, 1)
    n_held = sum(len(v[1]) for v in split.values())
    n_all = n_held + sum(len(v[0]) for v in split.values())
    info = {"plugin_id": PLUGIN_ID, "version": VERSION, "seed": args.seed,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "opset": next(o.version for o in model.opset_import if o.domain == ""),
            "n_train": args.n_train, "n_test": args.n_test, "templates_held_out": n_held,
            "templates_total": n_all, "reference": REFERENCE,
            "held_out_only_words": held_out_only_words(split),
            "held_out_template_texts": sorted(
                corpus.T[(st, pol)][lang][k] for (st, pol, lang), (_, held_ids) in split.items()
                for k in held_ids),
            "example_notes": train.notes[:3],
            "golden_note": test_seen.notes[0],
            "golden_p": float(tm.run_onnx(path, test_seen.notes[:1], np.array([REFERENCE]))[0]),
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "support": sup,
            "interval_method": (f"bootstrap: 2.5th-97.5th percentiles of the probabilities of "
                                f"{N_BOOT} refits on resampled training cycles (same vocabulary, "
                                "standardisation and penalty); structured items held inside the "
                                "training support")}
    # The full record of the run sits next to the build script for the bundled plugin, else
    # in the output folder (so a test rebuild leaves the committed record alone).
    record = HERE if args.out.resolve() == (ROOT / "plugins" / PLUGIN_ID).resolve() else args.out
    (record / "metrics.json").write_text(json.dumps({**info, "metrics": metrics}, indent=2,
                                                    ensure_ascii=False) + "\n")
    tox_report.write_manifest(args.out / "plugin.toml", info, metrics)
    tox_report.write_model_card(args.out / "MODEL_CARD.md", info, metrics)
    print(json.dumps({"auc_seen": seen["auc"], "auc_held_out": held["auc"],
                      "negation_passed": {k: v["passed"] for k, v in metrics["negation"].items()},
                      "seconds": metrics["seconds_total"]}, indent=1))
    return 0 if all(v["passed"] for v in metrics["negation"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
