"""Fixtures: a fresh store with synthetic patients, settings pointing at tmp plugin folders."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from oncoboard.config import Settings  # noqa: E402
from oncoboard.patients import codes  # noqa: E402
from oncoboard.store import open_store  # noqa: E402

REF = dt.date(2024, 3, 1)


@pytest.fixture
def plugin_root(tmp_path):
    root = tmp_path / "plugins"
    root.mkdir()
    return root


@pytest.fixture
def settings(tmp_path, plugin_root, monkeypatch):
    # no bundled plugins from the checkout in unit tests: only the tmp folders
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(tmp_path / "no-bundled"))
    return Settings(data_dir=tmp_path / "data", extra_plugin_dirs=(plugin_root,),
                    providers=("CPUExecutionProvider",))


def add_patient(store, pid, *, birth="1960-05-01", sex="male", icd="C34.1", ldh=300.0,
                ldh_date="2024-02-20", ecog=None, uln=250.0):
    now = "2024-01-01T00:00:00"
    store.db["patients"].insert({"id": pid, "birth_date": birth, "sex": sex, "synthetic": 1,
                                 "imported_at": now})
    if icd:
        store.db["conditions"].insert({"id": f"{pid}-c", "patient_id": pid, "source_id": "c",
                                       "code_system": codes.ICD10, "code": icd,
                                       "diagnosis_date": "2023-06-01"})
    obs = []
    if ldh is not None:
        obs.append({"id": f"{pid}-ldh", "source_id": "ldh", "category": "laboratory",
                    "code_system": codes.LOINC, "code": "2532-0", "value_num": ldh,
                    "unit": "U/L", "effective": ldh_date, "reference_high": uln})
    if ecog is not None:
        obs.append({"id": f"{pid}-ecog", "source_id": "ecog", "category": "ecog",
                    "code_system": codes.LOINC, "code": "89247-1", "value_num": float(ecog),
                    "effective": "2024-02-25"})
    for o in obs:
        store.db["observations"].insert({"patient_id": pid, **o})


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "data")
    add_patient(s, "P1", ecog=2)
    add_patient(s, "P2", ecog=None)                       # ECOG missing -> imputed
    add_patient(s, "P3", ldh=None)                        # LDH missing -> refused
    add_patient(s, "P4", icd="C50.4", sex="female")      # outside population (flag)
    add_patient(s, "P5", ldh=9000.0)                      # out of range
    add_patient(s, "P6", ldh=300.0, ldh_date="2023-01-01")  # LDH too old for the window
    add_patient(s, "P7", birth="1930-01-01")             # 94: above age_max (flag)
    yield s
    s.close()
