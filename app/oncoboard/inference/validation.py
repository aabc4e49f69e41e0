"""Local validation of a plugin: run it retrospectively on the site's patients with outcomes.

``validate(store, settings, plugin_id, ...)`` (``oncoboard validate``) builds the cohort from the
record, runs the plugin on each patient *as the record stood on the reference date* (the engine
reads observations, notes and conditions up to that date only; see :func:`reference_rule`),
and measures discrimination and calibration against the outcomes that followed
(:mod:`oncoboard.inference.validation_metrics`), beside the figures the plugin's manifest
publishes. Every plugin call goes through :func:`predict_cases`, the one adapter to the engine.

Cohort rules (README, "Local validation"):

* reference date: the first treatment of the kind the plugin's population names (surgery for
  relapse-gbsg2: the model is used after the operation), else the diagnosis of the primary
  cancer;
* outcome: survival outputs - time from the reference date to the first event of the task's
  kinds (relapse: relapse, progression or death), censored at the last dated entry of the record
  (observation, treatment, note or outcome); probability outputs - an event of the task's kinds
  within the horizon, the patient excluded when followed for less than the horizon without one;
* exclusions, each counted with its reason: no reference date, an event on or before it, no
  follow-up after it, the plugin refusing the inputs, binary follow-up too short.
"""

from __future__ import annotations

import datetime as dt
import logging
import time as _time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oncoboard.errors import OncoboardError
from oncoboard.inference import validation_metrics as vm

log = logging.getLogger(__name__)

DAYS_PER_MONTH = 365.25 / 12
#: Minimum number of events for a validation to be read and a recalibration accepted: 100, the
#: minimum of Collins, Ogundimu & Altman (Stat Med 2016;35:214-226) and Vergouwe et al. (J Clin
#: Epidemiol 2005;58:475-483) for external validation (binary outcomes: 100 events *and* 100
#: non-events); Riley et al. (Stat Med 2021;40:4230-4251; BMJ 2024;384:e074821) show that more
#: is often needed for precise calibration, so the intervals are always shown.
MIN_EVENTS = 100
#: Outcome kinds that count as the event, by plugin task.
EVENT_KINDS = {"relapse": ("relapse", "progression", "death"), "response": ("response",),
               "toxicity": ("hospitalisation",), "other": ("death",)}
#: Default horizon (months) of probability outputs, by task; survival outputs default to the
#: explanation's time, else 60 months when on the grid, else the grid's end.
BINARY_HORIZON = {"toxicity": 1.0, "response": 3.0, "other": 12.0, "relapse": 60.0}
N_BOOT = 200
CHUNK = 256


@dataclass
class Case:
    """One patient of the cohort: reference date, follow-up, event, or why excluded."""

    patient_id: str
    reference_date: dt.date | None = None
    months: float | None = None
    event: bool = False
    excluded: str | None = None


@dataclass
class Scored:
    """The plugin's result on one case, reduced to what the metrics need."""

    case: Case
    surv: np.ndarray | None = None      # survival curve on the plugin's grid
    prob: float | None = None
    refused: str | None = None
    outside_intended_use: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The plugin: what is predicted, from when
# ---------------------------------------------------------------------------------------------


def target_output(manifest: Any) -> Any:
    """Return the output validated: the first displayed survival or probability output."""
    for kind in ("survival", "probability"):
        for o in manifest.outputs:
            if o.kind == kind and o.display and (kind != "survival"
                                                 or o.quantity in ("survival",
                                                                   "cumulative_incidence")):
                return o
    raise OncoboardError(f"plugin {manifest.id} has no survival or probability output to "
                         f"validate", where="validate")


def default_horizon(manifest: Any, out: Any) -> float:
    """Return the default horizon in months (see :data:`BINARY_HORIZON`)."""
    if out.kind == "probability":
        return BINARY_HORIZON.get(manifest.task, 12.0)
    grid = [float(t) for t in out.time_grid]
    at = manifest.explanation.at_time if manifest.explanation else None
    if at is not None and float(at) in grid:
        return float(at)
    return 60.0 if 60.0 in grid else grid[-1]


def reference_rule(manifest: Any) -> str:
    """Describe the reference date used for the plugin."""
    t = manifest.population.treatment
    if t is not None and t.kind:
        what = f"{t.subkind} {t.kind}" if t.subkind else t.kind
        return f"date of the first {what} recorded (the plugin is used once it is decided/done)"
    return "date of diagnosis of the primary cancer"


# ---------------------------------------------------------------------------------------------
# The cohort (bulk queries: one per table, not per patient)
# ---------------------------------------------------------------------------------------------


def _day(s: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(s[:10]) if s else None
    except ValueError:
        return None


def build_cohort(store: Any, manifest: Any, horizon: float, *, cohort: str | None = None
                 ) -> list[Case]:
    """Return a Case per patient (of the cohort query) with reference date and outcome."""
    from oncoboard.patients import record

    ids = [p.id for p in record.list_patients(store, cohort)]
    db = store.db
    t = manifest.population.treatment
    if t is not None and t.kind:
        sql = "SELECT patient_id, MIN(substr(start_date, 1, 10)) AS d FROM treatments " \
              "WHERE kind = ? AND start_date IS NOT NULL"
        params: list[Any] = [t.kind]
        if t.subkind:
            sql += " AND lower(subkind) = lower(?)"
            params.append(t.subkind)
        ref = {r["patient_id"]: r["d"] for r in db.query(sql + " GROUP BY patient_id", params)}
        missing_ref = f"no {t.kind} recorded"
    else:
        ref = {r["patient_id"]: r["d"] for r in db.query(
            "SELECT patient_id, MIN(substr(diagnosis_date, 1, 10)) AS d FROM conditions "
            "WHERE is_primary_cancer = 1 AND diagnosis_date IS NOT NULL GROUP BY patient_id")}
        missing_ref = "no dated primary cancer"
    kinds = EVENT_KINDS.get(manifest.task, EVENT_KINDS["other"])
    marks = ",".join("?" * len(kinds))
    events: dict[str, list[str]] = {}
    for r in db.query(f"SELECT patient_id, substr(date, 1, 10) AS d FROM outcomes WHERE kind IN "
                      f"({marks}) AND date IS NOT NULL ORDER BY date", list(kinds)):
        events.setdefault(r["patient_id"], []).append(r["d"])
    last = {r["patient_id"]: r["d"] for r in db.query(
        "SELECT patient_id, MAX(d) AS d FROM ("
        " SELECT patient_id, substr(effective, 1, 10) AS d FROM observations"
        " UNION ALL SELECT patient_id, substr(coalesce(end_date, start_date), 1, 10)"
        " FROM treatments"
        " UNION ALL SELECT patient_id, substr(date, 1, 10) FROM notes"
        " UNION ALL SELECT patient_id, substr(coalesce(end_date, date), 1, 10) FROM outcomes"
        " UNION ALL SELECT id, substr(deceased_date, 1, 10) FROM patients"
        ") WHERE d IS NOT NULL GROUP BY patient_id")}
    binary = target_output(manifest).kind == "probability"
    cases = []
    for pid in ids:
        c = Case(pid)
        cases.append(c)
        day = _day(ref.get(pid))
        if day is None:
            c.excluded = missing_ref
            continue
        c.reference_date = day
        evs = [d for d in (_day(x) for x in events.get(pid, [])) if d is not None]
        if any(d <= day for d in evs):
            c.excluded = "event on or before the reference date"
            continue
        end = _day(last.get(pid))
        first = min(evs) if evs else None
        if first is not None:
            c.months, c.event = (first - day).days / DAYS_PER_MONTH, True
        elif end is None or end <= day:
            c.excluded = "no follow-up after the reference date"
            continue
        else:
            c.months = (end - day).days / DAYS_PER_MONTH
        if binary:
            if c.event and c.months > horizon:
                c.event = False
            if not c.event and c.months < horizon:
                c.excluded = f"followed less than {horizon:g} months without an event"
    return cases


# ---------------------------------------------------------------------------------------------
# The one adapter to the engine
# ---------------------------------------------------------------------------------------------


def predict_cases(store: Any, settings: Any, plugin: Any, cases: Sequence[Case]
                  ) -> Iterator[Scored]:
    """Run the plugin on each case at its reference date; yield the reduced results.

    The ONE place where validation calls the inference engine. It does what
    ``engine.predict_patient(store, settings, pid, date=reference_date, plugin_ids=[id],
    save=False, explain_it=False)`` does for the patient as recorded (inputs assembled by
    :func:`oncoboard.inference.inputs.assemble_record` as of the reference date, refusals
    kept, the graph run, outputs read by ``model_io.format_outputs``), but runs the graph on
    chunks of patients at once (``model_io.run_rows``) instead of once per patient and skips the
    what-if scenarios: 10,000 patients in seconds. A test checks the results equal
    ``predict_patient``'s. No site recalibration is applied: the plugin is validated as shipped.
    """
    from oncoboard.inference import engine, model_io
    from oncoboard.inference.inputs import assemble_record
    from oncoboard.inference.record_access import RecordView

    m = plugin.require()
    out = target_output(m)
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start:start + CHUNK]
        ready: list[tuple[Scored, dict[str, Any]]] = []
        scored_chunk: list[Scored] = []
        for c in chunk:
            assert c.reference_date is not None
            s = Scored(c)
            scored_chunk.append(s)
            try:
                asm = assemble_record(store, m, c.patient_id, c.reference_date,
                                      RecordView(store, c.patient_id, c.reference_date))
            except OncoboardError as exc:
                s.refused = exc.message
                continue
            s.outside_intended_use = asm.population.get("in_population") is False
            if asm.refusals:
                s.refused = "; ".join(str(r) for r in asm.refusals)
                continue
            ready.append((s, engine._base_row(asm, m)))
        if ready:
            try:
                rows, _ = model_io.run_rows(m, plugin.model_path, settings.providers,
                                          [r for _, r in ready])
            except OncoboardError as exc:
                for s, _ in ready:
                    s.refused = exc.message
                rows = []
            for (s, _), row in zip(ready, rows, strict=False):
                value = model_io.format_outputs(m, row)[out.name]
                if out.kind == "survival":
                    v = np.asarray(value["values"], float)
                    s.surv = 1.0 - v if out.quantity == "cumulative_incidence" else v
                else:
                    s.prob = float(value["value"])
        yield from scored_chunk


# ---------------------------------------------------------------------------------------------
# The validation
# ---------------------------------------------------------------------------------------------


def _grid_value(curves: np.ndarray, grid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return each curve's value at its own time t (step function; 1 before the grid)."""
    pos = np.searchsorted(grid, t, side="right") - 1
    vals = curves[np.arange(len(t)), np.clip(pos, 0, None)]
    return np.where(pos >= 0, vals, 1.0)


def _manifest_comparison(manifest: Any, local: dict[str, Any], horizon: float
                         ) -> list[dict[str, Any]]:
    import re

    rows = []
    names = {1: "low", 2: "mid", 3: "high"}
    groups = {names[g["group"]]: g for g in local.get("groups_3", []) if g["group"] in names}
    values = manifest.metrics.values if manifest.metrics else {}
    for name, est in values.items():
        mine: float | None = None
        m = re.fullmatch(r"[a-z]+(\d+)_(low|mid|high)_risk_tertile(_cv)?_(predicted|observed)",
                         name)
        if re.fullmatch(r"c_index(_cv|_apparent)?", name) and "harrell" in local:
            mine = local["harrell"]["value"]
        elif re.fullmatch(r"auc(_cv|_apparent)?", name) and "auc" in local:
            mine = local["auc"]["value"]
        elif m and float(m.group(1)) == horizon and m.group(2) in groups:
            mine = groups[m.group(2)][m.group(4)]
        else:
            continue
        rows.append({"name": name, "value": est.value, "lower": est.lower, "upper": est.upper,
                     "description": est.description, "local": mine})
    return rows


def validate(store: Any, settings: Any, plugin_id: str, *, cohort: str | None = None,
             horizon: float | None = None, n_boot: int = N_BOOT, seed: int = 20261203,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Validate a plugin on the local patients with outcomes; return the report (JSON-able)."""
    from oncoboard.inference.discovery import get_plugin

    started = _time.perf_counter()
    plugin = get_plugin(settings, plugin_id)
    m = plugin.require()
    out = target_output(m)
    h = float(horizon) if horizon is not None else default_horizon(m, out)
    if h <= 0:
        raise OncoboardError(f"horizon {h:g} months: must be positive", where="validate")
    if out.kind == "survival" and not (min(out.time_grid) <= h <= max(out.time_grid)):
        raise OncoboardError(f"horizon {h:g} months outside the plugin's time grid "
                             f"({min(out.time_grid):g}-{max(out.time_grid):g} "
                             f"{out.time_unit})", where="validate")
    cases = build_cohort(store, m, h, cohort=cohort)
    eligible = [c for c in cases if c.excluded is None]
    excluded = Counter(c.excluded for c in cases if c.excluded is not None)
    scored: list[Scored] = []
    for i, s in enumerate(predict_cases(store, settings, plugin, eligible)):
        if s.refused:
            excluded[f"plugin refused the inputs: {_short(s.refused)}"] += 1
        else:
            scored.append(s)
        if progress is not None and (i + 1) % CHUNK == 0:
            progress(i + 1, len(eligible))
    report: dict[str, Any] = {
        "plugin": {"id": m.id, "version": m.version, "task": m.task,
                   "model_sha256": m.model.sha256, "manifest_sha256": plugin.manifest_sha256},
        "output": out.name, "outcome": "survival" if out.kind == "survival" else "binary",
        "event_kinds": list(EVENT_KINDS.get(m.task, EVENT_KINDS["other"])),
        "reference_date_rule": reference_rule(m), "horizon_months": h, "cohort_query": cohort,
        "counts": {"patients": len(cases), "eligible": len(eligible), "validated": len(scored),
                   "excluded": dict(sorted(excluded.items(), key=lambda kv: -kv[1])),
                   "outside_intended_use": sum(s.outside_intended_use for s in scored)},
        "min_events": MIN_EVENTS, "bootstrap": n_boot,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if out.kind == "survival":
        report.update(_survival(scored, np.asarray(out.time_grid, float), h, n_boot, seed))
    else:
        report.update(_binary(scored, n_boot, seed))
    report["manifest_comparison"] = _manifest_comparison(m, report, h)
    report["duration_s"] = round(_time.perf_counter() - started, 2)
    return report


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _enough(report: dict[str, Any], events: int, non_events: int | None = None) -> None:
    low = events < MIN_EVENTS or (non_events is not None and non_events < MIN_EVENTS)
    report["enough_data"] = not low
    if low:
        what = (f"{events} events" if non_events is None
                else f"{events} events and {non_events} non-events")
        report["verdict"] = (f"too uncertain: {what}, below the minimum of {MIN_EVENTS} "
                             f"(Collins et al. 2016; Riley et al. 2021): the estimates are "
                             f"shown for information only and recalibration is refused")
    else:
        report["verdict"] = "enough events for a validation"


def _survival(scored: list[Scored], grid: np.ndarray, h: float, n_boot: int, seed: int
              ) -> dict[str, Any]:
    n = len(scored)
    rep: dict[str, Any] = {}
    if n == 0:
        rep["counts_outcome"] = {"events": 0, "events_by_horizon": 0}
        _enough(rep, 0)
        return rep
    time = np.array([s.case.months for s in scored], float)
    event = np.array([s.case.event for s in scored], bool)
    curves = np.vstack([np.asarray(s.surv) for s in scored]).astype(float)
    hi = int(np.searchsorted(grid, h, side="right")) - 1
    s_h = curves[:, hi]
    risk = 1.0 - s_h
    by_h = event & (time <= h)
    rep["counts_outcome"] = {"events": int(event.sum()), "events_by_horizon": int(by_h.sum()),
                             "median_follow_up_months": _reverse_km_median(time, event)}
    _enough(rep, int(by_h.sum()))
    ones = np.ones((1, n))
    harrell, uno = vm.c_indexes(time, event, risk, h, ones)
    hb, ub = (vm.c_indexes(time, event, risk, h, vm.bootstrap_weights(n, n_boot, seed))
              if n_boot else (np.array([]), np.array([])))
    rep["harrell"] = _est(harrell[0], hb, f"Harrell's C of the predicted risk at {h:g} months, "
                                          f"all follow-up")
    rep["uno"] = _est(uno[0], ub, f"Uno's C (IPCW), truncated at {h:g} months")
    km = vm.kaplan_meier(time, event)
    obs, olo, ohi = km.at(h)
    expected = float(np.mean(risk))
    rep["observed_expected"] = {
        "observed_risk": 1 - obs, "expected_risk": expected,
        "value": (1 - obs) / expected if expected > 0 else None,
        "lower": (1 - ohi) / expected if expected > 0 else None,
        "upper": (1 - olo) / expected if expected > 0 else None,
        "description": f"Kaplan-Meier risk by {h:g} months / mean predicted risk"}
    t_trunc = np.minimum(time, h)
    cumhaz = -np.log(np.clip(_grid_value(curves, grid, t_trunc), 1e-12, 1.0))
    rep["calibration_model"] = vm.survival_calibration_model(
        by_h, np.maximum(cumhaz, 1e-4), -np.log(np.clip(s_h, 1e-12, 1.0)))
    rep["groups_3"] = vm.survival_calibration_groups(time, event, s_h, h, 3)
    rep["groups_10"] = vm.survival_calibration_groups(time, event, s_h, h, 10) \
        if n >= 200 else []
    rep["km_overall"] = {"times": km.times.tolist(), "survival": km.surv.tolist()}
    return rep


def _reverse_km_median(time: np.ndarray, event: np.ndarray) -> float | None:
    km = vm.kaplan_meier(time, ~event)
    below = np.flatnonzero(km.surv <= 0.5)
    return float(km.times[below[0]]) if below.size else None


def _binary(scored: list[Scored], n_boot: int, seed: int) -> dict[str, Any]:
    n = len(scored)
    rep: dict[str, Any] = {}
    y = np.array([s.case.event for s in scored], bool)
    p = np.array([s.prob for s in scored], float)
    rep["counts_outcome"] = {"events": int(y.sum()), "non_events": int((~y).sum())}
    _enough(rep, int(y.sum()), int((~y).sum()))
    if n == 0 or y.all() or not y.any():
        return rep
    a = vm.auc(y, p, np.ones((1, n)))
    ab = vm.auc(y, p, vm.bootstrap_weights(n, n_boot, seed)) if n_boot else np.array([])
    rep["auc"] = _est(a[0], ab, "area under the ROC curve")
    rep["observed_expected"] = {"observed_risk": float(y.mean()), "expected_risk": float(p.mean()),
                                "value": float(y.mean() / p.mean()) if p.mean() > 0 else None,
                                "description": "observed events / sum of predicted risks"}
    rep["calibration_model"] = vm.logistic_calibration_model(y, p)
    rep["groups_3"] = vm.binary_calibration_groups(y, p, 3)
    rep["groups_10"] = vm.binary_calibration_groups(y, p, 10) if n >= 200 else []
    return rep


def _est(value: float, boot: np.ndarray, description: str) -> dict[str, Any]:
    lo, hi = vm.interval(boot)
    return {"value": float(value), "lower": lo, "upper": hi, "level": 0.95,
            "description": description}
