"""Whom a plugin is meant for: its population (age, sex, diagnosis, treatment) checked on a record.

The reasons are written for a clinician ("surgery started at most 1.0 years before 2026-11-23
(or planned)"), not in the manifest's field names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from oncoboard.inference.manifest import Manifest, TreatmentPredicate


def treatment_matches(t: Any, pred: TreatmentPredicate, day: dt.date, *,
                      started_by: dt.date | None = None) -> bool:
    """Return True when treatment `t` satisfies the predicate on `day`.

    Without a window the predicate holds for a treatment before or after `day`: on the record
    of the day, a later start is a planned treatment (the board decides with it). With
    `started_by` (a record read long after `day`: local validation) a later start is what
    happened next, not a plan known then: only treatments started on or before `started_by`
    count, an undated one never.
    """
    if started_by is not None and (not t.start_date or dt.date.fromisoformat(
            t.start_date[:10]) > started_by):
        return False
    if pred.kind and t.kind != pred.kind:
        return False
    if pred.subkind and (t.subkind or "").lower() != pred.subkind.lower():
        return False
    if pred.agents_any:
        wanted = {a.lower() for a in pred.agents_any}
        if not wanted & {a.lower() for a in t.agents}:
            return False
    if pred.line_min is not None and (t.line is None or t.line < pred.line_min):
        return False
    if pred.line_max is not None and (t.line is None or t.line > pred.line_max):
        return False
    if pred.min_days is not None and (not t.start_date or dt.date.fromisoformat(
            t.start_date[:10]) > day - dt.timedelta(days=pred.min_days)):
        return False
    if pred.window_days is not None and t.start_date:
        start = dt.date.fromisoformat(t.start_date[:10])
        if start < day - dt.timedelta(days=pred.window_days):
            return False
    return True


_KIND_WORDS = {"surgery": "surgery", "radiotherapy": "radiotherapy",
               "systemic": "systemic therapy", "other": "treatment"}


def _span(days: int) -> str:
    years = days / 365.25
    return f"{years:.1f} years" if days >= 365 else f"{days} days"


def treatment_words(pred: TreatmentPredicate, day: dt.date) -> str:
    """Return the treatment a plugin's intended use asks for, in the words of a clinician.

    ``surgery started at most 1.0 years before 2026-11-23 (or planned)`` rather than the
    manifest's field names.
    """
    if pred.subkind:
        sub = pred.subkind.lower()
        what = sub if sub.endswith("therapy") else f"{sub} therapy"
    else:
        what = _KIND_WORDS.get(pred.kind or "other", "treatment")
    parts = [what]
    if pred.agents_any:
        parts.append("with " + " or ".join(pred.agents_any))
    if pred.line_min is not None and pred.line_max is not None:
        parts.append(f"as line {pred.line_min}" if pred.line_min == pred.line_max
                     else f"as line {pred.line_min} to {pred.line_max}")
    elif pred.line_min is not None:
        parts.append(f"as line {pred.line_min} or later")
    elif pred.line_max is not None:
        parts.append(f"as line {pred.line_max} or earlier")
    if pred.min_days is not None:
        parts.append(f"started at least {_span(pred.min_days)} before {day.isoformat()}")
    if pred.window_days is not None:
        parts.append(f"started at most {_span(pred.window_days)} before {day.isoformat()} "
                     "(or planned)")
    return " ".join(parts)


def check_population(rv: Any, manifest: Manifest) -> dict[str, Any]:
    """Return {checked, in_population, reasons, failed} for the patient against the population.

    ``failed`` names the criteria not met (``age``, ``sex``, ``diagnosis``, ``treatment``), in
    the order of ``reasons``. Checked once per record view (choosing the plugins checks it, then
    assembling their inputs): each call gets its own copy.
    """
    memo = getattr(rv, "_memo", None)
    if memo is None:
        return _check_population(rv, manifest)
    found = memo(("population", id(manifest)), lambda: _check_population(rv, manifest))
    return {**found, "reasons": list(found["reasons"]), "failed": list(found["failed"])}


def _check_population(rv: Any, manifest: Manifest) -> dict[str, Any]:
    pop = manifest.population
    reasons: list[str] = []
    failed: list[str] = []

    def fail(criterion: str, reason: str) -> None:
        failed.append(criterion)
        reasons.append(reason)

    age = rv.age()
    if pop.age_min is not None or pop.age_max is not None:
        if age is None:
            fail("age", "age unknown (no birth date)")
        elif pop.age_min is not None and age < pop.age_min:
            fail("age", f"age {age} below {pop.age_min:g}")
        elif pop.age_max is not None and age > pop.age_max:
            fail("age", f"age {age} above {pop.age_max:g}")
    sex = rv.patient.sex
    if pop.sex and sex not in pop.sex:
        fail("sex", f"sex {sex or 'unknown'} not in {', '.join(pop.sex)}")
    if pop.diagnoses:
        cancer = rv.primary_cancer()
        code = (cancer.code or "").upper() if cancer else ""
        if not code:
            fail("diagnosis", "no primary cancer diagnosis recorded")
        elif not any(code.startswith(p) for p in pop.diagnoses):
            fail("diagnosis", f"diagnosis {code} not in {', '.join(pop.diagnoses)}")
    if pop.treatment is not None and not any(
            treatment_matches(t, pop.treatment, rv.date) for t in rv.treatments()):
        fail("treatment", "no treatment matching the intended use: "
             + treatment_words(pop.treatment, rv.date))
    return {"checked": True, "in_population": not reasons, "reasons": reasons,
            "failed": failed}
