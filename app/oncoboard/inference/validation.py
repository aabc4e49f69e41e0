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

Everything is streamed a chunk of :data:`CHUNK` patients at a time (cohort queries, record,
graph run), and the metrics are O(n log n) per bootstrap replicate: 10,000 patients in seconds,
memory flat in the number of patients (``tests/bench/bench_validate.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time as _time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard.errors import OncoboardError
from oncoboard.inference import validation_metrics as vm
from oncoboard.inference.record_chunk import ChunkRecord
from oncoboard.inference.validation_batch import _run_target
from oncoboard.inference.validation_cohort import (
    CHUNK,
    EVENT_KINDS,
    Case,
    cohort_ids,
    default_horizon,
    iter_cohort,
    reference_rule,
    target_output,
)

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

#: Minimum number of events for a validation to be read and a recalibration accepted: 100, the
#: minimum of Collins, Ogundimu & Altman (Stat Med 2016;35:214-226) and Vergouwe et al. (J Clin
#: Epidemiol 2005;58:475-483) for external validation (binary outcomes: 100 events *and* 100
#: non-events); Riley et al. (Stat Med 2021;40:4230-4251; BMJ 2024;384:e074821) show that more
#: is often needed for precise calibration, so the intervals are always shown.
MIN_EVENTS = 100
N_BOOT = 200


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
# The one adapter to the engine
# ---------------------------------------------------------------------------------------------


def predict_cases(store: Store, settings: Settings, plugin: Any, cases: Sequence[Case]
                  ) -> Iterator[Scored]:
    """Run the plugin on each case at its reference date; yield the reduced results.

    The ONE place where validation calls the inference engine. It does what
    ``engine.predict_patient(store, settings, pid, date=reference_date, plugin_ids=[id],
    save=False, explain_it=False)`` does for the patient as recorded (inputs assembled by
    :func:`oncoboard.inference.inputs.assemble_record` as of the reference date, refusals
    kept, the graph run, the output read by ``model_io.read_output``), but reads the record of a
    chunk of patients at once (:class:`ChunkRecord`), runs the graph on the chunk
    (``model_io.build_feeds``), pruned to the output validated (:func:`pruned_graph`), and
    skips the what-if scenarios. A test checks the results equal ``predict_patient``'s.

    The view is *retrospective* (``RecordView(retrospective=True)``): a treatment input counts
    treatments started on or before the reference date only (a later one is what happened
    next, not a plan known then), and tumour fields copied from dated observations are taken
    as they stood on the date. ``Scored.extra["later_treatment"]`` names the treatment inputs a
    later treatment would have set. No site recalibration is applied: the plugin is validated
    as shipped.
    """
    from oncoboard.inference import engine, model_io
    from oncoboard.inference.inputs import assemble_record
    from oncoboard.inference.population import treatment_matches
    from oncoboard.inference.record_access import RecordView

    m = plugin.require()
    out = target_output(m)
    treatment_inputs = [(i.name, i.source.predicate) for i in m.inputs
                        if i.kind == "clinical" and i.source.type == "treatment"]
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start:start + CHUNK]
        rec = ChunkRecord(store, [c.patient_id for c in chunk])
        ready: list[tuple[Scored, dict[str, Any]]] = []
        scored_chunk: list[Scored] = []
        for c in chunk:
            assert c.reference_date is not None
            s = Scored(c)
            scored_chunk.append(s)
            rv = RecordView(store, c.patient_id, c.reference_date, retrospective=True,
                            record=rec)
            try:
                asm = assemble_record(store, m, c.patient_id, c.reference_date, rv)
            except OncoboardError as exc:
                s.refused = exc.message
                continue
            later = [name for name, pred in treatment_inputs
                     if not any(treatment_matches(t, pred, rv.date, started_by=rv.date)
                                for t in rv.treatments())
                     and any(treatment_matches(t, pred, rv.date) for t in rv.treatments())]
            if later:
                s.extra["later_treatment"] = later
            s.outside_intended_use = asm.population.get("in_population") is False
            if asm.refusals:
                s.refused = "; ".join(str(r) for r in asm.refusals)
                continue
            ready.append((s, engine._base_row(asm, m)))
        if ready:
            try:
                rows = _run_target(plugin, m, out, settings.providers, [r for _, r in ready])
            except OncoboardError as exc:
                for s, _ in ready:
                    s.refused = exc.message
                rows = []
            for (s, _), row in zip(ready, rows, strict=False):
                try:
                    value = model_io.read_output(out, row)
                except OncoboardError as exc:
                    s.refused = exc.message
                    continue
                if out.kind == "survival":
                    v = np.asarray(value, float)
                    s.surv = 1.0 - v if out.quantity == "cumulative_incidence" else v
                else:
                    s.prob = float(value)
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


def validate(store: Store, settings: Settings, plugin_id: str, *, cohort: str | None = None,
             horizon: float | None = None, n_boot: int = N_BOOT, seed: int = 20261203,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Validate a plugin on the local patients with outcomes; return the report (JSON-able).

    The cohort is built, run and reduced a chunk of patients at a time: what is kept per
    patient is a handful of numbers (follow-up, event, predicted survival at the horizon and at
    the follow-up), never the records or the curves. ``progress(done, total)`` counts patients.
    """
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
    grid = np.asarray(out.time_grid, float) if out.kind == "survival" else None
    hi = int(np.searchsorted(grid, h, side="right")) - 1 if grid is not None else 0
    ids = cohort_ids(store, cohort)
    excluded: Counter[str] = Counter()
    kept: dict[str, list[float]] = {"time": [], "event": [], "s_h": [], "s_t": [], "prob": []}
    n_eligible = n_outside = done = 0
    later: Counter[str] = Counter()
    for part in iter_cohort(store, m, h, ids=ids):
        eligible = [c for c in part if c.excluded is None]
        excluded.update(c.excluded for c in part if c.excluded is not None)
        n_eligible += len(eligible)
        for s in predict_cases(store, settings, plugin, eligible):
            later.update(s.extra.get("later_treatment", []))
            if s.refused:
                excluded[f"plugin refused the inputs: {_short(s.refused)}"] += 1
                continue
            n_outside += s.outside_intended_use
            kept["time"].append(float(s.case.months or 0.0))
            kept["event"].append(bool(s.case.event))
            if grid is not None:
                curve = np.asarray(s.surv, float)[None, :]
                kept["s_h"].append(float(curve[0, hi]))
                kept["s_t"].append(float(_grid_value(
                    curve, grid, np.array([min(float(s.case.months or 0.0), h)]))[0]))
            else:
                kept["prob"].append(float(s.prob or 0.0))
        done += len(part)
        if progress is not None:
            progress(done, len(ids))
    n_valid = len(kept["time"])
    report: dict[str, Any] = {
        "plugin": {"id": m.id, "version": m.version, "task": m.task,
                   "model_sha256": m.model.sha256, "manifest_sha256": plugin.manifest_sha256},
        "output": out.name, "outcome": "survival" if out.kind == "survival" else "binary",
        "event_kinds": list(EVENT_KINDS.get(m.task, EVENT_KINDS["other"])),
        "reference_date_rule": reference_rule(m), "horizon_months": h, "cohort_query": cohort,
        "counts": {"patients": len(ids), "eligible": n_eligible, "validated": n_valid,
                   "excluded": dict(sorted(excluded.items(), key=lambda kv: -kv[1])),
                   "outside_intended_use": n_outside},
        "min_events": MIN_EVENTS, "bootstrap": n_boot,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "caveats": caveats(m, later),
    }
    time_ = np.asarray(kept["time"], float)
    event = np.asarray(kept["event"], bool)
    if out.kind == "survival":
        report.update(_survival(time_, event, np.asarray(kept["s_h"], float),
                                np.asarray(kept["s_t"], float), h, n_boot, seed))
    else:
        report.update(_binary(event, np.asarray(kept["prob"], float), n_boot, seed))
    report["manifest_comparison"] = _manifest_comparison(m, report, h)
    report["duration_s"] = round(_time.perf_counter() - started, 2)
    return report


def caveats(manifest: Any, later_treatment: Counter[str] | dict[str, int]) -> list[str]:
    """Return what the reader of the report must know about the inputs as of the reference date.

    ``later_treatment``: per treatment input, the patients with a matching treatment started
    after the reference date only (not counted: see :func:`predict_cases`).
    """
    out = []
    for name, n in sorted(later_treatment.items()):
        out.append(f"input {name}: {n} patients had a matching treatment only after the "
                   f"reference date; it is not counted (no future data), so they are run "
                   f"without it. If the treatment was decided on the day (e.g. adjuvant "
                   f"therapy started weeks after surgery), the predictions for them are those "
                   f"of untreated patients")
    if any(i.kind == "clinical" and i.source.type == "condition" for i in manifest.inputs):
        out.append("tumour fields of the primary cancer (TNM, grade, receptors, Ki67, markers) "
                   "are taken from the latest observation dated on or before the reference "
                   "date when the import copied them from observations; a field given with "
                   "the condition itself carries no date and is used as recorded, even if it "
                   "was set after the reference date")
    return out


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


def _survival(time: np.ndarray, event: np.ndarray, s_h: np.ndarray, s_t: np.ndarray, h: float,
              n_boot: int, seed: int) -> dict[str, Any]:
    """Survival figures from follow-up, event, the predicted survival at the horizon and at
    min(follow-up, horizon) of each patient."""
    n = len(time)
    rep: dict[str, Any] = {}
    if n == 0:
        rep["counts_outcome"] = {"events": 0, "events_by_horizon": 0}
        _enough(rep, 0)
        return rep
    risk = 1.0 - s_h
    by_h = event & (time <= h)
    rep["counts_outcome"] = {"events": int(event.sum()), "events_by_horizon": int(by_h.sum()),
                             "median_follow_up_months": _reverse_km_median(time, event)}
    _enough(rep, int(by_h.sum()))
    ones = np.ones((1, n))
    harrell, uno = vm.c_indexes(time, event, risk, h, ones)
    boot = [vm.c_indexes(time, event, risk, h, w)
            for w in vm.bootstrap_batches(n, n_boot, seed)]
    hb = np.concatenate([b[0] for b in boot]) if boot else np.array([])
    ub = np.concatenate([b[1] for b in boot]) if boot else np.array([])
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
    cumhaz = -np.log(np.clip(s_t, 1e-12, 1.0))
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


def _binary(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    n = len(y)
    rep: dict[str, Any] = {}
    rep["counts_outcome"] = {"events": int(y.sum()), "non_events": int((~y).sum())}
    _enough(rep, int(y.sum()), int((~y).sum()))
    if n == 0 or y.all() or not y.any():
        return rep
    a = vm.auc(y, p, np.ones((1, n)))
    boot = [vm.auc(y, p, w) for w in vm.bootstrap_batches(n, n_boot, seed)]
    ab = np.concatenate(boot) if boot else np.array([])
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
