"""Helpers of the site database tests: a site database with roles.sql applied and test logins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
ROLES_SQL = ROOT / "packaging" / "site" / "roles.sql"
PASSWORD = "test-only-login-password"  # noqa: S105 - logins of a throwaway test server

#: Test logins and the site roles each one holds.
LOGINS = {
    "carol": ["coordinator"],
    "dupont": ["clinician"],
    "rene": ["radiologist"],
    "nobody_in_particular": [],
}


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """Make a CA and a server certificate for 127.0.0.1 and localhost signed by it; return
    (ca, cert, key)."""
    import subprocess

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def apply_roles(server: Any, dbname: str) -> None:
    """Run roles.sql on `dbname` as its owner (the superuser of the test server)."""
    import psycopg

    with psycopg.connect(server.url(dbname), autocommit=True) as conn:
        conn.execute(ROLES_SQL.read_text())  # type: ignore[arg-type]


def create_logins(server: Any) -> None:
    """Create the test logins (cluster-wide, once per server) with their roles."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        for login, roles in LOGINS.items():
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone():
                continue
            conn.execute(f"CREATE ROLE {login} LOGIN PASSWORD '{PASSWORD}'")  # type: ignore
            for role in roles:
                conn.execute(f"GRANT oncoboard_{role} TO {login}")  # type: ignore[arg-type]


def login_url(server: Any, dbname: str, login: str, password: str = PASSWORD) -> str:
    """Return the URL of `dbname` for `login`, its password in the URL (tests only)."""
    return f"postgresql://{login}:{password}@127.0.0.1:{server.port}/{dbname}"


def remember_password(server: Any, login: str, password: str = PASSWORD) -> None:
    """Add `login`'s password to the tests' pgpass file (as a site's workstation would)."""
    import os

    with open(os.environ["PGPASSFILE"], "a") as out:
        out.write(f"127.0.0.1:{server.port}:*:{login}:{password}\n")
