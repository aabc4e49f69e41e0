"""Fixtures: a fresh store with synthetic patients, settings pointing at tmp plugin folders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from inference_helpers import add_patient  # noqa: E402

from oncoboard.config import Settings  # noqa: E402
from oncoboard.store import open_store  # noqa: E402


@pytest.fixture
def plugin_root(tmp_path):
    root = tmp_path / "plugins"
    root.mkdir()
    return root


@pytest.fixture
def settings(tmp_path, plugin_root, monkeypatch):
    # no bundled plugins from the checkout in unit tests: only the tmp folders
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(tmp_path / "no-bundled"))
    # and no site or user configuration of the machine running the tests
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    return Settings(data_dir=tmp_path / "data", extra_plugin_dirs=(plugin_root,),
                    providers=("CPUExecutionProvider",))


@pytest.fixture
def store(db_target):
    s = open_store(db_target)
    add_patient(s, "P1", ecog=2)
    add_patient(s, "P2", ecog=None)                       # ECOG missing -> imputed
    add_patient(s, "P3", ldh=None)                        # LDH missing -> refused
    add_patient(s, "P4", icd="C50.4", sex="female")      # outside population (flag)
    add_patient(s, "P5", ldh=9000.0)                      # out of range
    add_patient(s, "P6", ldh=300.0, ldh_date="2023-01-01")  # LDH too old for the window
    add_patient(s, "P7", birth="1930-01-01")             # 94: above age_max (flag)
    yield s
    s.close()
