"""Open the database, apply migrations, run transactions, on SQLite or PostgreSQL.

By default, one SQLite file (``oncoboard.db``) in the data folder, in WAL mode so the GUI can read
while a worker writes. Several processes may write to one folder (two imports, an import while a
prediction runs): a write transaction starts with ``BEGIN IMMEDIATE`` and waits up to
:data:`BUSY_TIMEOUT_MS` for the other writer to finish, rather than failing with "database is
locked" when a read inside it turns into a write. Migrations run the same way, each one re-checking
under the write lock whether another process applied it meanwhile.

The schema is versioned by numbered migrations (``store/migrations/mNNNN_*.py``), each applied once,
in order, inside its own transaction, and recorded in ``_migrations``; ``PRAGMA user_version``
mirrors the highest number applied. Number ranges by area: 1-99 foundation (patients), 100-199
imaging, 200-299 inference and audit, 300-399 board.

A site database on PostgreSQL (:func:`open_store` given a ``postgresql://`` URL) runs the same code:
``store.db`` answers the same calls (:mod:`oncoboard.store.pg`), each migration has a PostgreSQL
form (``migrate_postgres``, else its SQLite statements translated), migrations run under an advisory
lock, and a write transaction takes the site's write lock (an advisory lock), so writers wait their
turn as on SQLite. A workstation never writes to a database whose schema is newer than it knows
(:class:`~oncoboard.errors.StorageError` naming both versions).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import pkgutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

# sqlite-utils imports pandas when it is installed (0.2-0.3 s and ~40 MiB at every start), only
# to map DataFrame timestamps to TEXT columns; Oncoboard never passes DataFrames. Importing it
# while `import pandas` fails skips that; pandas stays importable by anything else afterwards.
_hide_pandas = "pandas" not in sys.modules and "sqlite_utils" not in sys.modules
if _hide_pandas:
    sys.modules["pandas"] = None  # type: ignore[assignment]
try:
    import sqlite_utils
finally:
    if _hide_pandas:
        del sys.modules["pandas"]

from oncoboard import database_url as db_url  # noqa: E402
from oncoboard.errors import RoleError, StorageError  # noqa: E402
from oncoboard.store import dialect_sqlite  # noqa: E402

log = logging.getLogger(__name__)

#: How long a writer waits for another process's write transaction to end.
BUSY_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema."""

    number: int
    name: str
    apply: Callable[[Any], None]
    apply_postgres: Callable[[Any], None] | None = None


class Database(Protocol):
    """What ``store.db`` answers on both backends (sqlite-utils' calls the code makes)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def query(self, sql: str, params: Any = ..., /) -> Iterator[dict[str, Any]]: ...
    def table_names(self) -> Any: ...
    def __getitem__(self, name: str, /) -> Any: ...
    def close(self) -> None: ...


class Connection(Protocol):
    """What ``store.conn`` answers on both backends (sqlite3's calls the code makes)."""

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...


def discover_migrations() -> list[Migration]:
    """Return the migrations shipped with this version, sorted by number."""
    from oncoboard.store import migrations as package

    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not (info.name.startswith("m") and info.name[1:5].isdigit()):
            continue
        module: ModuleType = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(info.name[1:5]), info.name, module.migrate,
                               getattr(module, "migrate_postgres", None)))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(numbers) != len(set(numbers)):
        raise StorageError(f"two migrations share a number: {numbers}")
    return found


class Store:
    """The patient database, on SQLite (the default) or a PostgreSQL site database.

    Parameters
    ----------
    db
        An open sqlite-utils database, or a :class:`oncoboard.store.pg.PgDatabase`.
    path
        The SQLite database file, or None (in memory, or a site database).
    url
        The site database's URL (no password), or None on SQLite.
    """

    #: The signed-in user (an `oncoboard.identity.User`), set by whoever opens the store.
    user: Any = None

    def __init__(self, db: Any, path: Path | None, url: str | None = None):
        self.db: Database = db
        self.path = path
        self.url = url
        if url is None:
            self.dialect: Any = dialect_sqlite
        else:
            from oncoboard.store import dialect_postgres

            self.dialect = dialect_postgres
            # the change feed's hooks (oncoboard.board.changes): NOTIFY at commit, LISTEN to
            # wait; absent on SQLite, where the feed is polled
            self.notify: Callable[[str, str], None] = db.notify
            self.wait_notify: Callable[[str, float], bool] = db.wait_notify
        #: The errors one statement raises on this backend (sqlite3's or psycopg's).
        self.Error: type[Exception] = self.dialect.Error
        self.IntegrityError: type[Exception] = self.dialect.IntegrityError
        self._checked_version = False

    @property
    def location(self) -> Path | str | None:
        """Return what `open_store` opens to reach this database again (file or URL)."""
        return self.url if self.url is not None else self.path

    @property
    def backend(self) -> str:
        """Return ``"sqlite"`` or ``"postgresql"``."""
        return str(self.dialect.NAME)

    @property
    def where(self) -> str:
        """Return how messages name the database: its file, or the server (no password)."""
        if self.url is not None:
            return f"database server {db_url.describe(self.url)}"
        return str(self.path) if self.path else "in-memory database"

    @property
    def conn(self) -> Connection:
        """Return the underlying connection (sqlite3's; on PostgreSQL, the database object)."""
        return self.db.conn  # type: ignore[attr-defined,no-any-return]

    def columns(self, table: str) -> tuple[str, ...]:
        """Return the column names of `table`, in order."""
        return tuple(self.dialect.columns(self.db, table))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Run the block in one transaction: all of it or nothing (a savepoint when nested).

        The outermost block takes the write lock at its start (``BEGIN IMMEDIATE``; the site's
        advisory write lock on PostgreSQL), waiting for another process's write to end: a
        deferred transaction that reads and then writes would fail at once instead of waiting.
        """
        try:
            if self.conn.in_transaction:
                with self.db.atomic():  # type: ignore[attr-defined]
                    yield self.db
                return
            self.check_writable()
            with self._immediate():
                yield self.db
        except self.Error as exc:
            raise self._error("database write failed", exc) from exc

    def _error(self, what: str, exc: BaseException) -> StorageError | RoleError:
        if self.url is None:
            return StorageError(f"{what}: {exc}", file=self.path)
        from oncoboard.store.pg import describe_error, refused_role

        refused = refused_role(exc)
        if refused is not None:  # the server's grants said no: the user lacks a role
            login = getattr(self.user, "login", "?")
            return RoleError(f"user {login}: {refused[1]}", role=refused[0])
        return StorageError(f"{what} on {self.where}: {describe_error(exc)}")

    @contextlib.contextmanager
    def _immediate(self, lock: int | None = None) -> Iterator[None]:
        if self.url is not None:
            with self.db.atomic():  # type: ignore[attr-defined]
                key = self.dialect.WRITE_LOCK if lock is None else lock
                self.db.execute(f"SELECT pg_advisory_xact_lock({int(key)})")
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        """Return the highest migration number applied."""
        return int(self.dialect.schema_version(self.db))

    def check_writable(self, known: int | None = None) -> None:
        """Refuse to write to a database whose schema is newer than this version knows.

        Raises
        ------
        StorageError
            Naming the database's schema version and the newest this version knows.
        """
        if self._checked_version and known is None:
            return
        known = discover_migrations()[-1].number if known is None else known
        found = self.schema_version()
        if found > known:
            raise StorageError(
                f"the {self.where} has schema version {found}, newer than this Oncoboard "
                f"knows (schema version {known}): it is not written to; update Oncoboard on "
                "this workstation", file=self.path)
        self._checked_version = True

    def applied_migrations(self) -> list[str]:
        """Return the names of the applied migrations, in order."""
        if "_migrations" not in self.db.table_names():
            return []
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY number")]

    def migrate(self, migrations: list[Migration] | None = None) -> list[str]:
        """Apply the migrations not yet applied, each in its own transaction; return their names.

        Raises StorageError, applying nothing, when the database's schema is newer than the
        newest migration given (another workstation runs a newer Oncoboard).
        """
        migrations = discover_migrations() if migrations is None else migrations
        lock = getattr(self.dialect, "MIGRATION_LOCK", None)
        try:
            # on PostgreSQL under the migration lock: two first workstations at once would
            # both create the table otherwise
            with self._immediate(lock) if self.url else contextlib.nullcontext():
                # (a site login without CREATE on the schema still opens a migrated one)
                if self.url is None or "_migrations" not in self.db.table_names():
                    self.db.execute(
                        "CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY, "
                        "name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        except self.Error as exc:
            raise self._error("cannot prepare the migrations", exc) from exc
        if migrations and self.schema_version() > migrations[-1].number:
            log.warning("the %s has schema version %d, newer than this version knows (%d): "
                        "read only", self.where, self.schema_version(), migrations[-1].number)
            return []
        done = set(self.applied_migrations())
        newly: list[str] = []
        for migration in migrations:
            if migration.name in done:
                continue
            try:
                with self._immediate(lock):
                    # another process may have applied it since we looked: check under the lock
                    if migration.name in self.applied_migrations():
                        continue
                    self._apply(migration)
                    self.db.execute(
                        "INSERT INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)",
                        [migration.number, migration.name, _now()],
                    )
                    version = max(migration.number, self.schema_version())
                    self.dialect.set_schema_version(self.db, version)
            except self.Error as exc:
                raise self._error(f"migration {migration.name} failed", exc) from exc
            log.info("applied migration %s", migration.name)
            newly.append(migration.name)
        return newly

    def _apply(self, migration: Migration) -> None:
        if self.url is None:
            migration.apply(self.db)
        elif migration.apply_postgres is not None:
            migration.apply_postgres(self.db)
        else:
            migration.apply(_DdlTranslator(self.db))

    def integrity_check(self) -> list[str]:
        """Return the database's integrity-check findings (``["ok"]`` when healthy)."""
        return list(self.dialect.integrity_check(self.db))

    def another_connection(self) -> Store:
        """Return a second store on the same database, with its own connection and user.

        For a worker thread (the board's change watcher): no migrations, the same TLS settings.
        """
        if self.url is not None:
            other = Store(self.db.reopen(), None, self.url)  # type: ignore[attr-defined]
        else:
            other = open_store(self.path, migrate=False)
        other.user = self.user
        return other

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class _DdlTranslator:
    """Hands a SQLite migration's DDL to PostgreSQL, translated (``INTEGER`` -> ``BIGINT``...)."""

    def __init__(self, db: Any):
        self.db = db

    def execute(self, sql: str, params: Any = None) -> Any:
        from oncoboard.store.dialect_postgres import ddl

        return self.db.execute(ddl(sql), params)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def open_store(path: str | Path | None, *, migrate: bool = True,
               ca_file: str | None = None) -> Store:
    """Open (creating if needed) the database at `path` and bring its schema up to date.

    Parameters
    ----------
    path
        The database file, or a data folder (``oncoboard.db`` inside it), or None for memory,
        or a ``postgresql://`` URL of a site database.
    migrate
        Apply pending migrations; False opens as-is (for diagnostics).
    ca_file
        A site database's CA certificate: the connection then uses TLS, ``verify-full``.
    """
    if db_url.is_postgres(path):
        from oncoboard.identity import database_user
        from oncoboard.store.pg import open_postgres, signed_in

        store = Store(open_postgres(str(path), ca_file), None, str(path))
        # on a site database the signed-in user is the database login, with the site roles
        # it is a member of (the server's grants enforce the same roles)
        try:
            store.user = database_user(*signed_in(store.db))  # type: ignore[arg-type]
        except store.Error as exc:
            store.close()
            raise store._error("cannot read the signed-in login", exc) from exc
        if migrate:
            store.migrate()
        return store
    if path is None:
        db = sqlite_utils.Database(memory=True)
        file = None
    else:
        file = Path(path)
        if file.is_dir() or not file.suffix:
            file = file / "oncoboard.db"
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite_utils.Database(file)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.enable_wal()
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the database: {exc}", file=file) from exc
    db.execute("PRAGMA foreign_keys = ON")
    store = Store(db, file)
    if migrate:
        store.migrate()
    return store
