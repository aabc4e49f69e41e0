"""A real PostgreSQL server for the tests and benchmarks: initdb + pg_ctl in a temporary folder.

The server listens on 127.0.0.1 on a free port, with password authentication (scram) for TCP
connections; the password is in a pgpass file named by ``PGPASSFILE`` (as a site would do), so
URLs carry none. PostgreSQL refuses to run as root: as root, the server runs as ``nobody``.
Durability is off (``initdb --no-sync``, ``fsync``, ``synchronous_commit``): the data is thrown
away afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reaper import stop_when_orphaned

USER = "oncoboard"
PASSWORD = "test-only-password"  # noqa: S105 - a throwaway server on 127.0.0.1
TEMPLATE = "oncoboard_template"


_RESET = """  -- {newest}: the template's schema version
DO $$
DECLARE t text;
BEGIN
    SELECT string_agg(format('%I', tablename), ', ') INTO t FROM pg_tables
    WHERE schemaname = current_schema() AND tablename <> '_migrations';
    EXECUTE 'TRUNCATE ' || t || ' RESTART IDENTITY CASCADE';
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
        EXECUTE format('ALTER TABLE %I ENABLE TRIGGER USER', t);
    END LOOP;
    DELETE FROM _migrations WHERE number > {newest};
END $$
"""


def bindir() -> Path | None:
    """Return the folder holding initdb, pg_ctl and postgres, or None when not installed."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").is_file() and Path(candidate, "pg_ctl").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server."""

    base: Path
    port: int
    bin: Path
    as_user: list[str]
    template_version: int = 0
    env: dict[str, str] | None = None  # added to the server's environment (e.g. KRB5_CONFIG)

    def url(self, dbname: str = "postgres", user: str = USER) -> str:
        """Return the URL of `dbname` (no password: PGPASSFILE holds it)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True,
                              check=check, timeout=120, env={**os.environ, **(self.env or {})})

    def start(self) -> None:
        """Start (or start again) the server and wait until it accepts connections."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-w", "-t", "60",
                  "-l", str(self.base / "server.log"), "-o",
                  f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends the open sessions, rolling back their transactions)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-w", "-m", mode,
                  "stop", check=False)

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser (autocommit)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def fresh_database(self, name: str) -> str:
        """Create database `name` from the migrated template and return its URL."""
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY')
        return self.url(name)

    def reset_database(self, name: str) -> str:
        """Return the URL of database `name`, emptied (created from the template the first time).

        Every table is truncated and its identities restarted, triggers a test disabled are
        enabled again and migrations a test recorded beyond the template's are forgotten: one
        statement, where creating a database per test took a checkpoint each time.
        """
        import psycopg

        url = self.url(name)
        try:
            conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            return self.fresh_database(name)
        with conn:
            conn.execute("SET lock_timeout = '3s'")
            for attempt in range(2):
                try:
                    conn.execute(_RESET.format(newest=self.template_version))  # type: ignore
                    break
                except psycopg.errors.LockNotAvailable:
                    if attempt:
                        raise
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return url

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending its sessions."""
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(base: Path | None = None, env: dict[str, str] | None = None,
                 configure: Any = None) -> Server:
    """Initialise and start a server in a new temporary folder (see the module description).

    With `base`, the cluster lives in that folder and is kept: a folder already holding one
    (from an earlier call) is started again as it was, with its databases. `env` is added to
    the server's environment; `configure(server)` runs after initdb, before the first start (to
    write pg_hba.conf or postgresql.conf).
    """
    binaries = bindir()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb/pg_ctl)")
    if base is not None and (base / "data" / "PG_VERSION").is_file():
        return _restart(base, binaries)
    kept = base is not None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="oncoboard-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
        base.chmod(0o755)
        with contextlib.suppress(OSError):
            Path(tempfile.gettempdir()).chmod(Path(tempfile.gettempdir()).stat().st_mode | 0o001)
        as_user = ["runuser", "-u", "nobody", "--"]
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "nobody")
    server = Server(base, _free_port(), binaries, as_user, env=env)
    server._run(str(binaries / "initdb"), "-D", str(base / "data"), "-U", USER,
                "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    pwfile.unlink()
    with (base / "data" / "postgresql.conf").open("a") as conf:
        conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                   "max_connections = 200\nshared_buffers = 256MB\n")
    if configure is not None:
        configure(server)
    _start(server)
    # a killed test run leaves no server behind: stopped, its temporary folder removed
    stop = shlex.join([*as_user, str(binaries / "pg_ctl"), "-D", str(base / "data"), "-w",
                       "-m", "immediate", "stop"])
    stop_when_orphaned(command=["sh", "-c", stop if kept else
                                f"{stop}; rm -rf {shlex.quote(str(base))}"])
    return server


def _start(server: Server) -> None:
    for attempt in range(3):
        try:
            server.start()
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            server.port = _free_port()
            time.sleep(0.5)
    # one pgpass file per process, a line per server (a test may start a second one)
    passfile = Path(tempfile.gettempdir()) / f"oncoboard-pgpass-{os.getpid()}"
    with passfile.open("a") as out:
        out.write(f"127.0.0.1:{server.port}:*:{USER}:{PASSWORD}\n")
    passfile.chmod(0o600)
    os.environ["PGPASSFILE"] = str(passfile)


def _restart(base: Path, binaries: Path) -> Server:
    """Start the cluster kept in `base` again (see :func:`start_server`)."""
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    server = Server(base, _free_port(), binaries, as_user)
    server.stop("fast")  # a server left running by an interrupted run
    _start(server)
    stop_when_orphaned(command=[*as_user, str(binaries / "pg_ctl"), "-D", str(base / "data"),
                                "-w", "-m", "fast", "stop"])  # the cluster itself is kept
    return server


def make_template(server: Server) -> None:
    """Create the template database: extensions and every migration applied once."""
    from oncoboard.store import open_store

    server.sql(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
    server.sql(f"CREATE DATABASE {TEMPLATE}")
    store = open_store(server.url(TEMPLATE))
    server.template_version = store.schema_version()
    store.close()


def remove(server: Server) -> None:
    """Stop the server and delete its folder."""
    server.stop("immediate")
    shutil.rmtree(server.base, ignore_errors=True)


def drop_trigger(store: object, name: str) -> None:
    """Remove a SQLite trigger by name, or disable the PostgreSQL trigger that does its work.

    (A tampering test: someone with write access removes the append-only protection.)
    On PostgreSQL one trigger per table refuses both UPDATE and DELETE (``TABLE_append_only``).
    """
    db = store.db  # type: ignore[attr-defined]
    if getattr(store, "backend", "sqlite") == "sqlite":
        db.execute(f"DROP TRIGGER {name}")
        return
    for suffix, trigger in (("_no_update", "_append_only"), ("_no_delete", "_append_only"),
                            ("_chain", "_chain")):
        if name.endswith(suffix):
            table = name[: -len(suffix)]
            db.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}{trigger}")
            return
    raise ValueError(f"no PostgreSQL counterpart for trigger {name}")


def sqlite_only(store: object, reason: str) -> None:
    """Skip the PostgreSQL run of a test that checks something only SQLite has."""
    import pytest

    if getattr(store, "backend", "sqlite") != "sqlite":
        pytest.skip(f"SQLite only: {reason}")
