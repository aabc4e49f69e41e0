"""Run the models for several patients at once (a board): one batch per plugin, one transaction.

:func:`predict_many` does what :func:`oncoboard.inference.engine.predict_patient` does for each
patient (that function is this one with one patient), with the per-call costs paid once for
the whole list: the plugins are discovered once; the record is read table by table for every
patient at once (:class:`~oncoboard.inference.record_chunk.ChunkRecord`); each plugin's rows (every patient's row, its
what-if scenarios, reference and explanation variants) run in one ``session.run`` when the
graph's batch dimension is dynamic; every result is stored and audited in one transaction (one
audit insert batch, one commit, one head checkpoint). Each row of a batch is computed as it is
alone (the results are the same, bit for bit, as patient by patient; a test compares them).
A batch that fails as a whole (an image of another shape than the others, a provider failing)
is run again case by case, so that each case gets its own result or refusal, as alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from oncoboard.errors import OncoboardError
from oncoboard.inference import engine, recalibration, runtime
from oncoboard.inference.model_io import run_rows
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.record_chunk import ChunkRecord

log = logging.getLogger(__name__)


@dataclass
class PatientRun:
    """What running the models did for one patient: the predictions, or the error."""

    patient_id: str
    predictions: list[Prediction] = field(default_factory=list)
    error: OncoboardError | None = None


def predict_many(store: Any, settings: Any, patient_ids: Sequence[str], *,
                 date: Any = None, plugin_ids: Sequence[str] | None = None, save: bool = True,
                 explain_it: bool = True, plugins: Sequence[Any] | None = None,
                 job: runtime.Job | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> list[PatientRun]:
    """Run the applicable plugins (or `plugin_ids`) on every patient, as of `date`.

    A patient who cannot be run (unknown, a date before the birth, a named plugin missing) gets
    the error and does not stop the others. ``progress(done, total, patient_id)`` is called as
    each patient's inputs are assembled. With `save`, every result is stored and audited in one
    transaction (all or none).
    """
    from oncoboard.inference import prediction_store
    from oncoboard.inference.discovery import discover_plugins

    day = engine._as_date(date)
    runs = [PatientRun(pid) for pid in patient_ids]
    try:
        every = list(discover_plugins(settings)) if plugins is None else list(plugins)
    except OncoboardError as exc:
        return _failed(runs, exc)
    cases: list[tuple[PatientRun, engine.PendingResult]] = []
    rows = ChunkRecord(store, list(dict.fromkeys(patient_ids)))  # a few queries for them all
    for done, run in enumerate(runs, start=1):
        if job is not None and job.cancelled:
            break
        try:
            chosen, view = engine.select_plugins(store, settings, run.patient_id, day, every,
                                                 plugin_ids, record=rows)
        except OncoboardError as exc:
            run.error = exc
            chosen = []
        for plugin in chosen:
            if job is not None and job.cancelled:
                break
            asm = engine.assemble_safely(store, plugin, run.patient_id, day, view)
            cases.append((run, engine.begin_result(plugin, asm, settings.providers,
                                                   patient_id=run.patient_id,
                                                   reference_date=day)))
        if progress is not None:
            progress(done, len(runs), run.patient_id)
    by_plugin: dict[int, list[engine.PendingResult]] = {}
    for _, case in cases:
        if case.status == "ok":
            by_plugin.setdefault(id(case.plugin), []).append(case)
    for group in by_plugin.values():
        _run_together(group, settings.providers, explain_it, job)
    for run, case in cases:
        run.predictions.append(recalibration.recalibrated(case.plugin, case.finish(), settings))
    if not save:
        for run in runs:
            run.predictions = [replace(p, images={}) for p in run.predictions]
        return runs
    try:
        stored = iter(prediction_store.save_many(
            store, [p for run in runs for p in run.predictions], settings=settings))
    except OncoboardError as exc:  # nothing was stored: every patient with results failed
        return _failed([r for r in runs if r.predictions], exc, runs)
    for run in runs:
        run.predictions = [next(stored) for _ in run.predictions]
    return runs


def _failed(failed: list[PatientRun], exc: OncoboardError,
            runs: list[PatientRun] | None = None) -> list[PatientRun]:
    for run in failed:
        run.predictions, run.error = [], exc
    return failed if runs is None else runs


def _run_together(cases: list[engine.PendingResult], providers: Sequence[str],
                  explain_it: bool, job: runtime.Job | None) -> None:
    """Run one plugin's cases in one batch; give each case its results (or its refusal)."""
    plugin = cases[0].plugin
    m = plugin.manifest
    if len(cases) == 1:
        cases[0].evaluate(providers, explain_it=explain_it, job=job)
        return
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    parts = []
    for case in cases:
        more, plan = engine.plan_rows(m, case.asm, explain_it)
        parts.append((case, plan, len(rows), len(more)))
        rows += more
    try:
        outs, ms = run_rows(m, plugin.model_path, providers, rows, job)
    except (OncoboardError, ValueError) as exc:
        if isinstance(exc, OncoboardError) and exc.reason == "cancelled":
            for case in cases:
                case.fail(exc)
            return
        log.info("%s: the board's batch failed (%s); running case by case", plugin.id,
                 type(exc).__name__)
        for case in cases:
            case.evaluate(providers, explain_it=explain_it, job=job)
        return
    shared = (time.perf_counter() - started) / len(rows)
    for case, plan, first, n in parts:
        t0 = time.perf_counter()
        try:
            case.got = engine.read_results(m, case.asm, plan, outs[first:first + n], ms,
                                           explain_it=explain_it)
        except OncoboardError as exc:
            case.fail(exc)
        case.spent += shared * n + time.perf_counter() - t0
