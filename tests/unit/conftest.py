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


# -- the two database backends ---------------------------------------------------------------
# A test asking for `db_target` (or a `store` fixture built on it) runs on SQLite and on a real
# PostgreSQL server started once per test process (pg_server.py). Without PostgreSQL binaries
# the PostgreSQL runs are skipped with the reason, unless ONCOBOARD_REQUIRE_POSTGRES=1 (CI),
# where they fail.

@pytest.fixture(scope="session")
def pg_server_running() -> Any:
    """Start a PostgreSQL server for this test process; stop it at the end."""
    import os

    import pg_server

    if pg_server.bindir() is None:
        reason = ("PostgreSQL is not installed (no initdb/pg_ctl): apt-get install postgresql "
                  "to run the PostgreSQL backend tests")
        if os.environ.get("ONCOBOARD_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (ONCOBOARD_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    server = pg_server.start_server()
    try:
        pg_server.make_template(server)
        yield server
    finally:
        pg_server.remove(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: Any) -> str:
    """Return the backend a test runs on: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def db_target(backend: str, tmp_path: Any, request: Any) -> Any:
    """Return what `open_store` opens: a data folder (SQLite) or a fresh database's URL."""
    if backend == "sqlite":
        yield tmp_path / "data"
        return
    server = request.getfixturevalue("pg_server_running")
    yield server.reset_database("t_tests")  # one database per test process, emptied per test
