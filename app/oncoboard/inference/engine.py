"""Run plugins: on a patient (``predict_patient``) or on given values (``run_plugin``).

One call assembles and checks the inputs (:mod:`oncoboard.inference.inputs`), builds one batch
holding the patient, the what-if scenarios, the reference case and the explanation variants, runs
it once on the cached onnxruntime session (:mod:`oncoboard.inference.model_io`), and returns the
result as a :class:`~oncoboard.inference.prediction.Prediction`. :func:`predict_patient` also
stores each one with its provenance and appends it to the audit trail
(:mod:`oncoboard.inference.prediction_store`) and returns them as stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard import __version__
from oncoboard.errors import InferenceError, OncoboardError
from oncoboard.inference import explain, runtime
from oncoboard.inference.inputs import (
    Assembly,
    assemble_given,
    assemble_record,
    code_value,
    reference_of,
)
from oncoboard.inference.manifest import ClinicalInput, Manifest, Output, TextInput
from oncoboard.inference.model_io import (
    curves,
    format_outputs,
    format_rows,
    image_outputs,
    read_output,
    run_rows,
)
from oncoboard.inference.prediction import SYNTHETIC_LABEL, Prediction
from oncoboard.inference.prediction_parts import (
    Explanation,
    Flag,
    InputRecord,
    OutputResult,
    PluginIdentity,
    Scenario,
)

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)
#: Population criteria that keep a plugin out of the automatic selection even when it flags
#: (a geriatric score is not run on a 42-year-old unless named).
AUTO_SKIP_CRITERIA = frozenset({"age", "diagnosis", "treatment"})


# ---------------------------------------------------------------------------------------------
# The batch: patient, scenarios, reference, explanation variants
# ---------------------------------------------------------------------------------------------


def _base_row(asm: Assembly, manifest: Manifest) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for spec in manifest.inputs:
        v = asm.values.get(spec.name)
        if v is None:
            continue
        row[spec.name] = v.array if spec.kind == "image" else v.coded
    return row


def _references(manifest: Manifest) -> dict[str, tuple[Any, Any]]:
    refs = {}
    for spec in manifest.inputs:
        if isinstance(spec, ClinicalInput):
            ref = reference_of(spec)
            if ref is not None:
                refs[spec.name] = code_value(spec, ref)
    return refs


def plan_rows(manifest: Manifest, asm: Assembly, explain_it: bool
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the rows of one case's batch (patient, scenarios, reference, explanation
    variants) and where each part of the result sits in them."""
    base = _base_row(asm, manifest)
    rows = [base]
    plan: dict[str, Any] = {"scenarios": [], "occlusion": [], "text": []}
    for sc in manifest.scenarios:
        row = dict(base)
        for key, raw in sc.overrides.items():
            row[key] = code_value(manifest.input(key), raw)[1]  # type: ignore[arg-type]
        plan["scenarios"].append((sc, len(rows)))
        rows.append(row)
    method = manifest.explanation.method
    if not explain_it:
        return rows, plan
    refs = _references(manifest)
    plan["refs"] = refs
    clinical = [s for s in manifest.inputs if isinstance(s, ClinicalInput)]
    if all(s.name in refs for s in clinical) and clinical and method != "none":
        plan["reference"] = len(rows)
        rows.append({**base, **{k: v[1] for k, v in refs.items()}})
    if method == "occlusion":
        for s in clinical:
            if s.name in refs:
                plan["occlusion"].append((s.name, len(rows)))
                rows.append({**base, s.name: refs[s.name][1]})
    for spec in manifest.inputs:
        if isinstance(spec, TextInput) and spec.explain and asm.values.get(spec.name):
            text = asm.values[spec.name].text or ""
            spans = explain.sentences(text)[: explain.MAX_SENTENCES]
            for span in spans:
                plan["text"].append((spec.name, span, len(rows)))
                rows.append({**base, spec.name: explain.without(text, span)})
    return rows, plan


def explained_scalar(manifest: Manifest, outs: list[dict[str, np.ndarray]]
                     ) -> tuple[Output, str, int, Callable[[int], float]]:
    """Return the explained output, its additive scale, its time index, and g(row).

    g(row) is the explained output of run `row` on that scale: what explanations add up to
    and what the coefficient check (checks.py) compares the declared coefficients with.
    """
    ex = manifest.explanation
    target = explain.explained_output(manifest)
    scale = ex.scale or explain.default_scale(target)
    idx = explain.time_index(target, ex.at_time)

    seen: dict[int, float] = {}  # g(0) is every difference's first term: read once

    def g(row: int) -> float:
        if row not in seen:
            seen[row] = explain.transform(
                explain.scalar_of(target, read_output(target, outs[row]), idx), scale)
        return seen[row]

    return target, scale, idx, g


def _explanation(manifest: Manifest, asm: Assembly, plan: dict[str, Any],
                 outs: list[dict[str, np.ndarray]]) -> dict[str, Any] | None:
    ex = manifest.explanation
    if ex.method == "none" and not plan["text"]:
        return None
    target, scale, idx, g = explained_scalar(manifest, outs)
    result: dict[str, Any] = {"method": ex.method, "output": target.name, "scale": scale,
                              "at_time": target.time_grid[idx] if target.time_grid else None,
                              "value": g(0), "contributions": [], "sentences": []}
    if "reference" in plan:
        result["reference_value"] = g(plan["reference"])
    if ex.method in ("linear", "cox") and "reference" in plan:
        values = {k: (v.value, v.coded) for k, v in asm.values.items()}
        result["contributions"] = explain.linear_contributions(manifest, values, plan["refs"])
    for name, row in plan["occlusion"]:
        value = asm.values[name].value
        result["contributions"].append({"input": name, "value": value,
                                        "reference": plan["refs"][name][0],
                                        "contribution": g(0) - g(row)})
    if result["contributions"] and "reference_value" in result:
        total = sum(c["contribution"] for c in result["contributions"])
        result["sum"] = total
        result["residual"] = (result["value"] - result["reference_value"]) - total
    moved = []
    for name, span, row in plan["text"]:
        where = explain.locate(span, asm.values[name].segments)
        moved.append({"input": name, **where, "delta": g(0) - g(row)})
    moved.sort(key=lambda m: -abs(m["delta"]))
    # a sentence whose removal changes nothing did not move the result: it is not evidence
    moved = [m for m in moved if abs(m["delta"]) > explain.UNMOVED]
    result["sentences"] = moved[: ex.max_sentences]
    return result


def _scenarios(manifest: Manifest, plan: dict[str, Any], outs: list[dict[str, np.ndarray]],
               actual: dict[str, Any], typed: dict[str, OutputResult]) -> list[Scenario]:
    if not plan["scenarios"]:
        return []
    shown, arrays = format_rows(manifest, [outs[row] for _, row in plan["scenarios"]])
    done = list(zip((sc for sc, _ in plan["scenarios"]), shown, strict=True))
    at = next((i for i, (sc, _) in enumerate(done) if sc.baseline), None)
    base = actual if at is None else done[at][1]
    # a curve's benefit: the difference of the stored curves, at their precision
    benefits = {k: curves(a - (a[at] if at is not None else np.asarray(actual[k]["values"])))
                .tolist() for k, a in arrays.items()}
    return [Scenario(name=sc.name, baseline=sc.baseline, overrides=dict(sc.overrides),
                     description=sc.description,
                     outputs={k: typed[k].with_numbers(v) for k, v in o.items()},
                     benefit={k: benefits[k][i] if k in benefits else v["value"] - base[k]["value"]
                              for k, v in o.items()})
            for i, (sc, o) in enumerate(done)]


def evaluate(manifest: Manifest, model_path: Path, providers: Sequence[str], asm: Assembly,
             *, explain_it: bool = True, job: runtime.Job | None = None) -> dict[str, Any]:
    """Run the model on an assembled case; return outputs, scenarios, explanation, provider."""
    rows, plan = plan_rows(manifest, asm, explain_it)
    outs, ms = run_rows(manifest, model_path, providers, rows, job)
    return read_results(manifest, asm, plan, outs, ms, explain_it=explain_it)


def read_results(manifest: Manifest, asm: Assembly, plan: dict[str, Any],
                 outs: list[dict[str, np.ndarray]], ms: runtime.ModelSession, *,
                 explain_it: bool = True) -> dict[str, Any]:
    """Return outputs, scenarios, explanation and provider from one case's rows' outputs."""
    for w in ms.warnings:
        asm.warn("provider", w)
    outputs = format_outputs(manifest, outs[0])
    typed = {k: OutputResult.from_dict(k, v) for k, v in outputs.items()}
    explanation = _explanation(manifest, asm, plan, outs) if explain_it else None
    return {"outputs": typed,
            "scenarios": tuple(_scenarios(manifest, plan, outs, outputs, typed)),
            "explanation": Explanation.from_dict(explanation) if explanation else None,
            "provider": ms.provider, "providers_requested": tuple(ms.requested),
            "provider_notes": tuple(ms.notes), "images": image_outputs(manifest, outs[0])}


# ---------------------------------------------------------------------------------------------
# Results: calculator mode and patients
# ---------------------------------------------------------------------------------------------


def plugin_identity(plugin: Any) -> PluginIdentity:
    """Return the plugin's identity as recorded in a prediction."""
    m = plugin.manifest
    return PluginIdentity(id=m.id, name=m.name, version=m.version, task=m.task,
                          model_sha256=m.model.sha256, manifest_sha256=plugin.manifest_sha256,
                          origin=plugin.origin, signed=plugin.signed, synthetic=m.synthetic,
                          training_data=m.training_data.source)


def make_result(plugin: Any, asm: Assembly, providers: Sequence[str], *,
                patient_id: str | None, reference_date: dt.date | None,
                explain_it: bool = True, job: runtime.Job | None = None,
                user: str | None = None) -> Prediction:
    """Run an assembled case (unless refused) and return its prediction (not stored).

    `user`: who asks (the store's signed-in user); default the OS login (calculator mode).
    """
    case = begin_result(plugin, asm, providers, patient_id=patient_id,
                        reference_date=reference_date, user=user)
    if case.status == "ok":
        case.evaluate(providers, explain_it=explain_it, job=job)
    return case.finish()


class PendingResult:
    """A case whose inputs are checked and hashed, waiting for its model run (``got``)."""

    def __init__(self, plugin: Any, asm: Assembly, providers: Sequence[str],
                 patient_id: str | None, reference_date: dt.date | None,
                 user: str | None = None):
        from oncoboard.audit import canonical_json, sha256_text

        self.plugin, self.asm, self.patient_id = plugin, asm, patient_id
        self.user = user  # who asks; None: the OS login (calculator mode)
        self.reference_date = reference_date
        started = time.perf_counter()
        #: seconds of work for this case (its share of a run made for several cases included)
        self.spent = 0.0
        m: Manifest = plugin.manifest
        check_values(m, asm)
        self.created_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        self.snapshot = {k: v.snapshot() for k, v in sorted(asm.values.items())}
        self.inputs_text = canonical_json(self.snapshot)  # what the document stores
        self.input_sha256 = sha256_text(self.inputs_text)
        if m.synthetic:
            asm.warnings.insert(0, {"code": "synthetic", "message": SYNTHETIC_LABEL,
                                    "input": None})
        self.refusal = list(asm.refusals)
        self.status = "refused" if self.refusal else "ok"
        self.got: dict[str, Any] = {"providers_requested": tuple(providers)}
        self.result: Prediction | None = None  # the prediction, once finished
        self.spent += time.perf_counter() - started

    def evaluate(self, providers: Sequence[str], *, explain_it: bool = True,
                 job: runtime.Job | None = None) -> None:
        """Run the model on this case alone."""
        started = time.perf_counter()
        try:
            self.got = evaluate(self.plugin.manifest, self.plugin.model_path, providers,
                                self.asm, explain_it=explain_it, job=job)
        except OncoboardError as exc:
            self.fail(exc)
        self.spent += time.perf_counter() - started

    def fail(self, exc: OncoboardError) -> None:
        """Record a run that failed: refused, or cancelled."""
        self.status = "refused" if exc.reason != "cancelled" else "cancelled"
        self.refusal = [exc.message]
        self.asm.warn("runtime", exc.message)

    def finish(self) -> Prediction:
        """Return the prediction (not stored)."""
        from oncoboard.audit import os_user

        started = time.perf_counter()
        m: Manifest = self.plugin.manifest
        asm = self.asm
        inputs = {k: InputRecord.from_dict(k, v) for k, v in self.snapshot.items()}
        return Prediction(
            plugin=plugin_identity(self.plugin), patient_id=self.patient_id,
            reference_date=self.reference_date.isoformat() if self.reference_date else None,
            status=self.status, refusal=tuple(self.refusal),
            synthetic_label=SYNTHETIC_LABEL if m.synthetic else None,
            outside_intended_use=asm.population.get("in_population") is False,
            population=asm.population,
            inputs=inputs, input_sha256=self.input_sha256,
            texts={"inputs": (inputs, self.inputs_text)},
            warnings=tuple(Flag.from_dict(w) for w in asm.warnings),
            app_version=__version__, os_user=self.user or os_user(), created_at=self.created_at,
            duration_ms=round((self.spent + time.perf_counter() - started) * 1000, 3),
            **self.got)


def begin_result(plugin: Any, asm: Assembly, providers: Sequence[str], *,
                 patient_id: str | None, reference_date: dt.date | None,
                 user: str | None = None) -> PendingResult:
    """Check and hash an assembled case's inputs; return it waiting for its model run.

    `user`: who asks (the store's signed-in user); default the OS login (calculator mode)."""
    return PendingResult(plugin, asm, providers, patient_id, reference_date, user)


def check_values(manifest: Manifest, asm: Assembly) -> None:
    """Refuse fractional counts; flag values outside the training support, in a caution range,
    or contradicting another input (postmenopausal at 30), in plain words."""
    from oncoboard.inference import checks

    values = {k: v.value for k, v in asm.values.items()
              if v.value is not None and v.status not in ("missing", "invalid")}
    if not values:
        return
    for why in checks.input_refusals(manifest, values):
        asm.refuse(why, why.split(" ", 1)[0])
    for spec in manifest.inputs:
        if isinstance(spec, ClinicalInput) and spec.name in values:
            flag = checks.support_flag(spec, values[spec.name])
            if flag:
                asm.warn("extrapolated", flag, spec.name)
            for caution in checks.caution_flags(spec, values[spec.name]):
                asm.warn("caution", caution, spec.name)
    for flag in checks.consistency_flags(manifest, values):
        asm.warn("inconsistent", flag, flag.split(" ", 1)[0])


def run_plugin(plugin: Any, given: dict[str, Any], settings: Settings, *, explain_it: bool = True,
               job: runtime.Job | None = None) -> Prediction:
    """Run one plugin on values typed by a user (calculator mode); nothing is stored.

    Values are checked exactly as record values are (units, ranges, categories, missing policy).
    """
    m = plugin.require()
    asm = assemble_given(m, given)
    pred = make_result(plugin, asm, settings.providers, patient_id=None, reference_date=None,
                       explain_it=explain_it, job=job)
    return replace(pred, images={})


def run_table(plugin: Any, rows: list[dict[str, Any]], settings: Settings, *,
              progress: Callable[[int, int], None] | None = None) -> runtime.Job:
    """Run a plugin on many rows off the caller's thread; the Job's result is the predictions."""
    plugin.require()

    def work(row: dict[str, Any], job: runtime.Job) -> Prediction:
        return run_plugin(plugin, row, settings, job=job)

    return runtime.submit(rows, work, progress=progress)


def applicable_plugins(store: Store, settings: Settings, patient_id: str, reference_date: dt.date,
                       plugins: Sequence[Any] | None = None, view: Any = None
                       ) -> list[tuple[Any, dict[str, Any]]]:
    """Return (plugin, population check) for the enabled plugins that apply to the patient.

    A plugin applies when the patient is in its population, or is outside it only on criteria
    the plugin flags rather than refuses (sex: the result is then marked "outside intended
    use"). It never applies automatically when the patient's age is outside its declared
    range (CARG, for 65 and over, is not run on a 42-year-old), nor when the patient's
    recorded primary cancer is not one
    of its declared diagnoses (a breast model is not run on a lung cancer), nor when the
    patient has no treatment matching its declared treatment (a chemotherapy toxicity model is
    not run on a patient not on or starting chemotherapy on the reference date). Named
    explicitly (``predict_patient(plugin_ids=...)``), a plugin runs whatever the population,
    flagged or refused as its manifest says.
    """
    from oncoboard.inference.discovery import discover_plugins
    from oncoboard.inference.population import check_population
    from oncoboard.inference.record_access import RecordView

    plugins = discover_plugins(settings) if plugins is None else plugins
    rv = view if view is not None else RecordView(store, patient_id, reference_date)
    out = []
    for p in plugins:
        if not p.enabled:
            continue
        m = p.require()
        pop = check_population(rv, m)
        if pop["in_population"] or (m.population.out_of_population == "flag"
                                    and not set(pop["failed"]) & AUTO_SKIP_CRITERIA):
            out.append((p, pop))
        else:
            log.debug("%s does not apply to %s: %s", p.id, patient_id, "; ".join(pop["reasons"]))
    return out


def predict_patient(store: Store, settings: Settings, patient_id: str, *,
                    date: dt.date | str | None = None, plugin_ids: Sequence[str] | None = None,
                    save: bool = True, explain_it: bool = True,
                    plugins: Sequence[Any] | None = None,
                    job: runtime.Job | None = None) -> list[Prediction]:
    """Run the applicable plugins (or those named) on a patient; store and audit each result.

    Parameters
    ----------
    date
        Reference date (the board's date); default today.
    plugin_ids
        Run these plugins (even when the patient is outside their population: the result is
        then flagged, or refused per the manifest); default: every applicable plugin.
    save
        Store each result in the predictions table and the audit trail.
    """
    from oncoboard.inference.batch import predict_many

    (run,) = predict_many(store, settings, [patient_id], date=date, plugin_ids=plugin_ids,
                          save=save, explain_it=explain_it, plugins=plugins, job=job)
    if run.error is not None:
        raise run.error
    return run.predictions


def select_plugins(store: Store, settings: Settings, patient_id: str, day: dt.date,
                   every: Sequence[Any], plugin_ids: Sequence[str] | None, *,
                   record: Any = None) -> tuple[list[Any], Any]:
    """Return the plugins to run on a patient (those named, else the applicable ones) and the
    patient's record view; raise NotFoundError, or InferenceError for a date before birth.

    `record` replaces :mod:`oncoboard.patients.record` as the source of the rows (a
    :class:`~oncoboard.inference.record_chunk.ChunkRecord` of several patients).
    """
    from oncoboard.inference.record_access import RecordView

    view = RecordView(store, patient_id, day, record=record)
    patient = view.patient  # NotFoundError for an unknown id
    if patient.birth_date and day.isoformat() < patient.birth_date[:10]:
        # a typo in --date (1900 for 2019) gave stored results "age -85 outside 18-120"
        raise InferenceError(f"reference date {day} is before the birth of patient "
                             f"{patient_id} ({patient.birth_date[:10]})", where="predict")
    if not plugin_ids:
        return [p for p, _ in applicable_plugins(store, settings, patient_id, day, every,
                                                 view)], view
    chosen = []
    for pid in plugin_ids:
        match = [p for p in every if p.id == pid]
        if not match:
            raise OncoboardError(f"no plugin {pid!r}", where="predict")
        match[0].require()
        chosen.append(match[0])
    return chosen, view


def assemble_safely(store: Store, plugin: Any, patient_id: str, day: dt.date, view: Any
                    ) -> Assembly:
    """Assemble a plugin's inputs from the record; an internal error refuses that plugin only."""
    try:
        return assemble_record(store, plugin.require(), patient_id, day, view)
    except Exception as exc:  # one plugin's failure must not stop the others
        log.exception("assembling inputs of %s for %s", plugin.id, patient_id)
        asm = Assembly()
        asm.refuse(f"internal error while assembling the inputs ({type(exc).__name__}); "
                   f"see the log")
        return asm


def _as_date(value: dt.date | str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise InferenceError(f"invalid date {value!r} (expected YYYY-MM-DD)") from exc
