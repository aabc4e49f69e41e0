"""Run the models for several patients at once (a board): one batch per plugin, one transaction.

:func:`predict_many` does what :func:`oncoboard.inference.engine.predict_patient` does for each
patient (that function is this one with one patient), with the per-call costs paid once for the
whole list:

* the plugins are discovered once, and the record is read table by table for every patient at
  once (:class:`~oncoboard.inference.record_chunk.ChunkRecord`: the same rows, in the same order);
* each plugin's rows (every patient's row, its what-if scenarios, reference and explanation
  variants) run in one ``session.run`` when the graph's batch dimension is dynamic (a long batch
  in two, one per worker thread); onnxruntime releases the GIL, so while one plugin's model runs
  the results of another are read, finished and serialised on the caller's thread;
* every result is stored and audited in one transaction (one audit insert batch, one commit,
  one head checkpoint).

A row's result does not depend on the rows run with it: the documents are the same, byte for
byte, as patient by patient (a test compares them). A batch that fails as a whole (an image of
another shape than the others, a provider failing) is run again case by case, so that each case
gets its own result or refusal, as alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import gc
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from oncoboard.errors import InferenceError, OncoboardError
from oncoboard.identity import user_of
from oncoboard.inference import engine, recalibration, runtime
from oncoboard.inference.model_io import run_rows
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.record_chunk import ChunkRecord

if TYPE_CHECKING:
    from oncoboard.config import Settings

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
    from oncoboard.inference.recalibration import read_once

    with _collector_paused(), read_once():
        return _predict_many(store, settings, patient_ids, date, plugin_ids, save, explain_it,
                             plugins, job, progress)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a board makes its results.

    A board makes some 10^5 containers (rows, curves, documents), almost none in a cycle:
    reference counting frees them. Running, the collector traversed the live ones about 20
    times a board, and every few boards the whole process's heap (sessions, plugins, the UI).
    Paused, the board's survivors are traversed once, at the collection after it. Whoever
    paused it first starts it again: boards on several threads at once never leave it paused.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _predict_many(store: Any, settings: Any, patient_ids: Sequence[str], date: Any,
                  plugin_ids: Sequence[str] | None, save: bool, explain_it: bool,
                  plugins: Sequence[Any] | None, job: runtime.Job | None,
                  progress: Callable[[int, int, str], None] | None) -> list[PatientRun]:
    from oncoboard.inference import prediction_store
    from oncoboard.inference.discovery import discover_plugins

    day = engine._as_date(date)
    runs = [PatientRun(pid) for pid in patient_ids]
    try:
        every = list(discover_plugins(settings)) if plugins is None else list(plugins)
    except OncoboardError as exc:
        return _failed(runs, exc)
    user = user_of(store).login
    rows = ChunkRecord(store, list(dict.fromkeys(patient_ids)))  # a few queries for them all
    picked: list[tuple[PatientRun, list[Any], Any]] = []  # each patient's plugins, record view
    for run in runs:
        if job is not None and job.cancelled:
            break
        try:
            chosen, view = engine.select_plugins(store, settings, run.patient_id, day, every,
                                                 plugin_ids, record=rows)
        except OncoboardError as exc:
            run.error = exc
            chosen, view = [], None
        picked.append((run, chosen, view))
    slots: dict[tuple[int, int], engine.PendingResult] = {}

    def begin(i: int, j: int) -> engine.PendingResult:
        run, chosen, view = picked[i]
        asm = engine.assemble_safely(store, chosen[j], run.patient_id, day, view)
        slots[i, j] = engine.begin_result(chosen[j], asm, settings.providers,
                                          patient_id=run.patient_id, reference_date=day,
                                          user=user)
        return slots[i, j]

    if not save:
        return _run_cases(runs, picked, begin, slots, settings, explain_it, job, progress,
                          None)
    try:
        with prediction_store.Writer(store) as writer:
            return _run_cases(runs, picked, begin, slots, settings, explain_it, job, progress,
                              writer)
    except OncoboardError as exc:  # nothing was stored: every patient with results failed
        return _failed([run for run, chosen, _ in picked if chosen and run.error is None],
                       exc, runs)


def _run_cases(runs: list[PatientRun], picked: list[tuple[PatientRun, list[Any], Any]],
               begin: Callable[[int, int], engine.PendingResult],
               slots: dict[tuple[int, int], engine.PendingResult], settings: Any,
               explain_it: bool, job: runtime.Job | None,
               progress: Callable[[int, int, str], None] | None,
               writer: Any) -> list[PatientRun]:
    """Run the picked cases' models; with a `writer`, store each result as soon as there is
    time (while a model runs) and the rest at the end; return the runs."""
    from oncoboard.inference import prediction_store

    pending: list[tuple[engine.PendingResult, Any]] = []  # prepared, not yet written
    stored: dict[int, Prediction] = {}

    def close(case: engine.PendingResult) -> None:
        # finished, recalibrated and (when stored) serialised while other models still run
        case.result = recalibration.recalibrated(case.plugin, case.finish(), settings)
        if writer is not None:
            pending.append((case, prediction_store.prepare(case.result, settings)))

    def write_pending(most: int | None = None) -> bool:
        """Store the prepared results (at most `most`: a millisecond's work, so that a model
        done meanwhile waits no longer); return False when there were none."""
        part = pending[:most]
        if not part:
            return False
        done = writer.add([r for _, r in part])
        stored.update((id(c), p) for (c, _), p in zip(part, done, strict=True))
        del pending[:len(part)]
        return True

    with _Calls(settings.providers, explain_it, job) as calls:
        # the slowest model's cases first: its batch runs while the others' inputs are read
        first = _slowest([p for _, chosen, _ in picked for p in chosen])
        if first is not None:
            calls.start([begin(i, j) for i, (_, chosen, _) in enumerate(picked)
                         for j, p in enumerate(chosen) if p is first])
        for i, (run, chosen, _) in enumerate(picked):
            if job is not None and job.cancelled:
                break
            for j in range(len(chosen)):
                if job is not None and job.cancelled:
                    break
                if (i, j) not in slots:
                    begin(i, j)
            if progress is not None:
                progress(i + 1, len(runs), run.patient_id)
        cases = [(run, slots[i, j]) for i, (run, chosen, _) in enumerate(picked)
                 for j in range(len(chosen)) if (i, j) in slots]
        calls.start([c for _, c in cases if (first is None or c.plugin is not first)],
                    last=True)
        for _, case in cases:  # refused before any model ran: closed while the models run
            if case.status != "ok":
                close(case)
        # the results ready are stored while the models still run, a few at a time
        calls.read(close, idle=(lambda: write_pending(WRITE_ROWS)) if writer is not None
                   else None)
    if writer is None:
        for run, case in cases:
            assert case.result is not None  # every case is closed by calls.read
            run.predictions.append(replace(case.result, images={}))
        return runs
    write_pending()
    for run, case in cases:
        run.predictions.append(stored[id(case)])
    return runs


def _failed(failed: list[PatientRun], exc: OncoboardError,
            runs: list[PatientRun] | None = None) -> list[PatientRun]:
    for run in failed:
        run.predictions, run.error = [], exc
    return failed if runs is None else runs


#: Model calls at once. onnxruntime releases the GIL: on two cores one plugin's batch runs
#: while the results of another are read and serialised (each session keeps its own thread
#: settings; a row's result does not depend on the rows run with it).
WORKERS = max(1, min(2, os.cpu_count() or 1))
#: Results stored at a time while the models run (about a millisecond's work).
WRITE_ROWS = 12
#: A batch of twice this many rows or more is split in one call per worker.
CHUNK_ROWS = 32
#: Seconds per row of each model, as measured by the last run (the costliest start first).
_COST: dict[str, float] = {}


class _Group:
    """One plugin's cases of the board, their rows and the model calls made for them."""

    def __init__(self, plugin: Any):
        self.plugin = plugin
        self.cases: list[engine.PendingResult] = []
        self.parts: list[tuple[engine.PendingResult, dict[str, Any], int, int]] = []
        self.rows: list[dict[str, Any]] = []
        self.outs: list[list[dict[str, Any]]] = []
        self.errors: list[Exception] = []
        self.ms: Any = None
        self.seconds = 0.0
        self.left = 0

    def plan(self, explain_it: bool, split: bool = True) -> list[tuple[int, int]]:
        m = self.plugin.manifest
        for case in self.cases:
            more, plan = engine.plan_rows(m, case.asm, explain_it)
            self.parts.append((case, plan, len(self.rows), len(more)))
            self.rows += more
        n = len(self.rows)
        pieces = WORKERS if split and n >= 2 * CHUNK_ROWS else 1
        size = -(-n // pieces)
        bounds = [(a, min(n, a + size)) for a in range(0, n, size)]
        self.outs = [[] for _ in bounds]
        self.left = len(bounds)
        return bounds

    def run(self, index: int, rows: list[dict[str, Any]], providers: Sequence[str],
            job: runtime.Job | None) -> None:
        started = time.perf_counter()
        try:
            self.outs[index], self.ms = run_rows(self.plugin.manifest, self.plugin.model_path,
                                                 providers, rows, job)
        except Exception as exc:  # noqa: BLE001 - given to the caller's thread
            self.errors.append(exc)
        self.seconds += time.perf_counter() - started

    def read(self, providers: Sequence[str], explain_it: bool, job: runtime.Job | None,
             close: Callable[[engine.PendingResult], None]) -> None:
        """Give each case its results (or refusal), then `close` it."""
        m = self.plugin.manifest
        errors = self.errors
        if errors and not all(isinstance(e, OncoboardError | ValueError) for e in errors):
            raise errors[0]
        cancelled = next((e for e in errors if isinstance(e, OncoboardError)
                          and e.reason == "cancelled"), None)
        if cancelled is not None:
            for case in self.cases:
                case.fail(cancelled)
        elif errors:  # a case's rows can fail the batch (an image of another shape): alone
            log.info("%s: the board's batch failed (%s); running case by case",
                     self.plugin.id, type(errors[0]).__name__)
            for case in self.cases:
                case.evaluate(providers, explain_it=explain_it, job=job)
        else:
            _COST[str(self.plugin.model_path)] = self.seconds / len(self.rows)
            outs = [o for chunk in self.outs for o in chunk]
            shared = self.seconds / len(self.rows)
            for case, plan, first, n in self.parts:
                started = time.perf_counter()
                try:
                    case.got = engine.read_results(m, case.asm, plan, outs[first:first + n],
                                                   self.ms, explain_it=explain_it)
                except OncoboardError as exc:
                    case.fail(exc)
                case.spent += shared * n + time.perf_counter() - started
        for case in self.cases:
            close(case)


def _cost(call: tuple[_Group, int, list[Any]]) -> float:
    """Seconds a call is expected to take (from the last run; unknown: first)."""
    return _COST.get(str(call[0].plugin.model_path), float("inf")) * len(call[2])


def _slowest(plugins: list[Any]) -> Any:
    """Return the plugin whose batch the last run measured the slowest, when there are others
    to assemble while it runs; else None (a first run, one plugin, one worker)."""
    cases: dict[int, int] = {}
    for p in plugins:  # by identity: comparing plugins compares their manifests
        cases[id(p)] = cases.get(id(p), 0) + 1
    if WORKERS == 1 or len(cases) < 2:
        return None
    known = [(_COST[str(p.model_path)] * cases[id(p)], i) for i, p in enumerate(plugins)
             if str(p.model_path) in _COST]
    return plugins[max(known)[1]] if known else None


class _Calls:
    """The board's model calls, on worker threads: each plugin's group is read (on the
    caller's thread) as soon as its calls are done."""

    def __init__(self, providers: Sequence[str], explain_it: bool, job: runtime.Job | None):
        self.providers, self.explain_it, self.job = providers, explain_it, job
        self.groups: list[_Group] = []
        self.waiting: list[tuple[_Group, int, list[Any]]] = []  # run on the caller's thread
        self.pool: cf.ThreadPoolExecutor | None = None
        self.finished: queue.SimpleQueue[_Group] = queue.SimpleQueue()
        self.lock = threading.Lock()

    def __enter__(self) -> _Calls:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:  # never leave a call running: the caller waits for each
            self.pool.shutdown(wait=True)

    def start(self, cases: list[engine.PendingResult], *, last: bool = False) -> None:
        """Plan the cases' rows, one group per plugin, and start their calls.

        The calls start at once on the worker threads; the last ones, when they are all the
        board's calls and one call or one worker does them, on the caller's thread in `read`.
        """
        groups: dict[int, _Group] = {}
        for case in cases:
            if case.status == "ok":
                groups.setdefault(id(case.plugin), _Group(case.plugin)).cases.append(case)
        # started early, a batch runs in one call: the caller's thread needs the other core
        calls = [(g, i, g.rows[a:b]) for g in groups.values()
                 for i, (a, b) in enumerate(g.plan(self.explain_it, split=last))]
        self.groups += groups.values()
        if self.pool is None and last and (WORKERS == 1 or len(calls) < 2):
            self.waiting = calls
            return
        if self.pool is None:
            self.pool = cf.ThreadPoolExecutor(WORKERS, thread_name_prefix="oncoboard-board")
        # the quick first: the caller reads their results while the slower ones run
        for g, i, rows in sorted(calls, key=_cost):
            self.pool.submit(self._one, g, i, rows)

    def _one(self, g: _Group, i: int, rows: list[Any]) -> None:
        try:
            g.run(i, rows, self.providers, self.job)
        finally:  # the caller waits for every group: never leave one unfinished
            with self.lock:
                g.left -= 1
                last = g.left == 0
            if last:
                self.finished.put(g)

    def read(self, close: Callable[[engine.PendingResult], None],
             idle: Callable[[], bool] | None = None) -> None:
        """Give every group's cases their results, each group as soon as its calls are done,
        and `close` each case. While no group is done, `idle` (if any) is called again and
        again, a short piece of work each time, until it says there is none (False)."""
        for g, i, rows in self.waiting:
            g.run(i, rows, self.providers, self.job)
        if self.pool is None:
            for g in self.groups:
                g.read(self.providers, self.explain_it, self.job, close)
            return
        for _ in self.groups:
            while True:
                try:
                    g = self.finished.get_nowait()
                    break
                except queue.Empty:  # every finished group read: the time is the idle work's
                    if idle is None or not idle():
                        g = self.finished.get()
                        break
            g.read(self.providers, self.explain_it, self.job, close)


def predict_patients(store_path: Any, settings: Settings, patient_ids: Sequence[str], *,
                     date: dt.date | str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> runtime.Job:
    """Predict for several patients (a board) off the caller's thread; cancellable.

    The worker opens its own connection to the database at `store_path` (SQLite connections
    must not cross threads). The Job's result is a list (one list of predictions per patient).
    """
    from oncoboard.store import open_store

    if store_path is None:
        raise InferenceError("background predictions need a database file, not an in-memory "
                             "store")

    def work(pid: str, job: runtime.Job) -> list[Prediction]:
        s = open_store(store_path)
        try:
            return engine.predict_patient(s, settings, pid, date=date, job=job)
        finally:
            s.close()

    return runtime.submit(list(patient_ids), work, progress=progress)
