"""Who may connect to a site database, and how: a real server set up by packaging/site/
setup-database.sh with TLS, Kerberos (a throwaway MIT KDC, tests/unit/krb_kdc.py) and the
pg_hba.conf lines the recipe writes.

- pg_hba.conf: a plain (unencrypted) connection is refused, TLS with verify-full is accepted, a
  login holding no site role is refused with the roles it needs named.
- Kerberos: a workstation configured with ``[database] auth = "kerberos"`` signs in with the
  user's ticket and no password (none anywhere, the keyring not asked), the audit names the
  principal's login, ``oncoboard doctor`` reports GSSAPI and whether it encrypts; without a
  ticket, a message saying to run kinit.

The Kerberos tests are skipped when krb5 is not installed, except under
ONCOBOARD_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import krb_kdc
import pg_server
import psycopg
import pytest
from site_helpers import ROOT, make_certificates

from oncoboard.errors import StorageError
from oncoboard.store import open_store

SCRIPT = ROOT / "packaging" / "site" / "setup-database.sh"
OWNER_PASSWORD = "test-only-owner-password"  # noqa: S105 - a throwaway test server
BOB_PASSWORD = "test-only-bob-password"  # noqa: S105
MALLORY_PASSWORD = "test-only-mallory-password"  # noqa: S105
REQUIRED = os.environ.get("ONCOBOARD_REQUIRE_POSTGRES") == "1"

pytestmark = pytest.mark.skipif(shutil.which("psql") is None or shutil.which("openssl") is None,
                                reason="needs psql and openssl")


@dataclass
class Site:
    """The server set up by the recipe, its KDC (None without krb5) and the recipe's output."""

    server: pg_server.Server
    kdc: krb_kdc.Kdc | None
    ca: Path
    hba: Path
    recipe_out: str
    ticket: Path | None = None  # alice's ticket cache
    start_s: float = 0.0        # how long the KDC took to start

    def url(self, user: str, password: str | None = None, host: str = "127.0.0.1",
            **options: str) -> str:
        who = f"{user}:{password}" if password else user
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://{who}@{host}:{self.server.port}/site" + (f"?{query}" if query else "")


def _recipe(server: pg_server.Server, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ONCOBOARD_OWNER_PASSWORD=OWNER_PASSWORD,
               ONCOBOARD_HOME=str(home / "home"), ONCOBOARD_SITE_CONFIG=str(home / "site.toml"),
               ONCOBOARD_USER_CONFIG=str(home / "user.toml"), PYTHONPATH=str(ROOT / "app"))
    return subprocess.run(
        ["bash", str(SCRIPT), "--host", "127.0.0.1", "--port", str(server.port),
         "--admin", "oncoboard", "--database", "site", "--owner", "site_owner",
         "--oncoboard", f"{sys.executable} -m oncoboard",
         "--user", "alice:coordinator", "--user", "bob:clinician", *extra],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(pg_server_running: Any, tmp_path_factory: Any) -> Any:  # noqa: ARG001 - PGPASSFILE
    """Start a KDC (when krb5 is installed) and a server, and set the server up by the recipe."""
    kdc = None
    if krb_kdc.missing():
        if REQUIRED:
            pytest.fail(f"Kerberos is not installed: apt-get install {' '.join(krb_kdc.missing())}"
                        " (ONCOBOARD_REQUIRE_POSTGRES=1)")
    else:
        started = time.monotonic()
        kdc = krb_kdc.start_kdc()
        start_s = time.monotonic() - started
    server = None
    try:
        extra: list[str] = []
        if kdc is not None:
            kdc.base.chmod(0o755)  # the server (nobody, as root) reads its keytab here
            kdc.add_principals("postgres/localhost", keytab=kdc.base / "postgres.keytab")
            kdc.add_principals("alice", "carl", keytab=kdc.base / "users.keytab")
            for f in (kdc.base / "postgres.keytab", kdc.base / "rcache"):
                if os.geteuid() == 0:
                    shutil.chown(f, "nobody")
            extra = ["--kerberos", krb_kdc.REALM, "--keytab", str(kdc.base / "postgres.keytab")]
        server = pg_server.start_server(env=kdc.env if kdc else None)
        certs = server.base / "tls"
        certs.mkdir()
        ca, cert, key = make_certificates(certs)
        for f in (certs, *certs.iterdir()):
            f.chmod(0o755 if f.is_dir() else 0o644)
            if server.as_user:
                shutil.chown(f, "nobody")
        key.chmod(0o600)
        hba = server.base / "data" / "pg_hba.conf"
        home = tmp_path_factory.mktemp("recipe")
        done = _recipe(server, home, "--tls-cert", str(cert), "--tls-key", str(key),
                       "--hba-file", str(hba), *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        server.sql(f"ALTER ROLE bob PASSWORD '{BOB_PASSWORD}'")
        server.sql(f"CREATE ROLE mallory LOGIN PASSWORD '{MALLORY_PASSWORD}'")
        server.sql("CREATE ROLE carl LOGIN")  # a Kerberos principal's login in no site role
        made = Site(server, kdc, ca, hba, done.stdout)
        if kdc is not None:
            made.start_s = start_s
            made.ticket = kdc.base / "alice.ccache"
            kdc.kinit("alice", kdc.base / "users.keytab", made.ticket)
        yield made
    finally:
        if server is not None:
            pg_server.remove(server)
        if kdc is not None:
            krb_kdc.stop(kdc)


def _logs(site: Site) -> str:
    """Return the ends of the server's and the KDC's logs (for a failing test's message)."""
    text = ""
    for log in (site.server.base / "server.log", *((site.kdc.base / "kdc.log",)
                                                    if site.kdc else ())):
        if log.exists():
            text += f"\n--- {log.name}:\n" + log.read_text(errors="replace")[-3000:]
    return text


def _refused(url: str, **kwargs: Any) -> str:
    with pytest.raises(StorageError) as caught:
        open_store(url, **kwargs)
    return caught.value.message


# -- pg_hba.conf ------------------------------------------------------------------------------

def test_the_recipe_writes_its_lines_at_the_top_of_pg_hba_conf(site):
    lines = [x.split() for x in site.hba.read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    gss = ["gss", "include_realm=0", f"krb_realm={krb_kdc.REALM}"]
    users = (["hostgssenc", "site", "+oncoboard_user", "all", *gss],
             ["hostssl", "site", "+oncoboard_user", "all", *gss]) if site.kdc else (
             ["hostssl", "site", "+oncoboard_user", "all", "scram-sha-256"],)
    # the block first (the first matching line wins), then initdb's own lines
    assert lines[:len(users) + 2] == [
        *users, ["hostssl", "site", "site_owner,oncoboard", "all", "scram-sha-256"],
        ["host", "site", "all", "all", "reject"]]
    assert len(lines) > len(users) + 2
    assert "the Oncoboard lines written at the top, configuration reloaded" in site.recipe_out
    # a second run replaces its block (one, at the top) and changes nothing else
    before = site.hba.read_text()
    again = _recipe(site.server, site.server.base, "--hba-file", str(site.hba),
                    *(["--kerberos", krb_kdc.REALM] if site.kdc else []))
    assert again.returncode == 0, again.stdout + again.stderr
    assert site.hba.read_text() == before
    assert before.count("# BEGIN oncoboard site") == 1
    # a file the server does not read (a copy, another machine's) is refused, left as it was
    copy = site.server.base / "copy-of-pg_hba.conf"
    copy.write_text("# not the server's\n")
    wrong = _recipe(site.server, site.server.base, "--hba-file", str(copy))
    assert wrong.returncode == 2 and "is not the file the server reads" in wrong.stderr
    assert copy.read_text() == "# not the server's\n"


def test_a_plain_connection_is_refused_and_tls_with_verify_full_is_accepted(site):
    # the owner signs in by password (as the administrator): over TLS only
    url = site.url("site_owner", OWNER_PASSWORD, sslmode="disable", gssencmode="disable")
    with pytest.raises(psycopg.OperationalError, match="pg_hba.conf rejects connection .*"
                       "no encryption"):
        psycopg.connect(url).close()
    message = _refused(url)
    assert "the server refuses unencrypted connections" in message and "[database] ca" in message
    assert OWNER_PASSWORD not in message
    store = open_store(site.url("site_owner", OWNER_PASSWORD, gssencmode="disable"),
                       ca_file=str(site.ca))
    try:
        assert store.user.login == "site_owner"
        assert store.db.execute("SELECT ssl FROM pg_stat_ssl "
                                "WHERE pid = pg_backend_pid()").fetchone()[0] is True
    finally:
        store.close()
    # the server's certificate is checked: a certificate from another CA is not accepted
    other = site.server.base / "other"
    other.mkdir(exist_ok=True)
    wrong_ca, _, _ = make_certificates(other)
    message = _refused(site.url("site_owner", OWNER_PASSWORD, gssencmode="disable"),
                       ca_file=str(wrong_ca))
    assert "certificate verify failed" in message


def test_a_site_user_signs_in_by_password_over_tls_unless_the_site_uses_kerberos(site,
                                                                                  monkeypatch):
    url = site.url("bob", BOB_PASSWORD, gssencmode="disable")
    if site.kdc is not None:  # this process's krb5: the KDC's realm, bob holding no ticket
        monkeypatch.setenv("KRB5_CONFIG", site.kdc.env["KRB5_CONFIG"])
        monkeypatch.setenv("KRB5CCNAME", f"FILE:{site.kdc.base}/bob-has-no.ccache")
    if site.kdc is None:  # password logins of the site's users: TLS with scram-sha-256
        store = open_store(url, ca_file=str(site.ca))
        try:
            assert store.user.login == "bob" and store.user.roles == frozenset({"clinician"})
        finally:
            store.close()
        return
    # a Kerberos site: its users sign in by ticket only, a password is never asked for
    message = _refused(url, ca_file=str(site.ca))
    assert "no Kerberos ticket: run kinit bob" in message and BOB_PASSWORD not in message


def test_a_login_in_no_site_role_is_refused_with_the_roles_it_needs(site):
    message = _refused(site.url("mallory", MALLORY_PASSWORD, gssencmode="disable"),
                       ca_file=str(site.ca))
    assert 'user "mallory"' in message and "the server refuses login mallory" in message
    assert "oncoboard_coordinator, oncoboard_clinician" in message
    assert "oncoboard_user" in message
    assert MALLORY_PASSWORD not in message


# -- Kerberos ---------------------------------------------------------------------------------

@pytest.fixture
def kerberos(site, tmp_path, monkeypatch):
    """A workstation of a Kerberos site: the KDC's krb5.conf, no password anywhere; return a
    function writing its site configuration."""
    if site.kdc is None:
        pytest.skip("Kerberos is not installed: apt-get install "
                    f"{' '.join(krb_kdc.missing())} to run the Kerberos tests")
    monkeypatch.setenv("KRB5_CONFIG", site.kdc.env["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{site.ticket}")
    monkeypatch.setenv("PGUSER", "alice")  # the workstation login (tests run as root or so)
    for name in ("PGPASSFILE", "PGPASSWORD", "ONCOBOARD_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    asked = _recording_keyring(monkeypatch)

    def configure(auth: str = "kerberos", query: str = "", ca: bool = True) -> list[Any]:
        lines = [f'url = "postgresql://localhost:{site.server.port}/site{query}"']
        if auth:
            lines.append(f'auth = "{auth}"')
        if ca:
            lines.append(f'ca = "{site.ca}"')
        (tmp_path / "site.toml").write_text("[database]\n" + "\n".join(lines) + "\n")
        return asked

    return configure


def _recording_keyring(monkeypatch: Any) -> list[tuple[str, str]]:
    """Install an OS keyring that records what is asked of it (and holds nothing)."""
    from keyring.backend import KeyringBackend

    asked: list[tuple[str, str]] = []

    class Recording(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            asked.append((service, username))
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", Recording())  # put back afterwards
    return asked


def test_a_kerberos_site_signs_in_with_the_ticket_and_no_password(site, kerberos, run):
    asked = kerberos()
    code, out, err = run("board", "create", "--date", "2026-12-10", "--specialty", "thorax",
                         "--title", "Thoracic board", "--json")
    assert code == 0, err + _logs(site)
    meeting = json.loads(out)
    assert asked == []  # no password looked up
    # the audit names the database login of the principal alice@ONCOBOARD.TEST
    superuser = site.server.url("site").replace("@", f":{pg_server.PASSWORD}@")
    with psycopg.connect(superuser, sslmode="require") as conn:
        actor = conn.execute("SELECT actor FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        creator = conn.execute("SELECT created_by FROM board_meetings WHERE id = %s",
                               [meeting["id"]]).fetchone()
    assert actor == ("alice",) and creator == ("alice",)

    code, out, _ = run("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert checks["site login"]["status"] == "ok", checks["site login"]
    assert checks["site login"]["data"]["login"] == "alice"
    sign_in = checks["site sign-in"]
    assert sign_in["status"] == "ok" and sign_in["data"]["method"] == "gssapi"
    assert sign_in["detail"].startswith(f"Kerberos/GSSAPI as alice@{krb_kdc.REALM}, no password")
    assert sign_in["data"]["gss_encrypted"] is True and "encrypted by GSSAPI" in sign_in["detail"]
    assert checks["site TLS"]["status"] == "ok"
    assert "encrypted by GSSAPI" in checks["site TLS"]["detail"]
    assert asked == []


def test_gssapi_sign_in_over_tls_is_reported_as_not_encrypted_by_gssapi(kerberos, run):
    kerberos(query="?gssencmode=disable")  # the site's choice: TLS encrypts, Kerberos signs in
    code, out, _ = run("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    sign_in = checks["site sign-in"]
    assert sign_in["data"]["method"] == "gssapi" and sign_in["data"]["gss_encrypted"] is False
    assert "not encrypted by GSSAPI" in sign_in["detail"]
    assert checks["site TLS"]["status"] == "ok" and "verify-full" in checks["site TLS"]["detail"]


def test_without_a_ticket_the_message_says_to_run_kinit(site, kerberos, run, monkeypatch):
    asked = kerberos()
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{site.server.base}/no-such-ccache")
    code, out, err = run("patients", "list")
    assert code != 0 and "Traceback" not in err + out
    assert "no Kerberos ticket: run kinit alice" in err
    assert asked == []  # the site says Kerberos: the keyring is not asked
    # the same workstation configured for passwords asks the keyring (what the above rules out)
    kerberos(auth="")
    code, _, err = run("patients", "list")
    assert code != 0 and asked == [("oncoboard-database", "alice")]


def test_an_expired_ticket_says_to_run_kinit_again(site, kerberos, run, tmp_path, monkeypatch):
    asked = kerberos()
    ccache = tmp_path / "alice-short.ccache"
    site.kdc.kinit("alice", site.kdc.base / "users.keytab", ccache, lifetime="2s")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    time.sleep(3.5)  # the ticket's 2 s and the realm's 1 s of clock skew
    code, out, err = run("patients", "list")
    assert code != 0 and "Traceback" not in err + out
    assert "the Kerberos ticket has expired: run kinit alice" in err, err
    assert asked == []  # an expired ticket is not a reason to ask for a password


def test_a_ticket_of_another_principal_than_the_login_is_named(site, kerberos, run,
                                                                monkeypatch):
    asked = kerberos()  # alice's ticket, while the workstation signs in as bob (a site user)
    monkeypatch.setenv("PGUSER", "bob")
    code, out, err = run("patients", "list")
    assert code != 0 and "Traceback" not in err + out
    assert ("the server did not accept the Kerberos ticket for login bob: its principal must "
            "be bob@") in err, err
    assert asked == []


def test_a_principal_in_no_site_role_is_refused_with_the_roles_named(site, kerberos, tmp_path,
                                                                     monkeypatch):
    kerberos()
    ccache = tmp_path / "carl.ccache"
    site.kdc.kinit("carl", site.kdc.base / "users.keytab", ccache)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    monkeypatch.setenv("PGUSER", "carl")
    message = _refused(site.url("carl", host="localhost", require_auth="gss",
                                gssencmode="prefer"))
    assert "the server refuses login carl" in message and "oncoboard_user" in message


def test_a_service_principal_unknown_to_the_kdc_is_named(site, kerberos, run):
    kerberos(query="?krbsrvname=pgsql")  # another service name (or a host name alias)
    code, out, err = run("board", "list")
    assert code != 0 and "Traceback" not in err + out
    assert ("the KDC knows no service principal for this database server "
            f"(pgsql/localhost@{krb_kdc.REALM})") in err, err
