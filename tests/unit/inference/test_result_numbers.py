"""Issue 11, display and engine side: input checks in the engine, every number with its
uncertainty (CLI text, JSON), calculator units, plain-words refusals and caveats.

Runs the bundled plugins through the CLI in-process (``run`` fixture: a fresh data folder).
"""

from __future__ import annotations

import json

import pytest

AGE21 = ["-i", "age=21", "-i", "menostat=Pre", "-i", "tsize=25", "-i", "tgrade=II",
         "-i", "pnodes=3", "-i", "progrec=32", "-i", "estrec=36", "-i", "horth=no"]
CARG = ["-i", "age=74", "-i", "cancer_site=gi", "-i", "dose_intensity=1.0", "-i", "n_agents=2",
        "-i", "haemoglobin=10.5", "-i", "sex=male", "-i", "crcl=30", "-i", "hearing=fair",
        "-i", "falls_6m=0", "-i", "walk_limited=no", "-i", "needs_medication_help=no",
        "-i", "social_decreased=yes"]
PREDICT = ["-i", "size_mm=20", "-i", "nodes=1", "-i", "grade=2", "-i", "er=positive",
           "-i", "her2=negative", "-i", "ki67=negative", "-i", "screen=clinical",
           "-i", "generation=none", "-i", "horm=no", "-i", "traz=no", "-i", "bis=no"]


def _json(run, *args):
    code, out, err = run("plugins", "run", *args, "--json")
    return code, json.loads(out) if out.strip() else None, err


def _with(args: list[str], name: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(next(a for a in out if a.startswith(name + "="))) ] = f"{name}={value}"
    return out


# --- 1. the engine checks the values: support, cautions, consistency, counts ---------------

def test_age_21_is_flagged_as_extrapolated_in_plain_words(run):
    code, doc, _ = _json(run, "relapse-gbsg2", *AGE21)
    assert code == 0 and doc["status"] == "ok"
    flags = [w for w in doc["warnings"] if w["code"] == "extrapolated"]
    assert len(flags) == 1 and flags[0]["input"] == "age"
    msg = flags[0]["message"]
    assert msg.startswith("age 21:") and "only 7 of 686 training patients" in msg
    assert "the estimate is extrapolated" in msg
    code, out, _ = run("plugins", "run", "relapse-gbsg2", *AGE21)
    assert "only 7 of 686 training patients" in out


@pytest.mark.parametrize("status,age,flagged", [("Post", "30", True), ("Pre", "70", True),
                                                ("Pre", "45", False)])
def test_menopausal_status_inconsistent_with_age_is_flagged(run, status, age, flagged):
    args = _with(_with(AGE21, "menostat", status), "age", age)
    code, doc, _ = _json(run, "relapse-gbsg2", *args)
    assert code == 0
    assert any(w["code"] == "inconsistent" and w["input"] == "menostat"
               for w in doc["warnings"]) is flagged


@pytest.mark.parametrize("age,flagged", [("35", True), ("60", False), ("80", True)])
def test_predict_warns_under_40_and_over_75(run, age, flagged):
    code, doc, _ = _json(run, "predict-breast-v2.1", "-i", f"age={age}", *PREDICT)
    assert code == 0
    assert any(w["code"] == "caution" for w in doc["warnings"]) is flagged


@pytest.mark.parametrize("plugin,args,name", [("relapse-gbsg2", AGE21, "pnodes"),
                                              ("predict-breast-v2.1", ["-i", "age=50"] + PREDICT,
                                               "nodes"),
                                              ("carg-toxicity", CARG, "falls_6m")])
def test_fractional_counts_are_refused(run, plugin, args, name):
    code, doc, _ = _json(run, plugin, *_with(args, name, "2.5"))
    assert code != 0 and doc["status"] == "refused"
    assert any(name in r and "whole number" in r for r in doc["refusal"])


# --- 2. every number with its uncertainty, in whole percent ----------------------------------

def test_cli_text_keeps_the_band_in_whole_percent_and_names_the_method(run):
    code, out, _ = run("plugins", "run", "relapse-gbsg2", *_with(AGE21, "age", "53"))
    assert code == 0
    line = next(ln for ln in out.splitlines() if "Recurrence-free survival" in ln)
    # was "Recurrence-free survival 0.650 at 84 months": no band, false precision
    assert line.strip().startswith("Recurrence-free survival at 84 months: ")
    assert line.endswith("(95 % bootstrap interval)") and " %" in line and "[" in line
    assert "0." not in line
    assert "note: Interval: bootstrap" in out


def test_json_outputs_carry_their_interval_method_or_their_uncertainty(run):
    code, doc, _ = _json(run, "relapse-gbsg2", *_with(AGE21, "age", "53"))
    rfs = doc["outputs"]["rfs"]
    assert rfs["interval_method"].startswith("bootstrap") and rfs["lower"] and rfs["upper"]
    code, doc, _ = _json(run, "predict-breast-v2.1", "-i", "age=50", *PREDICT)
    assert all("PREDICT publishes none" in o["uncertainty"]
               for o in doc["outputs"].values() if o["display"])


def test_carg_states_why_its_rate_has_no_interval_and_its_caveat(run):
    code, out, _ = run("plugins", "run", "carg-toxicity", *CARG)
    assert code == 0
    assert "83 % (no interval: see the note on uncertainty)" in out
    # the validation cohort's rate for the same (high) group: 40/57 with its Wilson interval
    assert "external validation cohort for this risk group: 70 % [57-80 %]" in out
    assert "AUC 0.52-0.68" in out and "never alone" in out
    code, doc, _ = _json(run, "carg-toxicity", *CARG)
    shown = {k: o for k, o in doc["outputs"].items() if o["display"]}
    without_interval = [o for o in shown.values() if o.get("lower") is None]
    assert without_interval and all("AUC 0.52-0.68" in o["uncertainty"]
                                    and "never alone" in o["uncertainty"]
                                    for o in without_interval)
    valid = shown["validation_cohort_toxicity_rate"]
    assert valid["lower"] < valid["value"] < valid["upper"]


# --- 3. calculator units: plausible in the declared unit, echoed with it --------------------

def test_a_bare_number_implausible_in_the_declared_unit_is_refused_with_a_suggestion(run):
    code, out, _ = run("plugins", "run", "relapse-gbsg2", *_with(AGE21, "tsize", "2.5"))
    assert code != 0
    assert ("tsize=2.5: 2.5 mm is unusual for tumour size" in out
            and "did you mean 2.5 cm? write tsize=2.5cm" in out)
    code, out, _ = run("plugins", "run", "relapse-gbsg2", *_with(AGE21, "tsize", "2.5cm"))
    assert code == 0 and "Tumour size 25 mm" in out
    code, doc, _ = _json(run, "toxicity-hosp30", "-i", "age=70", "-i", "ecog=1",
                         "-i", "haemoglobin=105", "-i", "n_agents=2", "-i", "dose_intensity=1",
                         "-i", "note=Patient well.")
    assert doc["status"] == "refused" and "did you mean 105 g/L?" in doc["refusal"][0]


def test_a_bare_number_plausible_in_the_declared_unit_is_accepted_and_echoed(run):
    code, out, _ = run("plugins", "run", "relapse-gbsg2", *_with(AGE21, "age", "53"))
    assert code == 0
    echo = next(ln for ln in out.splitlines() if ln.strip().startswith("inputs:"))
    assert "Age at surgery 53 years" in echo and "Tumour size 25 mm" in echo
    assert "Progesterone receptor level 32 fmol/mg" in echo and "Menopausal status Pre" in echo


# --- 4. refusals and caveats in plain words; named runs; automatic runs keep to the ages ----

@pytest.fixture
def demo(run):
    code, _, _ = run("demo", "--no-imaging", "--date", "2026-11-30")
    assert code == 0
    return run


def test_a_derivation_refusal_says_what_is_missing_in_clinical_words(demo):
    # DEMO-LU-003 (49, lung, immunotherapy) has no creatinine and no geriatric assessment
    code, out, _ = demo("predict", "DEMO-LU-003", "--no-save", "--plugin", "carg-toxicity",
                        "--date", "2026-11-30")
    assert "REFUSED" in out
    assert ("the creatinine clearance (Jelliffe) cannot be computed: no serum creatinine in "
            "the 60 days before 2026-11-30") in out
    assert "ingredients missing" not in out and "no falls_6m" not in out
    assert "no 'falls in the last 6 months' recorded" in out


def test_a_named_plugin_refused_exits_done_with_problems(demo):
    code, _, _ = demo("predict", "DEMO-LU-003", "--no-save", "--plugin", "carg-toxicity",
                      "--date", "2026-11-30")
    assert code == 1  # was 0
    code, _, _ = demo("predict", "DEMO-LU-003", "--no-save", "--date", "2026-11-30")
    assert code == 0  # an automatic run's refusals are results, not problems


def test_automatic_runs_keep_to_the_age_range_named_runs_are_flagged(demo):
    # DEMO-BR-001 is 42 and starts chemotherapy: CARG (65 and over) is not run automatically
    code, out, _ = demo("predict", "DEMO-BR-001", "--no-save", "--json", "--date", "2026-11-30")
    ids = {d["plugin"]["id"] for d in json.loads(out)}
    assert "carg-toxicity" not in ids and "toxicity-hosp30" in ids
    code, out, _ = demo("predict", "DEMO-BR-001", "--no-save", "--json", "--date", "2026-11-30",
                        "--plugin", "carg-toxicity")
    [doc] = json.loads(out)
    assert doc["outside_intended_use"] and "age 42 below 65" in " ".join(
        w["message"] for w in doc["warnings"])
    code, out, _ = demo("predict", "DEMO-BR-001", "--no-save", "--date", "2026-11-30",
                        "--plugin", "carg-toxicity")
    assert "never alone" in out and "AUC 0.52-0.68" in out


def test_lipi_runs_on_the_demo_lung_patients_with_its_open_interval(demo):
    """The demo's blood counts include the white cell count LIPI's dNLR needs; a published median
    whose upper confidence limit was not reached reads "[17-not reached]", never a bare point."""
    code, out, _ = demo("predict", "DEMO-LU-001", "--no-save", "--plugin", "lung-lipi",
                        "--date", "2026-11-30")
    assert code == 0, out
    assert "median overall survival of this LIPI group (months): 34 months [17-not reached]" in out
    assert "progression-free survival of this LIPI group (months): 6.3 months [5-8]" in out


def test_grim_reference_group_and_its_unpublished_interval_are_said(demo):
    code, out, _ = demo("predict", "DEMO-LU-001", "--no-save", "--plugin", "immuno-grim",
                        "--date", "2026-11-30")
    assert code == 0, out
    assert "vs low GRIm (pooled, 15 studies): 1 (reference group, exact by definition)" in out
    assert "[1-1]" not in out
    assert "19.9 months (no interval: see the note on uncertainty)" in out
    assert "publishes the medians without confidence intervals" in out
