"""Run plugins: on a patient (``predict_patient``) or on given values (``run_plugin``).

One call assembles and checks the inputs (:mod:`oncoboard.inference.features`), builds one batch
holding the patient, the what-if scenarios, the reference case and the explanation variants, runs
it once on the cached onnxruntime session, and formats the result as the prediction document
described in README, "Predictions JSON schema". :func:`predict_patient` also stores each result
with its provenance and appends it to the audit trail (:mod:`oncoboard.inference.predictions`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard import __version__
from oncoboard.errors import InferenceError, OncoboardError
from oncoboard.inference import explain, recalibration, runtime
from oncoboard.inference.features import (
    Assembly,
    assemble_given,
    assemble_record,
    code_value,
    reference_of,
)
from oncoboard.inference.manifest import ClinicalInput, Manifest, Output, TextInput, tensor_of

log = logging.getLogger(__name__)

SYNTHETIC_LABEL = "synthetic - demonstration only"
#: Population criteria that keep a plugin out of the automatic selection even when it flags.
AUTO_SKIP_CRITERIA = frozenset({"diagnosis", "treatment"})
NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64,
             "int32": np.int32, "bool": np.bool_, "string": object, "uint8": np.uint8,
             "int16": np.int16}


# ---------------------------------------------------------------------------------------------
# Feeding the graph and reading it back
# ---------------------------------------------------------------------------------------------


def build_feeds(manifest: Manifest, rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Return the graph feeds for a batch of rows (input name -> coded value, text or array)."""
    feeds: dict[str, np.ndarray] = {}
    n = len(rows)
    for spec in manifest.model.inputs:
        dtype = NP_DTYPES[spec.dtype]
        users = [i for i in manifest.inputs if tensor_of(i) == spec.name
                 and not (i.kind == "image" and i.mode == "features")]
        if any(u.column is not None for u in users):
            width = max(u.column for u in users if u.column is not None) + 1
            arr = np.zeros((n, width), dtype=dtype) if dtype is not object else \
                np.empty((n, width), dtype=object)
            for u in users:
                arr[:, u.column] = [row[u.name] for row in rows]
            feeds[spec.name] = arr
            continue
        name = users[0].name
        if users[0].kind == "image":
            stacked: np.ndarray = np.stack([np.asarray(row[name]) for row in rows]).astype(dtype)
            rest = [d if isinstance(d, int) and d >= 0 else -1 for d in spec.shape[1:]]
            feeds[spec.name] = stacked.reshape([n, *rest])
            continue
        values = [row[name] for row in rows]
        arr = np.array(values, dtype=dtype)
        feeds[spec.name] = arr.reshape([n] + [1] * (len(spec.shape) - 1))
    return feeds


def _batch_dynamic(manifest: Manifest) -> bool:
    return all(t.shape and not (isinstance(t.shape[0], int) and t.shape[0] >= 0)
               for t in manifest.model.inputs)


def run_rows(manifest: Manifest, model_path: Path, providers: Sequence[str],
             rows: list[dict[str, Any]], job: runtime.Job | None = None,
             ) -> tuple[list[dict[str, np.ndarray]], runtime.ModelSession]:
    """Run the model on rows; return per-row outputs {tensor: array} and the session used."""
    names = sorted({t.name for t in manifest.model.outputs})
    opts = job.run_options() if job is not None else None
    batches = [rows] if _batch_dynamic(manifest) else [[r] for r in rows]
    per_row: list[dict[str, np.ndarray]] = []
    ms = None
    for batch in batches:
        out, ms = runtime.run_model(model_path, manifest.model.sha256, providers,
                                    build_feeds(manifest, batch), names, opts)
        for i in range(len(batch)):
            per_row.append({k: np.asarray(v)[i] for k, v in out.items()})
    assert ms is not None
    return per_row, ms


def _finite(values: np.ndarray, what: str) -> None:
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise InferenceError(f"the model returned a non-finite {what}")


def read_output(out: Output, row: dict[str, np.ndarray]) -> Any:
    """Return an output's value for one row: float, list of floats (curve) or array (image)."""
    arr = np.asarray(row[tensor_of(out)])
    if out.column is not None:
        arr = arr[..., out.column]
    if out.kind == "image":
        return arr
    _finite(arr, out.name)
    if out.kind in ("survival", "probability") and arr.size and (
            float(arr.min()) < -1e-6 or float(arr.max()) > 1 + 1e-6):
        raise InferenceError(f"the model returned {out.name} outside [0, 1] "
                             f"({float(arr.min()):.4g}..{float(arr.max()):.4g})")
    if out.kind == "survival":
        return [float(v) for v in np.ravel(arr)]
    flat = np.ravel(arr)
    if flat.size != 1:
        raise InferenceError(f"output {out.name}: expected one value, got {flat.size}")
    return float(flat[0])


def band_of(out: Output, value: float) -> str | None:
    """Return the risk band label a value falls in."""
    for i, band in enumerate(out.risk_bands):
        last = i == len(out.risk_bands) - 1
        if value < band.upper or (last and value <= band.upper):
            return band.label
    return None


def format_outputs(manifest: Manifest, row: dict[str, np.ndarray]) -> dict[str, Any]:
    """Return the JSON outputs of one row (bounds folded into the outputs they bound)."""
    raw = {o.name: read_output(o, row) for o in manifest.outputs}
    shown: dict[str, Any] = {}
    for o in manifest.outputs:
        v = raw[o.name]
        item: dict[str, Any] = {"kind": o.kind, "label": o.label or o.name, "display": o.display}
        if o.kind == "image":
            a = np.asarray(v)
            item.update(shape=list(a.shape), dtype=str(a.dtype),
                        min=float(a.min()) if a.size else None,
                        max=float(a.max()) if a.size else None)
        elif o.kind == "survival":
            item.update(times=o.time_grid, time_unit=o.time_unit, quantity=o.quantity, values=v)
            if len(v) != len(o.time_grid):
                raise InferenceError(f"output {o.name}: {len(v)} values for a time grid of "
                                     f"{len(o.time_grid)}")
        else:
            item.update(value=v, unit=o.unit, band=band_of(o, v) if o.risk_bands else None,
                        bands=[{"label": b.label, "upper": b.upper} for b in o.risk_bands])
        if o.lower or o.upper:
            item.update(lower=raw[o.lower] if o.lower else None,
                        upper=raw[o.upper] if o.upper else None, interval_level=o.interval_level)
        shown[o.name] = item
    return shown


def image_outputs(manifest: Manifest, row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the image outputs' arrays of one row."""
    return {o.name: np.asarray(read_output(o, row)) for o in manifest.outputs
            if o.kind == "image"}


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


def _plan(manifest: Manifest, asm: Assembly, explain_it: bool
          ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the rows to run and where each part of the result sits in them."""
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

    def g(row: int) -> float:
        return explain.transform(explain.scalar_of(target, read_output(target, outs[row]), idx),
                                 scale)

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
               actual: dict[str, Any]) -> list[dict[str, Any]]:
    done = []
    for sc, row in plan["scenarios"]:
        done.append({"name": sc.name, "baseline": sc.baseline, "overrides": sc.overrides,
                     "description": sc.description,
                     "outputs": {k: v for k, v in format_outputs(manifest, outs[row]).items()
                                 if v["kind"] != "image"}})
    base = next((s["outputs"] for s in done if s["baseline"]), actual)
    for s in done:
        s["benefit"] = {k: _diff(v, base[k]) for k, v in s["outputs"].items()}
    return done


def _diff(a: dict[str, Any], b: dict[str, Any]) -> Any:
    if a["kind"] == "survival":
        return [x - y for x, y in zip(a["values"], b["values"], strict=True)]
    return a["value"] - b["value"]


def evaluate(manifest: Manifest, model_path: Path, providers: Sequence[str], asm: Assembly,
             *, explain_it: bool = True, job: runtime.Job | None = None) -> dict[str, Any]:
    """Run the model on an assembled case; return outputs, scenarios, explanation, provider."""
    rows, plan = _plan(manifest, asm, explain_it)
    outs, ms = run_rows(manifest, model_path, providers, rows, job)
    for w in ms.warnings:
        asm.warn("provider", w)
    outputs = format_outputs(manifest, outs[0])
    return {"outputs": outputs, "scenarios": _scenarios(manifest, plan, outs, outputs),
            "explanation": _explanation(manifest, asm, plan, outs) if explain_it else None,
            "provider": ms.provider, "providers_requested": list(ms.requested),
            "provider_notes": list(ms.notes), "images": image_outputs(manifest, outs[0])}


# ---------------------------------------------------------------------------------------------
# Results: calculator mode and patients
# ---------------------------------------------------------------------------------------------


def plugin_block(plugin: Any) -> dict[str, Any]:
    """Return the plugin's identity as recorded in a prediction."""
    m = plugin.manifest
    return {"id": m.id, "name": m.name, "version": m.version, "task": m.task,
            "model_sha256": m.model.sha256, "manifest_sha256": plugin.manifest_sha256,
            "origin": plugin.origin, "signed": plugin.signed, "synthetic": m.synthetic,
            "training_data": m.training_data.source}


def make_result(plugin: Any, asm: Assembly, providers: Sequence[str], *,
                patient_id: str | None, reference_date: dt.date | None,
                explain_it: bool = True, job: runtime.Job | None = None) -> dict[str, Any]:
    """Run an assembled case (unless refused) and return the prediction document (not stored)."""
    from oncoboard.audit import canonical_json, os_user, sha256_text

    m: Manifest = plugin.manifest
    started = time.perf_counter()
    snapshot = {k: v.snapshot() for k, v in sorted(asm.values.items())}
    doc: dict[str, Any] = {
        "id": None, "patient_id": patient_id, "plugin": plugin_block(plugin),
        "reference_date": reference_date.isoformat() if reference_date else None,
        "status": "ok", "refusal": [], "synthetic_label": SYNTHETIC_LABEL if m.synthetic else None,
        "outside_intended_use": asm.population.get("in_population") is False,
        "population": asm.population, "inputs": snapshot,
        "input_sha256": sha256_text(canonical_json(snapshot)), "outputs": {}, "scenarios": [],
        "explanation": None, "warnings": asm.warnings, "provider": None,
        "providers_requested": list(providers), "provider_notes": [],
        "app_version": __version__, "os_user": os_user(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    }
    if m.synthetic:
        asm.warnings.insert(0, {"code": "synthetic", "message": SYNTHETIC_LABEL, "input": None})
    if asm.refusals:
        doc.update(status="refused", refusal=list(asm.refusals))
    else:
        try:
            got = evaluate(m, plugin.model_path, providers, asm, explain_it=explain_it, job=job)
        except OncoboardError as exc:
            doc.update(status="refused" if exc.reason != "cancelled" else "cancelled",
                       refusal=[exc.message])
            asm.warn("runtime", exc.message)
        else:
            images = got.pop("images")
            doc.update(got)
            doc["_images"] = images
    doc["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return doc


def run_plugin(plugin: Any, given: dict[str, Any], settings: Any, *, explain_it: bool = True,
               job: runtime.Job | None = None) -> dict[str, Any]:
    """Run one plugin on values typed by a user (calculator mode); nothing is stored.

    Values are checked exactly as record values are (units, ranges, categories, missing policy).
    """
    m = plugin.require()
    asm = assemble_given(m, given)
    doc = make_result(plugin, asm, settings.providers, patient_id=None, reference_date=None,
                      explain_it=explain_it, job=job)
    doc.pop("_images", None)
    return doc


def run_table(plugin: Any, rows: list[dict[str, Any]], settings: Any, *,
              progress: Callable[[int, int], None] | None = None) -> runtime.Job:
    """Run a plugin on many rows off the caller's thread; the Job's result is the documents."""
    plugin.require()

    def work(row: dict[str, Any], job: runtime.Job) -> dict[str, Any]:
        return run_plugin(plugin, row, settings, job=job)

    return runtime.submit(rows, work, progress=progress)


def applicable_plugins(store: Any, settings: Any, patient_id: str, reference_date: dt.date,
                       plugins: Sequence[Any] | None = None, view: Any = None
                       ) -> list[tuple[Any, dict[str, Any]]]:
    """Return (plugin, population check) for the enabled plugins that apply to the patient.

    A plugin applies when the patient is in its population, or is outside it only on criteria
    the plugin flags rather than refuses (age, sex: the result is then marked "outside intended
    use"). It never applies automatically when the patient's recorded primary cancer is not one
    of its declared diagnoses (a breast model is not run on a lung cancer), nor when the
    patient has no treatment matching its declared treatment (a chemotherapy toxicity model is
    not run on a patient not on or starting chemotherapy on the reference date). Named
    explicitly (``predict_patient(plugin_ids=...)``), a plugin runs whatever the population,
    flagged or refused as its manifest says.
    """
    from oncoboard.inference.derived import RecordView
    from oncoboard.inference.discovery import discover_plugins
    from oncoboard.inference.features import check_population

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


def predict_patient(store: Any, settings: Any, patient_id: str, *,
                    date: dt.date | str | None = None, plugin_ids: Sequence[str] | None = None,
                    save: bool = True, explain_it: bool = True,
                    plugins: Sequence[Any] | None = None,
                    job: runtime.Job | None = None) -> list[dict[str, Any]]:
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
    from oncoboard.inference import predictions
    from oncoboard.inference.derived import RecordView
    from oncoboard.inference.discovery import discover_plugins
    from oncoboard.patients import record

    patient = record.get_patient(store, patient_id)  # NotFoundError for an unknown id
    day = _as_date(date)
    if patient.birth_date and day.isoformat() < patient.birth_date[:10]:
        # a typo in --date (1900 for 2019) gave stored results "age -85 outside 18-120"
        raise InferenceError(f"reference date {day} is before the birth of patient "
                             f"{patient_id} ({patient.birth_date[:10]})", where="predict")
    view = RecordView(store, patient_id, day)
    every = list(discover_plugins(settings)) if plugins is None else list(plugins)
    if plugin_ids:
        chosen = []
        for pid in plugin_ids:
            match = [p for p in every if p.id == pid]
            if not match:
                raise OncoboardError(f"no plugin {pid!r}", where="predict")
            match[0].require()
            chosen.append(match[0])
    else:
        chosen = [p for p, _ in applicable_plugins(store, settings, patient_id, day, every,
                                                   view)]
    results = []
    for plugin in chosen:
        if job is not None and job.cancelled:
            break
        try:
            asm = assemble_record(store, plugin.require(), patient_id, day, view)
        except Exception as exc:  # one plugin's failure must not stop the others
            log.exception("assembling inputs of %s for %s", plugin.id, patient_id)
            asm = Assembly()
            asm.refuse(f"internal error while assembling the inputs ({type(exc).__name__}); "
                       f"see the log")
        doc = make_result(plugin, asm, settings.providers, patient_id=patient_id,
                          reference_date=day, explain_it=explain_it, job=job)
        doc = recalibration.apply_site_recalibration(plugin, doc, settings)  # site layer, if any
        results.append(doc)
    if save:  # one transaction for the patient: one commit instead of one per plugin
        results = predictions.save_many(store, results, settings=settings)
    for doc in results:
        doc.pop("_images", None)
    return results


def predict_patients(store_path: Any, settings: Any, patient_ids: Sequence[str], *,
                     date: dt.date | str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> runtime.Job:
    """Predict for several patients (a board) off the caller's thread; cancellable.

    The worker opens its own connection to the database at `store_path` (SQLite connections
    must not cross threads). The Job's result is a list (one list of documents per patient).
    """
    from oncoboard.store import open_store

    if store_path is None:
        raise InferenceError("background predictions need a database file, not an in-memory "
                             "store")

    def work(pid: str, job: runtime.Job) -> list[dict[str, Any]]:
        s = open_store(store_path)
        try:
            return predict_patient(s, settings, pid, date=date, job=job)
        finally:
            s.close()

    return runtime.submit(list(patient_ids), work, progress=progress)


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
