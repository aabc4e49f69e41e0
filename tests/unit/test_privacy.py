"""Privacy: no telemetry, nothing written outside the data folder, owner-only patient files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def test_sessions_are_created_with_onnxruntime_telemetry_off(monkeypatch):
    import onnxruntime as ort

    from oncoboard.doctor import PROBE_MODEL
    from oncoboard.inference import runtime

    calls: list[int] = []
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append(1))
    monkeypatch.setattr(runtime, "_telemetry_off", False)
    runtime.create_session(Path(PROBE_MODEL), ["CPUExecutionProvider"])
    assert calls == [1]


def _env(home: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), ONCOBOARD_HOME=str(data),
               ONCOBOARD_SITE_CONFIG=str(home / "site.toml"))
    env.pop("ONCOBOARD_USER_CONFIG", None)
    return env


@posix
def test_doctor_and_a_model_write_nothing_outside_the_data_folder(tmp_path):
    """HOME is an empty folder: afterwards it holds nothing (no ~/.cache/Microsoft telemetry,
    no ~/.local/share/oncoboard log from doctor's GL-probe child)."""
    home, data = tmp_path / "home", tmp_path / "elsewhere" / "data"
    home.mkdir()
    env = _env(home, data)
    subprocess.run([sys.executable, "-m", "oncoboard", "doctor", "--data-dir", str(data)],
                   env=env, capture_output=True, text=True, timeout=180)
    subprocess.run([sys.executable, "-c",
                    "from pathlib import Path\nfrom oncoboard.doctor import PROBE_MODEL\n"
                    "from oncoboard.inference.runtime import create_session\n"
                    "s = create_session(Path(PROBE_MODEL), ['CPUExecutionProvider'])\n"],
                   env=env, check=True, timeout=60)
    # the app's own cache (pint's unit registry) is allowed: README "Files and permissions"
    allowed = (".cache", ".cache/oncoboard", ".config")
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert [w for w in written if not w.startswith(allowed)] == [], written
    assert not (home / ".cache" / "Microsoft").exists()
    assert (data / "logs" / "oncoboard.log").is_file()


@posix
def test_patient_files_are_owner_only_whatever_the_umask(run, tmp_path):
    old = os.umask(0o022)
    try:
        code, out, err = run("import", "patients",
                             Path(__file__).parent.parent / "data" / "patients" / "example.csv")
    finally:
        os.umask(old)
    assert code == 0, err
    data = tmp_path / "home"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in [data / "oncoboard.db", data / "logs" / "oncoboard.log"]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    code, out, err = run("doctor", "--json")
    assert '"file permissions"' in out and "owner only" in out


@posix
def test_doctor_warns_about_world_readable_patient_files(run, tmp_path):
    run("patients", "list")
    os.chmod(tmp_path / "home" / "oncoboard.db", 0o644)
    code, out, err = run("doctor", "--json")
    assert "readable by other users" in out and "oncoboard.db 644" in out


@posix
def test_unwritable_data_folder_logs_nowhere_else(tmp_path, monkeypatch):
    import logging
    import tempfile

    from oncoboard.logs import setup_logging

    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        assert setup_logging(locked / "logs") is None
    finally:
        os.chmod(locked, 0o700)
        setup_logging(None)
        for h in list(logging.getLogger().handlers):
            if getattr(h, "_oncoboard", False):
                logging.getLogger().removeHandler(h)
    user_tmp = Path(tempfile.gettempdir()).glob("oncoboard-*/oncoboard.log")
    assert not [p for p in user_tmp if p.stat().st_mtime > locked.stat().st_mtime - 1]
