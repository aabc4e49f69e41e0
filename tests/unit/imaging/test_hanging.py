"""The comparison view's hanging protocol: which prior goes beside the current series."""

from __future__ import annotations

import pytest

from oncoboard.config import load_settings
from oncoboard.errors import ConfigError
from oncoboard.imaging.hanging import HangingProtocol, SeriesFacts, pick_prior


def facts(uid: str, date: str, modality: str = "CT", body: str = "CHEST",
          description: str = "Thorax", n: int = 80) -> SeriesFacts:
    return SeriesFacts(uid, f"study-{uid}", "P1", date, modality, body, description, f"for-{uid}",
                       n)


CURRENT = facts("now", "2026-11-16")


def test_latest_earlier_study_of_same_modality_and_body_part():
    series = [CURRENT, facts("old", "2025-01-10"), facts("mid", "2026-05-02"),
              facts("mr", "2026-10-01", modality="MR"), facts("abd", "2026-10-02", body="ABDOMEN"),
              facts("later", "2026-12-01"), facts("nodate", ""),
              facts("rs", "2026-10-03", modality="RTSTRUCT")]
    assert pick_prior(CURRENT, series).series_uid == "mid"


def test_inside_the_prior_study_the_most_similar_series_wins():
    a = facts("a", "2026-05-02", description="Lung 1 mm", n=300)
    b = facts("b", "2026-05-02", description="Thorax", n=80)
    c = facts("c", "2026-05-02", description="Scout", n=2)
    assert pick_prior(CURRENT, [a, b, c]).series_uid == "b"
    assert pick_prior(CURRENT, [a, c]).series_uid == "a"


def test_site_rules_match_and_age():
    abd = facts("abd", "2026-10-02", body="ABDOMEN")
    old = facts("old", "2024-01-10")
    assert pick_prior(CURRENT, [abd, old]).series_uid == "old"
    assert pick_prior(CURRENT, [abd, old], HangingProtocol(match=("modality",))).series_uid == "abd"
    assert pick_prior(CURRENT, [old], HangingProtocol(max_age_days=365)) is None
    assert pick_prior(facts("x", ""), [old]) is None  # no date: no order, no prior


def test_hanging_rules_come_from_the_site_file(tmp_path, monkeypatch):
    site = tmp_path / "site.toml"
    site.write_text('[viewer.hanging]\nmatch = ["modality"]\nmax_age_days = 400\n')
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "none.toml"))
    settings = load_settings(tmp_path / "data")
    assert HangingProtocol.from_settings(settings) == HangingProtocol(("modality",), 400)
    site.write_text('[viewer.hanging]\nmatch = ["colour"]\n')
    with pytest.raises(ConfigError, match="viewer.hanging.match"):
        load_settings(tmp_path / "data")
    site.write_text('[viewer.hanging]\nnewest = true\n')
    with pytest.raises(ConfigError, match="unknown"):
        load_settings(tmp_path / "data")


def test_default_protocol_without_settings():
    assert HangingProtocol.from_settings(None) == HangingProtocol()
