"""A PostgreSQL connection with the calls the code makes on the SQLite database.

``store.db`` is a sqlite-utils database on SQLite; on PostgreSQL it is a :class:`PgDatabase`,
which answers the same calls (``query`` giving dicts, ``execute`` giving a cursor of tuples,
``executemany``, ``table_names``, ``db[table].insert``/``count``/``rows``, ``in_transaction``)
with each query translated once by :func:`oncoboard.store.dialect_postgres.translate`. The
connection is in autocommit mode; :meth:`PgDatabase.atomic` opens a transaction (a savepoint
when nested). A connection the server dropped is opened again at the next statement outside a
transaction.

The board's change feed (:mod:`oncoboard.board.changes`) uses :meth:`PgDatabase.notify`
(``pg_notify`` in the caller's transaction: the server delivers it at commit, never for a
rolled-back write) and :meth:`PgDatabase.wait_notify` (``LISTEN`` on this connection, then a wait
on its socket with a timeout), so a workstation waiting for a change wakes within milliseconds of
another's commit instead of polling.
"""

from __future__ import annotations

import contextlib
import decimal
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from oncoboard.store import dialect_postgres as dialect


class _NumericLoader(Loader):
    """Load ``numeric`` (sums of integers, averages) as int when whole, else float, as SQLite."""

    def load(self, data: Any) -> int | float:
        value = decimal.Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


def _params(params: Any) -> Any:
    if params is None or isinstance(params, dict):
        return params or []
    return [int(p) if isinstance(p, bool) else p for p in params]


class PgTable:
    """``db[name]``: the few sqlite-utils table calls the code makes."""

    def __init__(self, db: PgDatabase, name: str):
        self.db, self.name = db, name
        self.last_pk: Any = None

    def insert(self, record: dict[str, Any], **_options: Any) -> PgTable:
        """Insert one row; its primary key goes to :attr:`last_pk` (sqlite-utils' options such
        as ``alter`` do not apply: the schema is the migrations')."""
        cols = list(record)
        key = self.db.primary_key(self.name)
        sql = (f"INSERT INTO {self.name} ({', '.join(cols)}) "  # noqa: S608 - names from code
               f"VALUES ({', '.join('?' * len(cols))}) RETURNING {key}")
        row = self.db.execute(sql, list(record.values())).fetchone()
        self.last_pk = row[0] if row else None
        return self

    def insert_all(self, records: Iterable[dict[str, Any]]) -> PgTable:
        """Insert the rows."""
        for record in records:
            self.insert(record)
        return self

    def get(self, key: Any) -> dict[str, Any]:
        """Return the row whose primary key is `key`; raise KeyError when there is none."""
        pk = self.db.primary_key(self.name)
        rows = list(self.db.query(f"SELECT * FROM {self.name} WHERE {pk} = ?", [key]))  # noqa: S608
        if not rows:
            raise KeyError(key)
        return rows[0]

    @property
    def count(self) -> int:
        """Return the number of rows."""
        row = self.db.execute(f"SELECT count(*) FROM {self.name}").fetchone()
        return int(row[0]) if row else 0

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        """Yield every row as a dict."""
        return self.db.query(f"SELECT * FROM {self.name}")  # noqa: S608

    def rows_where(self, where: str | None = None, params: Any = None,
                   order_by: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the rows matching `where`."""
        sql = f"SELECT * FROM {self.name}"  # noqa: S608
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        return self.db.query(sql, params)


class PgDatabase:
    """One connection to the site database (see the module's description)."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any], password: str | None = None):
        self._conninfo, self._kwargs, self._password = conninfo, kwargs, password
        self._keys: dict[str, str] = {}
        self._listening: set[str] = set()
        self.raw = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        kwargs = dict(self._kwargs)
        if self._password is not None:
            kwargs["password"] = self._password
        conn = psycopg.connect(self._conninfo, **kwargs)
        conn.adapters.register_loader("numeric", _NumericLoader)
        return conn

    def _ready(self) -> psycopg.Connection[Any]:
        """Return the connection, opened again when the server dropped it (between transactions)."""
        if self.raw.closed or self.raw.broken:
            self.raw = self._connect()
            self._listening.clear()  # a new session listens to nothing yet
        return self.raw

    # -- the sqlite3 / sqlite-utils calls ---------------------------------------------------

    @property
    def conn(self) -> PgDatabase:
        """Return self: ``store.conn`` and ``store.db`` are one object on PostgreSQL."""
        return self

    @property
    def in_transaction(self) -> bool:
        """Return whether a transaction is open (not on a connection the server dropped)."""
        if self.raw.closed or self.raw.broken:
            return False
        return bool(self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    def _sql(self, sql: str) -> str:
        if "OR REPLACE" not in sql and "or replace" not in sql:
            return dialect.translate(sql)
        found = re.search(r"OR\s+REPLACE\s+INTO\s+(\w+)", sql, re.IGNORECASE)
        if not found:
            return dialect.translate(sql)
        table = found.group(1)
        return dialect.translate(sql, ((table, self.primary_key(table)),))

    def execute(self, sql: str, params: Any = None, *, binary: bool = False
                ) -> psycopg.Cursor[Any]:
        """Run one statement (``?`` placeholders) and return its cursor (rows are tuples).

        `binary` has the rows sent in binary (faster to read many; ``numeric`` then comes as
        Decimal).
        """
        conn = self._ready() if not self.in_transaction else self.raw
        try:
            return conn.execute(self._sql(sql), _params(params) or [], binary=binary)
        except psycopg.errors.InsufficientPrivilege as exc:
            refused = _read_refused(sql, exc)
            if refused is None:
                raise
            raise refused from exc

    def executemany(self, sql: str, rows: Iterable[Any]) -> psycopg.Cursor[Any]:
        """Run one statement for each row of parameters (pipelined)."""
        cur = self.raw.cursor()
        cur.executemany(self._sql(sql), [_params(r) for r in rows])
        return cur

    def query(self, sql: str, params: Any = None) -> Iterator[dict[str, Any]]:
        """Yield the rows of a query as dicts."""
        conn = self._ready() if not self.in_transaction else self.raw
        with conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(self._sql(sql), _params(params) or [])
            except psycopg.errors.InsufficientPrivilege as exc:
                refused = _read_refused(sql, exc)
                if refused is None:
                    raise
                raise refused from exc
            yield from cur

    def table_names(self) -> list[str]:
        """Return the tables (and views) of the schema in use."""
        return [r[0] for r in self.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name")]

    def primary_key(self, table: str) -> str:
        """Return the (first) primary-key column of `table`."""
        if table not in self._keys:
            row = self.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = ?::regclass AND i.indisprimary",
                [table]).fetchone()
            self._keys[table] = row[0] if row else "ctid"
        return self._keys[table]

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self, name)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """Run the block in a transaction (a savepoint when nested)."""
        conn = self._ready() if not self.in_transaction else self.raw
        with conn.transaction():
            yield self

    # -- LISTEN / NOTIFY ------------------------------------------------------------------

    def notify(self, channel: str, payload: str) -> None:
        """Send `payload` on `channel`: at the commit of the open transaction (at once outside)."""
        self.execute("SELECT pg_notify(?, ?)", [channel, payload])

    def wait_notify(self, channel: str, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a notification on `channel`; return whether one came.

        The first call listens on the channel (``LISTEN`` stays for the session). Inside an open
        transaction nothing can be received: it sleeps instead (the caller re-reads the table).
        Notifications that came while the connection ran other statements are kept by psycopg
        and returned at once.
        """
        if self.in_transaction:
            time.sleep(max(timeout_s, 0.0))
            return False
        conn = self._ready()
        if channel not in self._listening:
            conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
            self._listening.add(channel)
        for _note in conn.notifies(timeout=max(timeout_s, 0.0), stop_after=1):
            return True
        return False

    def reopen(self) -> PgDatabase:
        """Return a new connection to the same database, with the same settings."""
        return PgDatabase(self._conninfo, self._kwargs, self._password)

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


#: The site role whose grants let a login write to each table (packaging/site/roles.sql): what a
#: "permission denied" from the server is explained with.
TABLE_ROLE = {
    **dict.fromkeys(("board_meetings", "board_cases"), "coordinator"),
    **dict.fromkeys(("patients", "patient_search", "conditions", "observations", "treatments",
                     "notes", "outcomes", "record_sources", "predictions", "board_decisions",
                     "board_sent"), "clinician"),
    **dict.fromkeys(("dicom_studies", "dicom_series", "dicom_instances", "lesions",
                     "lesion_measurements", "viewer_measurements"), "radiologist"),
    **dict.fromkeys(("access_log", "audit_log", "_migrations"), "admin"),
}

_DENIED = re.compile(r'(?:permission denied for (?:table|relation)|policy for table) "?(\w+)"?')


def refused_role(exc: BaseException) -> tuple[str, str] | None:
    """Return (role needed, explanation) when the server refused `exc` for lack of privilege.

    The role is ``""`` when the table does not tell which (a row naming another login, a
    table no site role writes).
    """
    if not isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return None
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = _DENIED.search(text)
    table = found.group(1) if found else ""
    if "row-level security" in text:
        return "", (f"the database refused: a row of {table or 'this table'} must name the "
                    f"signed-in login ({text})")
    role = TABLE_ROLE.get(table, "")
    if role:
        return role, (f"the database refused: needs role {role} (database role "
                      f"oncoboard_{role}) to write to {table} ({text})")
    return "", f"the database refused: {text}; ask the site's administrator for the role needed"


#: Who may read a table no signed-in user reads (roles.sql): the roles that grant SELECT.
READ_ROLES = {
    **dict.fromkeys(("conditions", "observations", "treatments", "notes", "outcomes",
                     "record_sources", "predictions"), ("clinician",)),
    **dict.fromkeys(("dicom_studies", "dicom_series", "dicom_instances", "lesions",
                     "lesion_measurements", "viewer_measurements"), ("clinician", "radiologist")),
    **dict.fromkeys(("access_log", "audit_log"), ("admin",)),
}


def _read_refused(sql: str, exc: BaseException) -> Exception | None:
    """Return the RoleError for a query the server refused for lack of privilege, else None.

    Writes are left to the store's write path (which names the role needed to write).
    """
    if not re.match(r"\s*(SELECT|WITH)\b", sql, re.IGNORECASE):
        return None
    from oncoboard.errors import RoleError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = _DENIED.search(text)
    table = found.group(1) if found else ""
    roles = READ_ROLES.get(table, ())
    if not roles:
        return RoleError(f"the database refused: {text}; ask the site's administrator for the "
                         "role needed")
    return RoleError(f"the database refused: needs role {' or '.join(roles)} (database role "
                     + " or ".join(f"oncoboard_{r}" for r in roles) + f") to read {table}",
                     role=roles[0])


def signed_in(db: PgDatabase) -> tuple[str, list[str]]:
    """Return the login of the connection and the ``oncoboard_*`` roles it is a member of.

    The database's owner (who ran the migrations and roles.sql) or a superuser is refused
    nothing by the server: it holds every site role.
    """
    from oncoboard.identity import DATABASE_ROLE_PREFIX, ROLES

    row = db.execute(
        "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
        "OR pg_has_role(current_user, (SELECT datdba FROM pg_database "
        "WHERE datname = current_database()), 'member')").fetchone()
    login, owner = row if row else ("", False)
    if owner:
        return str(login), [DATABASE_ROLE_PREFIX + r for r in ROLES]
    rows = db.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'oncoboard_') "
                      "AND pg_has_role(current_user, oid, 'member') ORDER BY rolname")
    return str(login), [str(r[0]) for r in rows]


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """Return what a psycopg error means for the user, without the query or its values.

    `url` (the database's, without password) names the login in sign-in messages.
    """
    refused = refused_role(exc)
    if refused is not None:
        return refused[1]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.OperationalError):
        said = _sign_in_problem(text, url) or _connect_problem(text)
        if said:
            return said
        lowered = text.lower()
        if any(w in lowered for w in ("terminat", "closed", "connection", "shutdown")):
            return (f"the connection to the server was lost ({text}): nothing of this "
                    "transaction was written; try again when the server is back")
    return text


#: Why a new connection failed (libpq's words, lower case) and what to do, in order.
_CONNECT_PROBLEMS = (
    (r'database "([^"]+)" does not exist',
     "the server holds no database {0}: check the database's name in [database] url, or "
     "create it (packaging/site/setup-database.sh)"),
    (r"connection refused",
     "the server refused the connection: is PostgreSQL running there, and listening on the "
     "network (listen_addresses, the port in [database] url)?"),
    (r"could not translate host name|failed to resolve host|name or service not known|"
     r"nodename nor servname",
     "unknown host name: check [database] url (and the workstation's DNS)"),
    (r"invalid response to ssl negotiation|expected authentication request from server",
     "what answers at that address and port is not PostgreSQL: check the port in "
     "[database] url"),
    (r"timeout expired|timed out",
     "no answer from the server in time: check the host name, the network and any firewall "
     "between this workstation and the server"),
    (r"the database system is (starting up|shutting down|in recovery mode|not yet accepting)",
     "the server is starting or stopping: try again in a minute"),
    (r"too many clients|remaining connection slots are reserved",
     "the server accepts no more connections (max_connections reached): try again shortly, "
     "and tell the site's administrator"),
)


def _detail(text: str) -> str:
    """Return libpq's message without its "connection failed: connection to server at ..."
    preamble (the caller's message names the server)."""
    return re.sub(r"^connection failed: (connection to server at [^:]*: )?", "", text)


def _connect_problem(text: str) -> str | None:
    """Return why a new connection failed, in words (None: not a connection that failed to
    open, or a reason not known here, which the caller reports as it is)."""
    lowered = text.lower()
    if not (lowered.startswith(("connection failed", "failed to resolve host")) or
            re.search(r"connection to server at .* failed", lowered)):
        return None
    detail = _detail(text)
    for pattern, words in _CONNECT_PROBLEMS:
        found = re.search(pattern, lowered)
        if found:
            return f"{words.format(*found.groups())} ({detail})"
    return f"the connection could not be opened ({detail})"


#: What libpq and krb5 say when the workstation holds no usable Kerberos ticket.
_NO_TICKET = ("no kerberos credentials available", "no credentials cache found",
              "no credentials were supplied", "credentials cache file",
              "can't find client principal")
_EXPIRED = ("ticket expired", "credentials have expired")
_ROLES = "oncoboard_coordinator, oncoboard_clinician, oncoboard_radiologist or oncoboard_admin"


def _sign_in_problem(text: str, url: str | None) -> str | None:
    """Return the explanation of a refused sign-in (Kerberos, password, pg_hba.conf), or None."""
    from oncoboard.database_url import login_of, wants_kerberos

    lowered = text.lower()
    detail = _detail(text)
    login = login_of(url or "")
    if any(w in lowered for w in _EXPIRED):
        return (f"the Kerberos ticket has expired: run kinit {login} (or lock and unlock the "
                f"workstation), then try again ({detail})")
    if "gssapi" in lowered and any(w in lowered for w in _NO_TICKET):
        return (f"no Kerberos ticket: run kinit {login} (or sign in to the workstation "
                f"again), then try again ({detail})")
    other = re.search(r'gssapi authentication failed for user "([^"]+)"', lowered)
    if other:
        user = other.group(1)
        return (f"the server did not accept the Kerberos ticket for login {user}: its principal "
                f"must be {user}@ the site's realm (klist shows whose ticket this is): run kinit "
                f"{user}, or sign in to the workstation as {user} ({detail})")
    unknown = re.search(r"server (\S+) not found in kerberos database", text, re.IGNORECASE)
    if unknown:
        return (f"the KDC knows no service principal for this database server "
                f"({unknown.group(1)}): the site's administrator must create it (postgres/HOST, "
                "HOST as written in [database] url) and put its key in the server's keytab")
    if 'authentication method requirement "gss"' in lowered:
        return ("the site signs in by Kerberos ([database] auth = \"kerberos\") but the server "
                f"did not offer GSSAPI to {login} ({detail}): no password was sent; ask the "
                "site's administrator for a gss line in pg_hba.conf")
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (f"{text}; keep the password in the OS keyring (service "
                "'oncoboard-database', your login as user name) or a pgpass file "
                "(PGPASSFILE)")
    if "permission denied for database" in lowered:
        return (f"login {login} holds no Oncoboard role on this database ({detail}): it needs "
                f"one of {_ROLES} (each a member of oncoboard_user); ask the site's "
                "administrator")
    if "pg_hba.conf rejects connection" in lowered or "no pg_hba.conf entry" in lowered:
        if url and wants_kerberos(url) and "gss encryption" not in lowered:
            # with a ticket, libpq would have asked for GSSAPI encryption (gssencmode)
            return (f"no Kerberos ticket was used and the server refuses {login} without one "
                    f"({detail}): run kinit {login}, then try again (if klist shows a ticket, "
                    "ask the site's administrator)")
        if "no encryption" in lowered:
            return (f"the server refuses unencrypted connections ({detail}): set [database] "
                    "ca (TLS, verify-full) or sign in by Kerberos (see packaging/site/)")
        return (f"the server refuses login {login} ({detail}): the site admits logins "
                f"holding one of {_ROLES} (members of oncoboard_user), over TLS or Kerberos; "
                "ask the site's administrator")
    return None


def open_postgres(url: str, ca_file: str | None = None) -> PgDatabase:
    """Connect to the site database at `url`; raise StorageError naming the server on failure.

    A password is looked up in the OS keyring only when the URL does not sign in by Kerberos
    (``require_auth=gss``) and libpq has no source of its own (``PGPASSWORD``, ``PGPASSFILE``).
    """
    import os

    from oncoboard import database_url as db_url
    from oncoboard.errors import StorageError

    ca_file = ca_file or os.environ.get("ONCOBOARD_DATABASE_CA") or None
    password = None
    kerberos = db_url.wants_kerberos(url)
    if kerberos and pq.version() < 160000:  # noqa: PLR2004 - libpq 16 knows require_auth
        url = re.sub(r"([?&])require_auth=gss&?", r"\1", url).rstrip("?&")
    if not kerberos and not db_url.has_password(url) and not (
            os.environ.get("PGPASSWORD") or os.environ.get("PGPASSFILE")):
        password = db_url.keyring_password(url)
    try:
        return PgDatabase(url, dialect.connect_kwargs(ca_file), password)
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to the database server {db_url.describe(url)}: "
                           f"{describe_error(exc, url)}") from exc
