"""Local validation: metrics against scikit-survival/lifelines/scikit-learn, GBSG2 against the
model card, recalibration (recovery of a known miscalibration, signature, bit-for-bit removal)."""

from __future__ import annotations

import json

import cohorts
import numpy as np
import pytest

from oncoboard.errors import OncoboardError
from oncoboard.inference import engine, model_io, recalibration, validation, validation_cohort
from oncoboard.inference import validation_metrics as vm
from oncoboard.inference.discovery import get_plugin
from oncoboard.patients import importer, record
from oncoboard.store import open_store


def _structured(t, e):
    y = np.empty(len(t), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = e, t
    return y


def test_metrics_match_reference_libraries():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import concordance_index
    from sklearn.metrics import roc_auc_score
    from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

    rng = np.random.default_rng(3)
    n = 1500
    t = np.round(rng.exponential(30, n))           # ties in time
    e = rng.random(n) < 0.6
    r = np.round(rng.normal(size=n) + (t < 20), 1)  # ties in risk
    ones = np.ones((1, n))
    harrell, uno = vm.c_indexes(t, e, r, 50.0, ones)
    assert harrell[0] == pytest.approx(concordance_index_censored(e, t, r)[0], abs=1e-12)
    assert harrell[0] == pytest.approx(concordance_index(t, -r, e), abs=1e-9)
    y = _structured(t, e)
    assert uno[0] == pytest.approx(concordance_index_ipcw(y, y, r, tau=50.0)[0], abs=1e-9)
    km = vm.kaplan_meier(t, e)
    kmf = KaplanMeierFitter().fit(t, e)
    for q in (5.0, 30.0, 80.0):
        assert km.at(q)[0] == pytest.approx(float(kmf.survival_function_at_times(q).iloc[0]),
                                            abs=1e-12)
    yb = rng.random(n) < 0.3
    p = np.round(rng.random(n) * 0.5 + 0.3 * yb, 2)
    assert vm.auc(yb, p, ones)[0] == pytest.approx(roc_auc_score(yb, p), abs=1e-12)
    # bootstrap replicate b equals the metric on the resampled patients
    w = vm.bootstrap_weights(n, 3, seed=1)
    hb, ub = vm.c_indexes(t, e, r, 50.0, w)
    idx = np.repeat(np.arange(n), w[1].astype(int))
    assert hb[1] == pytest.approx(concordance_index_censored(e[idx], t[idx], r[idx])[0],
                                  abs=1e-9)
    assert ub[1] == pytest.approx(concordance_index_ipcw(_structured(t[idx], e[idx]),
                                                         _structured(t[idx], e[idx]), r[idx],
                                                         tau=50.0)[0], abs=1e-9)


def test_survival_recalibration_recovers_a_known_miscalibration():
    # predicted H(t) = 0.01 t e^lp; true H(t) = H_pred(t) * exp(a + (b-1)(x - centre))
    rng = np.random.default_rng(5)
    n = 20000
    lp = rng.normal(size=n)
    grid = np.arange(1, 85, dtype=float)
    h_pred = 0.01 * grid[None, :] * np.exp(lp)[:, None]
    a_true, b_true = np.log(1.5), 0.7
    x = np.log(h_pred[:, 59])
    true_rate = 0.01 * np.exp(lp) * np.exp(a_true + (b_true - 1) * (x - x.mean()))
    t = rng.exponential(1 / true_rate)
    c = rng.uniform(20, 84, n)
    time, event = np.minimum(t, c), t <= c
    tt = np.minimum(time, 60.0)
    ev = event & (time <= 60.0)
    cal = vm.survival_calibration_model(ev, 0.01 * tt * np.exp(lp), h_pred[:, 59])
    assert cal["intercept"] == pytest.approx(a_true, abs=0.05)
    assert cal["slope"] == pytest.approx(b_true, abs=0.05)
    layer = {"horizon_months": 60.0, **cal}
    s_new = recalibration.transform_survival(list(np.exp(-h_pred[0])), list(np.exp(-h_pred[0])),
                                             list(grid), layer)
    h_true = true_rate[0] * grid
    assert np.allclose(-np.log(s_new), h_true, rtol=0.08)


def test_logistic_recalibration_recovers_a_known_miscalibration():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.9, 30000)
    z = np.log(p / (1 - p))
    y = rng.random(len(p)) < 1 / (1 + np.exp(-(-0.5 + 0.8 * z)))
    cal = vm.logistic_calibration_model(y, p)
    assert cal["intercept"] == pytest.approx(-0.5, abs=0.05)
    assert cal["slope"] == pytest.approx(0.8, abs=0.05)


def test_gbsg2_matches_the_model_card(gbsg2_store, settings):
    r = validation.validate(gbsg2_store, settings, "relapse-gbsg2", n_boot=100)
    assert r["counts"]["validated"] == 686 and r["counts"]["excluded"] == {}
    assert r["counts_outcome"]["events"] == 299
    assert r["enough_data"]
    card = {m["name"]: m for m in r["manifest_comparison"]}
    apparent = card["c_index_apparent"]["value"]  # the card's figure, as its build measured it
    assert card["c_index_apparent"]["local"] == pytest.approx(apparent, abs=5e-5)
    for g in ("low", "mid", "high"):
        for what in ("predicted", "observed"):
            row = card[f"rfs60_{g}_risk_tertile_{what}"]
            assert row["local"] == pytest.approx(row["value"], abs=2e-6)
    assert 0.9 < r["observed_expected"]["value"] < 1.1
    # a penalised Cox fit is slightly shrunk even on its own data: slope a little above 1
    assert 0.8 < r["calibration_model"]["slope"] < 1.4
    lo, hi = r["harrell"]["lower"], r["harrell"]["upper"]
    assert lo < apparent < hi and hi - lo < 0.08
    json.dumps(r)  # JSON-able


def test_adapter_equals_predict_patient(gbsg2_store, settings):
    plugin = get_plugin(settings, "relapse-gbsg2")
    cases = [c for c in validation_cohort.build_cohort(gbsg2_store, plugin.require(), 60.0)][:12]
    for s in validation.predict_cases(gbsg2_store, settings, plugin, cases):
        doc = engine.predict_patient(gbsg2_store, settings, s.case.patient_id,
                                     date=s.case.reference_date, plugin_ids=["relapse-gbsg2"],
                                     save=False, explain_it=False)[0].to_dict()
        assert np.allclose(s.surv, doc["outputs"]["rfs"]["values"], atol=1e-6)


def test_no_future_data(gbsg2_store, settings):
    """A value recorded after the reference date (later receptor assay) is not used."""
    pid = "GBSG-0001"
    day = validation_cohort.build_cohort(
        gbsg2_store, get_plugin(settings, "relapse-gbsg2").require(), 60.0,
        cohort=pid)[0].reference_date
    before = engine.predict_patient(gbsg2_store, settings, pid, date=day,
                                    plugin_ids=["relapse-gbsg2"], save=False)[0].to_dict()
    gbsg2_store.db["observations"].insert({**dict(next(iter(gbsg2_store.db.query(
        "SELECT * FROM observations WHERE patient_id = ? AND code = 'pr-fmol'", [pid])))),
        "id": "later", "source_id": "later", "value_num": 2999.0,
        "effective": "2030-01-01"})
    after = engine.predict_patient(gbsg2_store, settings, pid, date=day,
                                   plugin_ids=["relapse-gbsg2"], save=False)[0].to_dict()
    assert after["inputs"]["progrec"] == before["inputs"]["progrec"]
    assert after["outputs"] == before["outputs"]


def test_too_few_events_refuses_recalibration(tmp_path, settings, site_key):
    s = open_store(tmp_path / "small")
    importer.import_file(s, cohorts.write_csv(tmp_path / "s.csv", cohorts.synthetic_rows(120)))
    r = validation.validate(s, settings, "relapse-gbsg2", n_boot=20)
    assert not r["enough_data"] and "too uncertain" in r["verdict"]
    with pytest.raises(OncoboardError, match="refused"):
        recalibration.create(s, settings, r, site_key[0].read_bytes())


def test_recalibration_layer_signed_shown_audited_and_removable(gbsg2_store, settings,
                                                               site_key):
    from oncoboard.audit import entries

    pid = "GBSG-0007"
    day = record.treatments(gbsg2_store, pid)[0].start_date

    def run():
        return engine.predict_patient(gbsg2_store, settings, pid, date=day,
                                      plugin_ids=["relapse-gbsg2"], save=False)[0].to_dict()

    original = run()
    r = validation.validate(gbsg2_store, settings, "relapse-gbsg2", n_boot=0)
    r["calibration_model"].update(intercept=0.4, slope=0.8)  # a visible correction
    made = recalibration.create(gbsg2_store, settings, r, site_key[0].read_bytes())
    assert made["version"] == 1
    assert [e.event_type for e in entries(gbsg2_store, event_type="plugin.recalibrated")]
    changed = run()
    assert changed["recalibration"]["label"].startswith("recalibrated on 686 local patients")
    assert any(w["code"] == "recalibrated" for w in changed["warnings"])
    assert changed["outputs"]["rfs"]["values"][59] < original["outputs"]["rfs"]["values"][59]
    lo, hi = changed["outputs"]["rfs"]["lower"], changed["outputs"]["rfs"]["upper"]
    assert all(a <= b + 1e-12 for a, b in zip(lo, hi, strict=True))
    # the scenarios too: each its own numbers, recalibrated, its benefit the stored difference
    by_name = {sc["name"]: sc for sc in changed["scenarios"]}
    was = {sc["name"]: sc for sc in original["scenarios"]}
    base = next(sc for sc in changed["scenarios"] if sc["baseline"])["outputs"]["rfs"]
    for name, sc in by_name.items():
        rfs = sc["outputs"]["rfs"]
        assert "kind" not in rfs and rfs["values"][59] < was[name]["outputs"]["rfs"]["values"][59]
        assert sc["benefit"]["rfs"] == model_io.curve(np.subtract(rfs["values"], base["values"]))
    # an edited layer no longer verifies: not applied, and the result says so
    path = recalibration.versions(settings, "relapse-gbsg2")[-1]
    text = path.read_text()
    path.write_text(text.replace("slope = 0.8", "slope = 0.5"))
    tampered = run()
    assert "recalibration" not in tampered
    assert tampered["outputs"] == original["outputs"]
    assert any(w["code"] == "recalibration" for w in tampered["warnings"])
    path.write_text(text)
    recalibration.remove(gbsg2_store, settings, "relapse-gbsg2", site_key[0].read_bytes())
    restored = run()
    assert "recalibration" not in restored
    assert json.dumps(restored["outputs"]) == json.dumps(original["outputs"])  # bit for bit
    assert json.dumps(restored["scenarios"]) == json.dumps(original["scenarios"])


def test_cli_validate(run, tmp_path, gbsg2_csv):
    code, out, err = run("import", "patients", gbsg2_csv)
    assert code == 0, err
    pdf = tmp_path / "v.pdf"
    code, out, err = run("validate", "relapse-gbsg2", "--json", "--bootstrap", "20",
                         "--report", pdf)
    assert code == 0, err
    got = json.loads(out)
    card = {m["name"]: m for m in got["manifest_comparison"]}
    assert got["harrell"]["value"] == pytest.approx(card["c_index_apparent"]["value"], abs=5e-5)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    code, out, err = run("validate", "relapse-gbsg2", "--horizon", "200")
    assert code == 2 and "outside the plugin's time grid" in err
    code, out, err = run("validate", "relapse-gbsg2", "--recalibrate")
    assert code == 2 and "--key" in err
