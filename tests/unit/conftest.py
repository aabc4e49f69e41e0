"""Fixtures shared by the headless tests."""

from __future__ import annotations

from typing import Any

import pytest

from oncoboard import cli


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """Run ``oncoboard ARGS`` in-process on a fresh data folder; return (code, out, err)."""
    for name in ("ONCOBOARD_PROVIDERS", "ONCOBOARD_LANGUAGE", "ONCOBOARD_PLUGIN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCOBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))

    def call(*args: Any) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call
