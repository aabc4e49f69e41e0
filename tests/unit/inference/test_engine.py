"""Predictions from the record and in calculator mode: checks, explanations, provenance."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from inference_helpers import (
    COEFS,
    INTERCEPT,
    REF,
    cox_onnx,
    logistic_manifest,
    logistic_plugin,
    sigmoid,
    write_plugin,
)
from pg_server import drop_trigger

from oncoboard import audit
from oncoboard.board.trail import verify_trail
from oncoboard.errors import PluginError
from oncoboard.inference import batch, engine, model_io, prediction_store, runtime
from oncoboard.inference.discovery import discover_plugins, get_plugin


def predict_patient(*args, **kwargs):
    """Return the engine's predictions as documents (README, "Predictions JSON schema")."""
    return [p.to_dict() for p in engine.predict_patient(*args, **kwargs)]


def run_plugin(*args, **kwargs):
    """Return the engine's calculator-mode prediction as a document."""
    return engine.run_plugin(*args, **kwargs).to_dict()


def _codes(doc):
    return [w["code"] for w in doc["warnings"]]


@pytest.fixture
def plugin(settings, plugin_root):
    logistic_plugin(plugin_root)
    return get_plugin(settings, "test-logistic")


def test_patient_prediction_with_inputs_from_record(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["test-logistic"])
    assert doc["status"] == "ok" and doc["provider"] == "CPUExecutionProvider"
    inputs = doc["inputs"]
    assert inputs["age"]["value"] == 63 and inputs["ldh"]["value"] == 300.0
    assert inputs["ldh"]["source"]["used"][0]["observation_id"] == "P1-ldh"
    assert inputs["ecog"] == {**inputs["ecog"], "value": "2", "coded": 2, "status": "measured"}
    want = sigmoid(INTERCEPT + 63 * COEFS["age"] + 300 * COEFS["ldh"] + 2 * COEFS["ecog"])
    assert doc["outputs"]["risk"]["value"] == pytest.approx(want, abs=1e-6)
    assert doc["outputs"]["risk"]["band"] == "high"
    assert doc["synthetic_label"] == "synthetic - demonstration only"
    assert doc["id"].startswith("pred-") and doc["audit"]["seq"] >= 1
    assert not doc["outside_intended_use"]


def test_reference_date_before_birth_is_refused(store, settings, plugin):
    # `predict --date 1900-01-01` (a typo) stored results saying "age -85 outside 18-120".
    from oncoboard.errors import InferenceError

    with pytest.raises(InferenceError, match="before the birth of patient P1 \\(1960-05-01\\)"):
        predict_patient(store, settings, "P1", date="1900-01-01")
    assert prediction_store.list_for_patient(store, "P1") == []


def test_linear_contributions_sum_to_logit_difference(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P1", date=REF, save=False)
    ex = doc["explanation"]
    p, total = doc["outputs"]["risk"]["value"], sum(c["contribution"] for c in ex["contributions"])
    p_ref = sigmoid(INTERCEPT + 60 * COEFS["age"] + 200 * COEFS["ldh"] + 0)
    logit = lambda x: math.log(x / (1 - x))  # noqa: E731
    assert total == pytest.approx(logit(p) - logit(p_ref), abs=1e-5)
    assert abs(ex["residual"]) < 1e-5
    by = {c["input"]: c["contribution"] for c in ex["contributions"]}
    assert by["age"] == pytest.approx(3 * 0.03) and by["ecog"] == pytest.approx(1.0)


def test_occlusion_explanation_matches_linear_for_logistic(store, settings, plugin_root):
    m = logistic_manifest("test-occlusion")
    m["explanation"] = {"method": "occlusion", "output": "risk"}
    write_plugin(plugin_root, m, __import__("inference_helpers").logistic_onnx(list(COEFS.values()),
                                                                     INTERCEPT))
    [doc] = predict_patient(store, settings, "P1", date=REF,
                                   plugin_ids=["test-occlusion"], save=False)
    by = {c["input"]: c["contribution"] for c in doc["explanation"]["contributions"]}
    assert by["age"] == pytest.approx(0.09, abs=1e-5)
    assert by["ldh"] == pytest.approx(0.4, abs=1e-5)


def test_missing_optional_input_imputed_with_warning(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P2", date=REF, save=False)
    assert doc["status"] == "ok"
    assert doc["inputs"]["ecog"]["status"] == "imputed" and doc["inputs"]["ecog"]["value"] == "1"
    msg = [w["message"] for w in doc["warnings"] if w["code"] == "imputed"]
    assert msg and "ecog" in msg[0] and "imputed" in msg[0]


def test_missing_required_input_refuses(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P3", date=REF)
    assert doc["status"] == "refused" and doc["outputs"] == {}
    # the code's name in clinical words, not its key (issue 11)
    assert "ldh: no 'lactate dehydrogenase' recorded in the 30 days before 2024-03-01" in \
        doc["refusal"][0]
    assert doc["audit"]["seq"] >= 1  # refusals are recorded too


def test_value_outside_window_is_missing(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P6", date=REF, save=False)
    assert doc["status"] == "refused" and "no 'lactate dehydrogenase'" in doc["refusal"][0]


def test_out_of_range_input_refuses(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P5", date=REF, save=False)
    assert doc["status"] == "refused"
    assert "9000 U/L is outside the valid range 50-5000 U/L" in doc["refusal"][0]


def test_out_of_population_flagged(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P7", date=REF, save=False,
                            plugin_ids=["test-logistic"])
    assert doc["status"] == "ok" and doc["outside_intended_use"]
    assert "outside_intended_use" in _codes(doc)
    assert doc["population"]["reasons"] == ["age 94 above 90"]


def test_other_cancer_not_applicable_unless_named(store, settings, plugin):
    assert predict_patient(store, settings, "P4", date=REF, save=False) == []
    [doc] = predict_patient(store, settings, "P4", date=REF, save=False,
                                   plugin_ids=["test-logistic"])
    assert doc["status"] == "ok" and doc["outside_intended_use"]
    assert "diagnosis C50.4 not in C34" in doc["population"]["reasons"][0]


def test_out_of_population_refused_and_not_applicable(store, settings, plugin_root):
    m = logistic_manifest("test-strict")
    m["population"]["out_of_population"] = "refuse"
    write_plugin(plugin_root, m, __import__("inference_helpers").logistic_onnx(list(COEFS.values()),
                                                                     INTERCEPT))
    assert predict_patient(store, settings, "P4", date=REF, save=False) == []
    [doc] = predict_patient(store, settings, "P4", date=REF, plugin_ids=["test-strict"],
                                   save=False)
    assert doc["status"] == "refused" and "outside intended use" in doc["refusal"][0]


def _chemo(store, pid, start, subkind="chemotherapy"):
    store.db["treatments"].insert({"id": f"{pid}-{subkind}", "patient_id": pid,
                                   "source_id": subkind, "kind": "systemic", "subkind": subkind,
                                   "agents": '["carboplatin"]', "start_date": start})


def test_plugin_for_a_treatment_skipped_unless_patient_has_it(store, settings, plugin_root):
    m = logistic_manifest("test-on-chemo")
    m["population"]["treatment"] = {"kind": "systemic", "subkind": "chemotherapy",
                                    "window_days": 60}
    write_plugin(plugin_root, m, __import__("inference_helpers").logistic_onnx(
        list(COEFS.values()), INTERCEPT))
    _chemo(store, "P2", "2024-02-10", subkind="immunotherapy")  # not chemotherapy
    _chemo(store, "P6", "2023-06-01")                           # before the 60-day window
    _chemo(store, "P5", "2024-03-08")                           # planned after the date: applies
    for pid in ("P1", "P2", "P6"):
        assert engine.applicable_plugins(store, settings, pid, REF) == [], pid
        assert predict_patient(store, settings, pid, date=REF, save=False) == []
    [(p, pop)] = engine.applicable_plugins(store, settings, "P5", REF)
    assert p.id == "test-on-chemo" and pop["in_population"]
    # Named explicitly, it runs, flagged as outside its intended use with the reason.
    [doc] = predict_patient(store, settings, "P1", date=REF, save=False,
                                   plugin_ids=["test-on-chemo"])
    assert doc["status"] == "ok" and doc["outside_intended_use"]
    assert doc["population"]["failed"] == ["treatment"]
    assert doc["population"]["reasons"][0] == (
        "no treatment matching the intended use: chemotherapy started at most 60 days before "
        f"{REF} (or planned)")


def test_refusing_plugin_skipped_outside_its_age_range_and_refused_by_name(store, settings,
                                                                           plugin_root):
    m = logistic_manifest("test-strict-age")
    m["population"]["out_of_population"] = "refuse"
    write_plugin(plugin_root, m, __import__("inference_helpers").logistic_onnx(
        list(COEFS.values()), INTERCEPT))
    assert [p.id for p, _ in engine.applicable_plugins(store, settings, "P1", REF)] == \
        ["test-strict-age"]
    assert engine.applicable_plugins(store, settings, "P7", REF) == []  # 94, above 90
    [doc] = predict_patient(store, settings, "P7", date=REF, save=False,
                                   plugin_ids=["test-strict-age"])
    assert doc["status"] == "refused" and "age 94 above 90" in doc["refusal"][0]


def test_flagging_plugin_is_not_applied_automatically_outside_its_age_range(store, settings,
                                                                           plugin):
    # P7 is 94, above age_max 90: issue 11, automatic runs keep to the age range (CARG is not
    # run on a 42-year-old); named, the plugin runs, flagged.
    assert engine.applicable_plugins(store, settings, "P7", REF) == []
    assert predict_patient(store, settings, "P7", date=REF, save=False) == []
    [doc] = predict_patient(store, settings, "P7", date=REF, save=False,
                            plugin_ids=["test-logistic"])
    assert doc["status"] == "ok" and doc["population"]["failed"] == ["age"]


def test_scenarios_give_what_if_and_benefit(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P1", date=REF, save=False)
    [sc] = doc["scenarios"]
    assert sc["name"] == "ECOG 0" and sc["outputs"]["risk"]["value"] < doc["outputs"]["risk"][
        "value"]
    assert sc["benefit"]["risk"] == pytest.approx(sc["outputs"]["risk"]["value"]
                                                  - doc["outputs"]["risk"]["value"])


def test_cpu_outputs_are_bit_identical(store, settings, plugin):
    runtime.SESSIONS.clear()
    a = predict_patient(store, settings, "P1", date=REF, save=False)[0]
    runtime.SESSIONS.clear()
    b = predict_patient(store, settings, "P1", date=REF, save=False)[0]
    assert json.dumps(a["outputs"]) == json.dumps(b["outputs"])
    feeds = model_io.build_feeds(plugin.manifest, [{"age": 70.1, "ldh": 333.3, "ecog": 3}] * 64)
    ms = runtime.create_session(plugin.model_path, ["CPUExecutionProvider"])
    outs = [ms.session.run(None, feeds)[0] for _ in range(5)]
    assert all(np.array_equal(outs[0], o) for o in outs)
    assert outs[0].tobytes() == outs[1].tobytes()


def test_cuda_requested_falls_back_to_cpu(store, settings, plugin):
    runtime.SESSIONS.clear()
    s = dataclasses.replace(settings, providers=("CUDAExecutionProvider",
                                                 "CPUExecutionProvider"))
    [doc] = predict_patient(store, s, "P1", date=REF, save=False)
    assert doc["status"] == "ok" and doc["provider"] == "CPUExecutionProvider"
    assert doc["providers_requested"][0] == "CUDAExecutionProvider"
    assert "CUDAExecutionProvider is not available" in doc["provider_notes"][0]


def test_gpu_run_failure_falls_back_to_cpu_with_warning(store, settings, plugin, monkeypatch):
    runtime.SESSIONS.clear()
    real = runtime.create_session

    class FailingSession:
        def run(self, *a, **k):
            raise RuntimeError("CUDA error: out of memory")

    def fake(model_path, providers):
        if list(providers)[0] == "CUDAExecutionProvider":
            return runtime.ModelSession(FailingSession(), "CUDAExecutionProvider",
                                        tuple(providers))
        return real(model_path, providers)

    monkeypatch.setattr(runtime, "create_session", fake)
    s = dataclasses.replace(settings, providers=("CUDAExecutionProvider",
                                                 "CPUExecutionProvider"))
    [doc] = predict_patient(store, s, "P1", date=REF, save=False)
    assert doc["status"] == "ok" and doc["provider"] == "CPUExecutionProvider"
    assert any("CUDAExecutionProvider failed during the run" in w["message"]
               for w in doc["warnings"])
    runtime.SESSIONS.clear()


def test_prediction_stored_audited_and_tampering_found(store, settings, plugin):
    [doc] = predict_patient(store, settings, "P1", date=REF)
    stored = prediction_store.get(store, doc["id"])
    assert stored.to_dict() == doc  # what is returned is what is stored
    assert prediction_store.latest_for_patient(store, "P1")[0].id == doc["id"]
    entry = audit.entries(store, event_type="prediction.created")[-1]
    assert entry.payload["record_sha256"] == doc["audit"]["record_sha256"]
    assert entry.payload["input_sha256"] == doc["input_sha256"]
    assert verify_trail(store).ok
    with pytest.raises(Exception, match="append-only"):
        store.conn.execute("UPDATE predictions SET outputs = '{}'")
    drop_trigger(store, "predictions_no_update")
    store.conn.execute("UPDATE predictions SET outputs = '{\"risk\": 0.01}'")
    report = verify_trail(store)
    assert not report.ok and "differs from its hash" in report.problems[0].detail


def test_calculator_mode_checks_like_record(settings, plugin):
    ok = run_plugin(plugin, {"age": "63", "ldh": "5 ukat/L", "ecog": "ECOG 2"}, settings)
    assert ok["status"] == "ok" and ok["inputs"]["ldh"]["value"] == pytest.approx(300.0)
    bad = run_plugin(plugin, {"age": "63", "ldh": "9000", "ecog": "7"}, settings)
    assert bad["status"] == "refused" and len(bad["refusal"]) == 2
    missing = run_plugin(plugin, {"age": "63"}, settings)
    assert missing["refusal"] == ["ldh: not given"]
    assert missing["inputs"]["ecog"]["status"] == "imputed"


def test_batch_runs_off_thread_with_progress_and_cancel(settings, plugin):
    seen = []
    rows = [{"age": str(40 + i % 40), "ldh": "200", "ecog": "1"} for i in range(30)]
    job = engine.run_table(plugin, rows, settings, progress=lambda d, t: seen.append((d, t)))
    docs = job.result(timeout=30)
    assert len(docs) == 30 and seen[-1] == (30, 30)
    job = engine.run_table(plugin, rows * 20, settings)
    job.cancel()
    assert len(job.result(timeout=30)) < 600 and job.cancelled


def test_board_prediction_job(store, settings, plugin):
    job = batch.predict_patients(store.location, settings, ["P1", "P2", "P3"], date=REF)
    results = job.result(timeout=30)
    assert [len(r) for r in results] == [1, 1, 1] and job.done == 3
    assert verify_trail(store).ok


def test_disabled_plugin_cannot_run(settings, plugin_root):
    folder = logistic_plugin(plugin_root)
    (folder / "model.onnx").write_bytes(b"x")
    [p] = [p for p in discover_plugins(settings) if p.id == "test-logistic"]
    with pytest.raises(PluginError, match="disabled"):
        run_plugin(p, {}, settings)


def test_cox_survival_curve_and_exact_contributions(store, settings, plugin_root):
    grid = [12.0, 24.0, 36.0, 48.0, 60.0]
    cumhaz = [0.05, 0.1, 0.16, 0.22, 0.3]
    m = logistic_manifest("test-cox", task="relapse")
    m["model"]["outputs"] = [{"name": "survival", "dtype": "float32", "shape": [-1, 5],
                              "type": "survival"}]
    m["outputs"] = [{"name": "rfs", "kind": "survival", "tensor": "survival",
                     "time_grid": grid, "time_unit": "months"}]
    m["explanation"] = {"method": "cox", "coefficients": dict(COEFS), "at_time": 60}
    write_plugin(plugin_root, m, cox_onnx(list(COEFS.values()), cumhaz))
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["test-cox"],
                                   save=False)
    curve = doc["outputs"]["rfs"]
    lp = 63 * 0.03 + 300 * 0.004 + 2 * 0.5
    assert curve["times"] == grid
    assert curve["values"] == pytest.approx([math.exp(-h * math.exp(lp)) for h in cumhaz],
                                            rel=1e-5)
    ex = doc["explanation"]
    assert ex["scale"] == "cloglog" and ex["at_time"] == 60
    assert abs(ex["residual"]) < 1e-4
    assert doc["scenarios"][0]["benefit"]["rfs"][-1] > 0  # ECOG 0: better survival


def test_probability_outside_unit_interval_refused(settings, plugin_root):
    from inference_helpers import cox_onnx

    m = logistic_manifest("test-badprob")
    m["model"]["outputs"] = [{"name": "survival", "dtype": "float32", "shape": [-1, 2]}]
    m["outputs"] = [{"name": "risk", "kind": "probability", "tensor": "survival", "column": 0}]
    m["explanation"] = {"method": "none"}
    m["scenarios"] = []
    write_plugin(plugin_root, m, cox_onnx([0.0, 0.0, 0.0], [-1.0, 0.5]))  # exp(+1) > 1
    doc = run_plugin(get_plugin(settings, "test-badprob"),
                            {"age": 60, "ldh": 200, "ecog": 1}, settings)
    assert doc["status"] == "refused" and "outside [0, 1]" in doc["refusal"][0]


def test_gpu_session_failure_falls_back_to_cpu(store, settings, plugin, monkeypatch):
    import onnxruntime as ort

    runtime.SESSIONS.clear()
    real = ort.InferenceSession

    def session(path, sess_options=None, providers=None):
        if "CUDAExecutionProvider" in (providers or []):
            raise RuntimeError("CUDA failure 35: driver version is insufficient")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(runtime, "available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", session)
    s = dataclasses.replace(settings, providers=("CUDAExecutionProvider",
                                                 "CPUExecutionProvider"))
    [doc] = predict_patient(store, s, "P1", date=REF, save=False)
    assert doc["status"] == "ok" and doc["provider"] == "CPUExecutionProvider"
    assert any("CUDAExecutionProvider failed to start" in w["message"] for w in doc["warnings"])
    runtime.SESSIONS.clear()


def test_calculator_flags_given_age_outside_population(settings, plugin):
    doc = run_plugin(plugin, {"age": "95", "ldh": "300", "ecog": "1"}, settings)
    assert doc["status"] == "ok" and doc["outside_intended_use"]
    assert doc["population"]["reasons"][0] == "age 95 above 90"
