"""Copy a workstation's SQLite database into a site database (``oncoboard store copy --to URL``).

Every table both schemas have is copied (the search tables excepted: each backend keeps its own
from the rows), parents before children (the foreign keys' order), in batches of
:data:`BATCH_ROWS` rows read in primary-key order, each batch in one transaction of the target.
Before a batch is sent, the target's rows with the batch's keys are read back: a row already
there and equal is skipped without being sent, a row already there but different is counted and
named in the report (:attr:`TableCopy.differing`; kept as the target has it, never
overwritten), and only the rows the target lacks are inserted. A second run therefore sends
nothing, and a run stopped half-way (a failure, the server gone) is finished by the next, which
sends only what the first did not commit.

The two chained logs (``audit_log``, ``access_log``) are copied as they are, with the same
hashes: the target's entries must be the first entries of the source's chain (the same hash at
each sequence number), and only the entries after the target's last one are appended, in order.
A target holding another chain (another workstation's, or the site's own) is refused before
anything is written (:class:`~oncoboard.errors.StorageError` naming the first diverging entry).

The change feed (``board_changes``, ``record_changes``) is not copied: its numbers count the
target's own changes. Instead, once the tables are copied, the patients and meetings that
received rows are noted in the target's feed in one transaction (kind ``record``, by the login
running the copy), so the views open on the site's workstations read them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncoboard.errors import StorageError

log = logging.getLogger(__name__)

#: Rows per batch (one target transaction each).
BATCH_ROWS = 2000

#: Tables not copied: the schema's version, search tables each backend derives from rows, and
#: the change feed (numbered by each database's own counter; the copy notes its own changes).
SKIPPED = {"_migrations", "patient_search", "patient_search_keys", "sqlite_sequence",
           "board_changes", "record_changes"}

#: The hash-chained logs: (table, sequence column).
CHAINED = {"audit_log": "seq", "access_log": "seq"}

#: Keys of differing rows a table's report names (the count is complete).
DIFFERING_NAMED = 20


@dataclass
class TableCopy:
    """What the copy did to one table.

    `copied`: rows sent and inserted; `present`: rows the target already held, equal (not
    sent); `differing_rows`: rows the target holds with other values (kept, not sent), the
    first :data:`DIFFERING_NAMED` of their keys in `differing`.
    """

    table: str
    source_rows: int
    copied: int = 0
    present: int = 0
    differing_rows: int = 0
    differing: list[str] = field(default_factory=list)


@dataclass
class CopyReport:
    """The copy's counts per table and its duration.

    `patients` and `meetings`: those that received rows, noted in the target's change feed.
    """

    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0
    patients: set[str] = field(default_factory=set)
    meetings: set[int] = field(default_factory=set)

    @property
    def copied(self) -> int:
        """Return the number of rows copied, every table together."""
        return sum(t.copied for t in self.tables)

    @property
    def differing_rows(self) -> int:
        """Return the number of rows the target holds with other values than the source."""
        return sum(t.differing_rows for t in self.tables)

    @property
    def source_rows(self) -> int:
        """Return the number of rows of the source, every copied table together."""
        return sum(t.source_rows for t in self.tables)


def _sqlite_tables(source: Any) -> list[str]:
    rows = source.conn.execute("SELECT name, coalesce(sql, '') FROM sqlite_master "
                               "WHERE type = 'table' ORDER BY name").fetchall()
    virtual = [n for n, sql in rows if sql.upper().startswith("CREATE VIRTUAL")]
    shadow = {n for n, _ in rows for v in virtual if n.startswith(f"{v}_")}
    return [n for n, _ in rows if n not in virtual and n not in shadow and n not in SKIPPED]


def _in_dependency_order(source: Any, tables: list[str]) -> list[str]:
    """Return `tables` with every table after those its foreign keys reference."""
    parents = {t: {r[2] for r in source.conn.execute(f"PRAGMA foreign_key_list({t})")} - {t}
               for t in tables}
    ordered: list[str] = []
    pending = list(tables)
    while pending:
        ready = [t for t in pending if not (parents[t] & set(pending))]
        if not ready:  # a cycle: copy the rest as they come (none in the schema today)
            ready = pending[:1]
        for t in ready:
            ordered.append(t)
            pending.remove(t)
    return ordered


def _primary_key(source: Any, table: str) -> list[str]:
    info = source.conn.execute(f"PRAGMA table_info({table})").fetchall()
    return [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or ["rowid"]


def check_chains(source: Any, target: Any) -> None:
    """Refuse when the target's audit trail or access log is not the same chain as the source's.

    Both must hold the same hash at each sequence number they both have: the target is empty,
    holds the start of the source's chain (a copy half done), or went on after it (the site's
    work since an earlier copy).

    Raises
    ------
    StorageError
        Naming the log and the first entry whose hash differs (or that the source lacks).
    """
    for table, seq in CHAINED.items():
        if table not in source.db.table_names() or table not in target.db.table_names():
            continue
        theirs = [tuple(r) for r in target.db.execute(
            f"SELECT {seq}, hash FROM {table} ORDER BY {seq}")]  # noqa: S608
        if not theirs:
            continue
        ours = dict(source.conn.execute(
            f"SELECT {seq}, hash FROM {table} WHERE {seq} <= ?", [theirs[-1][0]]).fetchall())
        last = max(ours, default=0)
        for number, digest in theirs:
            if number > last:  # the site went on after an earlier copy: its own entries
                break
            if ours.get(number) != digest:
                here = ours.get(number)
                raise StorageError(
                    f"the {target.where} already holds a different {table} chain: entry "
                    f"{number} is {str(digest)[:12]}… there, "
                    f"{(here[:12] + '…') if here else 'absent'} here; nothing was copied. "
                    "A site database takes one workstation's history, into an empty "
                    "database or one holding the start of this same chain")


def copy_store(source: Any, target: Any, *, batch_rows: int = BATCH_ROWS,
               progress: Callable[[TableCopy], None] | None = None) -> CopyReport:
    """Copy `source` (a SQLite store) into `target` (a site database's store); return counts.

    Raises
    ------
    StorageError
        The source is not SQLite, the target is the source, or its chains diverge
        (:func:`check_chains`); a batch the target refuses (nothing of that batch is written).
    """
    if source.backend != "sqlite":
        raise StorageError(f"store copy reads a workstation's SQLite database; "
                           f"{source.where} is not one")
    if target.location == source.location:
        raise StorageError(f"store copy: the target is the source ({source.where})")
    started = time.perf_counter()
    check_chains(source, target)
    wanted = set(target.db.table_names())
    tables = _in_dependency_order(source, [t for t in _sqlite_tables(source) if t in wanted])
    report = CopyReport()
    postgres = target.backend == "postgresql"
    if postgres:  # each batch's keys are looked up by primary key: the statistics of a table
        # being filled say it is small, and the planner would scan all of it for each batch
        target.db.execute("SET enable_seqscan = off")
    for table in tables:
        try:
            done = _copy_table(source, target, table, batch_rows, report)
        except target.Error as exc:  # a read of the target (the server gone, say)
            raise StorageError(f"store copy: table {table}: "
                               f"{target._error('reading the target', exc).message}; "
                               "run the copy again to finish it") from exc
        report.tables.append(done)
        log.info("store copy: %s %d new of %d rows (%d already there, %d differ)", table,
                 done.copied, done.source_rows, done.present, done.differing_rows)
        if progress is not None:
            progress(done)
    if postgres:
        target.db.execute("RESET enable_seqscan")
        _advance_identities(target, tables)
    _note_changes(target, report)
    report.seconds = time.perf_counter() - started
    return report


def _note_changes(target: Any, report: CopyReport) -> None:
    """Note the patients and meetings that received rows in the target's change feed."""
    if not (report.patients or report.meetings):
        return
    from oncoboard.identity import user_of
    from oncoboard.store import feed

    user, at = user_of(target).login, feed.now_utc()
    with target.transaction():
        seq = feed.bump(target, user, at)
        feed.note_patients(target, sorted(report.patients), "record", seq, user, at)
        feed.note_meetings(target, sorted(report.meetings), seq, user, at)
        feed.announce(target, f"p:{seq}")
    log.info("store copy: %d patient(s) and %d meeting(s) noted as changed (feed %d)",
             len(report.patients), len(report.meetings), seq)


def _touched(table: str, columns: list[str], rows: list[list[Any]], report: CopyReport) -> None:
    """Add the patients and meetings of rows just copied to `report` (not the logs' rows: a
    log entry changes nothing a view shows)."""
    if table in CHAINED:
        return
    patient = "id" if table == "patients" else "patient_id"
    if patient in columns:
        at = columns.index(patient)
        report.patients.update(str(r[at]) for r in rows if r[at] is not None)
    meeting = "id" if table == "board_meetings" else "meeting_id"
    if meeting in columns:
        at = columns.index(meeting)
        report.meetings.update(int(r[at]) for r in rows if r[at] is not None)


def _copy_table(source: Any, target: Any, table: str, batch_rows: int,
                report: CopyReport) -> TableCopy:
    their_columns = set(target.columns(table))
    columns = [c for c in source.columns(table) if c in their_columns]
    key = _primary_key(source, table)
    total = int(source.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    done = TableCopy(table, total)
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
    where, params = "", []
    compare = not (table in CHAINED or set(key) - set(columns))
    if table in CHAINED:  # append after the target's last entry, in order (check_chains
        seq = CHAINED[table]  # has compared the hashes of the entries both hold)
        row = target.db.execute(f"SELECT max({seq}) FROM {table}").fetchone()  # noqa: S608
        where, params = f" WHERE {seq} > ?", [int(row[0] or 0)]
        done.present = int(source.conn.execute(
            f"SELECT count(*) FROM {table} WHERE {seq} <= ?", params).fetchone()[0])  # noqa: S608
    else:
        insert += " ON CONFLICT DO NOTHING"
    order = ", ".join(key)
    cursor = source.conn.execute(
        f"SELECT {names} FROM {table}{where} ORDER BY {order}", params)  # noqa: S608
    at = [columns.index(k) for k in key] if compare else []
    while True:
        batch = cursor.fetchmany(batch_rows)
        if not batch:
            break
        rows = [list(r) for r in batch]
        if compare:
            rows = _new_rows(target, table, columns, at, rows, done)
        if not rows:
            continue
        try:
            with target.transaction() as db:
                db.executemany(insert, rows)
        except StorageError as exc:
            raise StorageError(f"store copy: table {table}: {exc.message}") from exc
        done.copied += len(rows)
        _touched(table, columns, rows, report)
    if done.differing_rows:
        log.warning("store copy: %s: %d row(s) differ on the target, kept as there: %s", table,
                    done.differing_rows, ", ".join(done.differing[:5]))
    return done


def _new_rows(target: Any, table: str, columns: list[str], at: list[int],
              rows: list[list[Any]], done: TableCopy) -> list[list[Any]]:
    """Return the rows of a batch the target lacks; count those it holds (equal or not)."""
    names = ", ".join(columns)
    if len(at) == 1 and target.backend == "postgresql":  # one array parameter: one plan
        test, params = f"{columns[at[0]]} = ANY(?)", [[r[at[0]] for r in rows]]
    elif len(at) == 1:
        test = f"{columns[at[0]]} IN ({', '.join('?' for _ in rows)})"
        params = [r[at[0]] for r in rows]
    else:  # a composite key (none in the schema today): row values
        one = "(" + ", ".join("?" for _ in at) + ")"
        test = (f"({', '.join(columns[i] for i in at)}) IN "
                f"(VALUES {', '.join(one for _ in rows)})")
        params = [r[i] for r in rows for i in at]
    binary = {"binary": True} if target.backend == "postgresql" else {}  # 3x faster to read
    theirs = {tuple(r[i] for i in at): r for r in target.db.execute(
        f"SELECT {names} FROM {table} WHERE {test}", params, **binary)}  # noqa: S608
    new: list[list[Any]] = []
    for row in rows:
        there = theirs.get(tuple(row[i] for i in at))
        if there is None:
            new.append(row)
        elif tuple(row) == tuple(there) or [_plain(v) for v in row] == [_plain(v) for v in there]:
            done.present += 1
        else:
            done.differing_rows += 1
            if len(done.differing) < DIFFERING_NAMED:
                done.differing.append("/".join(str(row[i]) for i in at))
    return new


def _plain(value: Any) -> Any:
    """Return `value` as both backends compare it (bytes for a blob, int for a boolean)."""
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _advance_identities(target: Any, tables: list[str]) -> None:
    """Move each identity column's sequence past the copied ids (new rows get fresh ones)."""
    for table in tables:
        key = target.db.primary_key(table)
        row = target.db.execute("SELECT pg_get_serial_sequence(?, ?)", [table, key]).fetchone()
        if row and row[0]:
            with target.transaction() as db:
                db.execute(f"SELECT setval(?, greatest(coalesce(max({key}), 0), 1), "  # noqa: S608
                           f"max({key}) IS NOT NULL) FROM {table}", [row[0]])
