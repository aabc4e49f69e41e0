"""`oncoboard doctor` tells the truth: healthy installs pass, each kind of breakage fails."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from oncoboard.cli import main
from oncoboard.config import load_settings
from oncoboard.doctor import FAIL, OK, check_data_dir, check_database, check_pacs, check_plugins
from oncoboard.inference.discovery import bundled_plugin_dir
from oncoboard.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    monkeypatch.delenv("ONCOBOARD_PLUGIN_PATH", raising=False)
    monkeypatch.delenv("ONCOBOARD_BUNDLED_PLUGINS", raising=False)
    return tmp_path


def test_healthy_install_exits_zero_and_reports_json(env, capsys):
    data = env / "data"
    open_store(data).close()
    assert main(["--data-dir", str(data), "doctor", "--json"]) == 0
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["database"]["status"] == OK
    assert checks["database"]["data"]["schema"] == checks["database"]["data"]["expected_schema"]
    assert checks["plugins"]["status"] == OK
    assert checks["inference providers"]["data"]["working"][0] == "CPUExecutionProvider"
    assert {c["status"] for c in checks.values()} <= {OK, "warn"}


def test_data_folder_that_cannot_be_created_fails(env):
    blocker = env / "a-file"
    blocker.write_text("not a folder")
    check = check_data_dir(load_settings(blocker / "data"))
    assert check.status == FAIL and "not writable" in check.detail


def test_corrupt_database_fails(env, capsys):
    data = env / "data"
    data.mkdir()
    (data / "oncoboard.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    assert check_database(load_settings(data)).status == FAIL
    assert main(["--data-dir", str(data), "doctor"]) == 1
    assert "[FAIL] database" in capsys.readouterr().out


def test_older_schema_is_reported_as_pending_migration(env):
    from oncoboard.store.db import discover_migrations

    data = env / "data"
    store = open_store(data, migrate=False)
    store.migrate(discover_migrations()[:1])
    store.close()
    check = check_database(load_settings(data))
    assert check.status == OK and "will be migrated" in check.detail


def test_tampered_plugin_fails(env, monkeypatch):
    source = bundled_plugin_dir()
    assert source is not None
    copy = env / "plugins"
    shutil.copytree(source, copy)
    first = sorted(p for p in copy.iterdir() if (p / "plugin.toml").exists())[0]
    with (first / "model.onnx").open("ab") as f:
        f.write(b"\x00")
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(copy))
    check = check_plugins(load_settings(env / "data"))
    assert check.status == FAIL and first.name in check.detail


def test_unreachable_pacs_fails(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (env / "site.toml").write_text(
        f'[[pacs]]\nname = "ward"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = {port}\n'
        "timeout_s = 2\n")
    monkeypatch_env = {"ONCOBOARD_SITE_CONFIG": str(env / "site.toml")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in monkeypatch_env.items():
            mp.setenv(k, v)
        checks = check_pacs(load_settings(env / "data"))
    assert [c.status for c in checks] == [FAIL]
    assert "refused" in checks[0].detail


def test_opengl_probe_failure_is_a_warning_naming_the_cause(env, monkeypatch):
    import sys

    from oncoboard import doctor

    monkeypatch.setattr(doctor, "_gl_probe_command", lambda settings: [
        sys.executable, "-c", "import sys; sys.exit('no EGL display found')"])
    check = doctor.check_opengl(load_settings(env / "data"))
    assert check.status == "warn" and "no EGL display found" in check.detail
    assert "2D viewing still works" in check.detail


def test_opengl_probe_runs_in_a_child_process(env):
    from oncoboard import doctor

    check = doctor.check_opengl(load_settings(env / "data"))
    # Where Mesa/EGL is present the renderer is named; elsewhere the reason is given.
    assert (check.status == OK and check.data["renderer"]) or "unavailable" in check.detail
