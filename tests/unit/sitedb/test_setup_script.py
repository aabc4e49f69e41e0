"""packaging/site/setup-database.sh run against a real PostgreSQL server (its own, as the script
changes the server's TLS settings): database, owner, Oncoboard's migrations, roles.sql, users in
their roles, TLS with a given certificate; run twice (harmless)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from site_helpers import ROOT
from site_helpers import make_certificates as _certificates

from oncoboard.store import open_store

SCRIPT = ROOT / "packaging" / "site" / "setup-database.sh"
OWNER_PASSWORD = "test-only-owner-password"  # noqa: S105 - a throwaway test server


@pytest.fixture
def server(pg_server_running):  # noqa: ARG001 - the shared server's PGPASSFILE and skip rules
    import pg_server

    own = pg_server.start_server()
    yield own
    pg_server.remove(own)


def _run_script(server, tmp_path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ONCOBOARD_OWNER_PASSWORD=OWNER_PASSWORD,
               ONCOBOARD_HOME=str(tmp_path / "home"),
               ONCOBOARD_SITE_CONFIG=str(tmp_path / "site.toml"),
               ONCOBOARD_USER_CONFIG=str(tmp_path / "user.toml"),
               PYTHONPATH=str(ROOT / "app"))
    return subprocess.run(
        ["bash", str(SCRIPT), "--host", "127.0.0.1", "--port", str(server.port),
         "--admin", "oncoboard", "--database", "site", "--owner", "site_owner",
         "--oncoboard", f"{sys.executable} -m oncoboard",
         "--user", "alice:coordinator", "--user", "bmartin:clinician,radiologist", *extra],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("psql") is None or shutil.which("openssl") is None,
                    reason="needs psql and openssl")
def test_the_setup_script_makes_a_working_site_database_with_tls(server, tmp_path, monkeypatch):
    certs = server.base / "tls"
    certs.mkdir()
    ca, cert, key = _certificates(certs)
    for f in (certs, *certs.iterdir()):  # whatever the umask (the CLI's is 077)
        f.chmod(0o755 if f.is_dir() else 0o644)
        if server.as_user:  # the server runs as nobody: its key must be its own
            shutil.chown(f, "nobody")
    key.chmod(0o600)
    done = _run_script(server, tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "schema version" in done.stdout and "bmartin: clinician,radiologist" in done.stdout
    again = _run_script(server, tmp_path)  # harmless a second time
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(up to date)" in again.stdout

    server.sql("ALTER ROLE bmartin PASSWORD 'test-only-bmartin'")
    url = f"postgresql://bmartin:test-only-bmartin@127.0.0.1:{server.port}/site"
    store = open_store(url, ca_file=str(ca))  # verify-full against the given CA
    try:
        assert store.user.login == "bmartin"
        assert store.user.roles == frozenset({"clinician", "radiologist"})
        assert store.db.execute("SELECT ssl FROM pg_stat_ssl "
                                "WHERE pid = pg_backend_pid()").fetchone()[0] is True
        assert store.db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0
        owner = store.db.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                                 "WHERE datname = 'site'").fetchone()[0]
        assert owner == "site_owner"
    finally:
        store.close()
    # doctor on a workstation configured with the site's CA: TLS verified
    from oncoboard.config import load_settings
    from oncoboard.doctor import check_site_database

    (tmp_path / "site.toml").write_text(
        f'[database]\nurl = "postgresql://bmartin@127.0.0.1:{server.port}/site"\n'
        f'ca = "{ca}"\n')
    with open(os.environ["PGPASSFILE"], "a") as out:
        out.write(f"127.0.0.1:{server.port}:*:bmartin:test-only-bmartin\n")
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))
    monkeypatch.delenv("ONCOBOARD_DATABASE", raising=False)
    checks = {c.name: c for c in check_site_database(load_settings(tmp_path / "home"))}
    assert checks["site TLS"].status == "ok", checks["site TLS"].detail
    assert "TLS in use (TLSv1" in checks["site TLS"].detail and "verify-full" in \
        checks["site TLS"].detail
    assert checks["site login"].data["roles"] == ["clinician", "radiologist"]
    # a login in no site role may not even connect to the database
    server.sql("CREATE ROLE mallory LOGIN PASSWORD 'test-only-mallory'")
    from oncoboard.errors import StorageError
    with pytest.raises(StorageError, match="permission denied for database"):
        open_store(f"postgresql://mallory:test-only-mallory@127.0.0.1:{server.port}/site")


@pytest.mark.skipif(shutil.which("psql") is None or shutil.which("openssl") is None,
                    reason="needs psql and openssl")
def test_the_setup_script_says_when_the_server_cannot_turn_tls_on(server, tmp_path):
    certs = server.base / "tls"
    certs.mkdir()
    _, cert, _ = _certificates(certs)
    for f in (certs, *certs.iterdir()):
        f.chmod(0o755 if f.is_dir() else 0o600)
        if server.as_user:
            shutil.chown(f, "nobody")
    wrong_key = certs / "ca.key"  # not the certificate's key: the server keeps TLS off
    done = _run_script(server, tmp_path, "--tls-cert", str(cert), "--tls-key", str(wrong_key))
    assert done.returncode == 2 and "the server did not turn TLS on" in done.stderr


def test_the_setup_script_checks_its_options_before_changing_anything():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPT), "--port", "1", *args],
                              capture_output=True, text=True, timeout=30)

    done = run("--user", "x:surgeon")
    assert done.returncode == 2 and "unknown role 'surgeon'" in done.stderr
    done = run("--tls-cert", "a")
    assert done.returncode == 2 and "--tls-cert needs --tls-key" in done.stderr
    done = run("--database", "Drop Table")
    assert done.returncode == 2 and "database 'Drop Table' must be lower-case" in done.stderr
