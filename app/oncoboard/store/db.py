"""Open the database, apply migrations, run transactions.

One SQLite file (``oncoboard.db``) in the data folder, in WAL mode so the GUI can read while a
worker writes. Several processes may write to one folder (two imports, an import while a
prediction runs): a write transaction starts with ``BEGIN IMMEDIATE`` and waits up to
:data:`BUSY_TIMEOUT_MS` for the other writer to finish, rather than failing with "database is
locked" when a read inside it turns into a write. Migrations run the same way, each one
re-checking under the write lock whether another process applied it meanwhile.

The schema is versioned by numbered migrations (``store/migrations/mNNNN_*.py``), each applied
once, in order, inside its own transaction, and recorded in ``_migrations``; ``PRAGMA
user_version`` mirrors the highest number applied. Number ranges by area: 1-99 foundation
(patients), 100-199 imaging, 200-299 inference and audit, 300-399 board.
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
from typing import Any

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

from oncoboard.errors import StorageError  # noqa: E402

log = logging.getLogger(__name__)

#: How long a writer waits for another process's write transaction to end.
BUSY_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema."""

    number: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]


def discover_migrations() -> list[Migration]:
    """Return the migrations shipped with this version, sorted by number."""
    from oncoboard.store import migrations as package

    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not (info.name.startswith("m") and info.name[1:5].isdigit()):
            continue
        module: ModuleType = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(info.name[1:5]), info.name, module.migrate))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(numbers) != len(set(numbers)):
        raise StorageError(f"two migrations share a number: {numbers}")
    return found


class Store:
    """The patient database.

    Parameters
    ----------
    db
        An open sqlite-utils database, migrated to the current schema.
    path
        The database file, or None for an in-memory store.
    """

    #: The signed-in user (an `oncoboard.identity.User`), set by whoever opens the store.
    user: Any = None

    def __init__(self, db: sqlite_utils.Database, path: Path | None):
        self.db = db
        self.path = path

    @property
    def conn(self) -> sqlite3.Connection:
        """Return the underlying sqlite3 connection."""
        return self.db.conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """Run the block in one transaction: all of it or nothing (a savepoint when nested).

        The outermost block takes the write lock at its start (``BEGIN IMMEDIATE``), waiting
        for another process's write to end: a deferred transaction that reads and then writes
        would fail at once instead of waiting.
        """
        try:
            if self.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            with self._immediate():
                yield self.db
        except sqlite3.Error as exc:
            raise StorageError(f"database write failed: {exc}", file=self.path) from exc

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
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
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def applied_migrations(self) -> list[str]:
        """Return the names of the applied migrations, in order."""
        if "_migrations" not in self.db.table_names():
            return []
        return [r[0] for r in self.db.execute("SELECT name FROM _migrations ORDER BY number")]

    def migrate(self, migrations: list[Migration] | None = None) -> list[str]:
        """Apply the migrations not yet applied, each in its own transaction; return their names."""
        migrations = discover_migrations() if migrations is None else migrations
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = set(self.applied_migrations())
        newly: list[str] = []
        for migration in migrations:
            if migration.name in done:
                continue
            try:
                with self._immediate():
                    # another process may have applied it since we looked: check under the lock
                    if migration.name in self.applied_migrations():
                        continue
                    migration.apply(self.db)
                    self.db.execute(
                        "INSERT INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)",
                        [migration.number, migration.name, _now()],
                    )
                    version = max(migration.number, self.schema_version())
                    self.db.execute(f"PRAGMA user_version = {version}")
            except sqlite3.Error as exc:
                raise StorageError(f"migration {migration.name} failed: {exc}",
                                   file=self.path) from exc
            log.info("applied migration %s", migration.name)
            newly.append(migration.name)
        return newly

    def integrity_check(self) -> list[str]:
        """Return SQLite's integrity-check findings (``["ok"]`` when healthy)."""
        return [r[0] for r in self.db.execute("PRAGMA integrity_check")]

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def open_store(path: str | Path | None, *, migrate: bool = True) -> Store:
    """Open (creating if needed) the database at `path` and bring its schema up to date.

    Parameters
    ----------
    path
        The database file, or a data folder (``oncoboard.db`` inside it), or None for memory.
    migrate
        Apply pending migrations; False opens as-is (for diagnostics).
    """
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
