"""Demo NSCLC patients get a response prediction from their record and their planning CT.

Two demo lung patients are imported (FHIR bundles), their planning CT + GTV RTSTRUCT written by
the imaging demo and indexed; the engine then assembles blood values, ECOG, PD-L1 and the GTV's
radiomics (resampled, rasterised) and runs the bundled response plugin, as `oncoboard predict`.
"""

from __future__ import annotations

import numpy as np
import pytest
from demo_records import demo_store

from oncoboard.imaging.demo import write_chest_ct
from oncoboard.imaging.index import index_paths
from oncoboard.inference import engine


def predict_patient(*args, **kwargs):
    """Return the engine's predictions as documents (README, "Predictions JSON schema")."""
    return [p.to_dict() for p in engine.predict_patient(*args, **kwargs)]

PATIENTS = ["DEMO-LU-001", "DEMO-LU-004"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo-lung")
    with demo_store(folder, lambda p: p.id in PATIENTS) as (store, settings, cohort, picked):
        facts = {p.id: write_chest_ct(folder / "dicom" / p.id, p.id, p.tumour)[0]
                 for p in picked}
        index_paths(store, [folder / "dicom"], settings=settings)
        yield {pid: predict_patient(store, settings, pid, date=cohort.reference_date,
                                    plugin_ids=["response-nsclc-rtio"], save=False)[0]
               for pid in PATIENTS}, facts


@pytest.mark.parametrize("pid", PATIENTS)
def test_response_from_record_and_ct(results, pid):
    out, facts = results
    r = out[pid]
    assert r["status"] == "ok", r.get("refusal")
    assert 0 < r["outputs"]["response"]["value"] < 1
    assert any(w["code"] == "synthetic" for w in r["warnings"])
    # The GTV volume measured through DICOM + RTSTRUCT matches the demo's sphere (4/3 pi r^3).
    radius_cm = facts[pid]["tumour_diameter_mm"] / 20
    volume = r["inputs"]["volume_cc"]["value"]
    assert volume == pytest.approx(4 / 3 * np.pi * radius_cm ** 3, rel=0.15)
    assert r["inputs"]["nlr"]["status"] == "measured"
    assert r["inputs"]["glcm_entropy"]["status"] == "measured"
