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
