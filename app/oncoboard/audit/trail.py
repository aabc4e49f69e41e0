"""The append-only, hash-chained audit trail: predictions, board decisions, plugin installs.

Each entry holds its time, event type, actor (the OS user unless the caller names one), app
version and a JSON payload, plus the hash of the entry before it (``prev_hash``). Its own ``hash``
is the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of those fields together:

    hash = sha256(canonical_json({time, event_type, actor, app_version, payload, prev_hash}))

The first entry's ``prev_hash`` is 64 zeros. Changing any entry changes its hash and breaks the
link from the next one, so :func:`verify` finds edited, deleted, reordered and inserted entries.
The table is append-only at the SQL level too (migration 200: UPDATE and DELETE raise, an INSERT
must continue the chain). Deleting the last entries leaves a valid shorter chain; to catch that,
every append made outside a caller's transaction also writes the head (last seq and hash) to a
small file beside the database (``oncoboard.audit-head.json``), which :func:`verify` compares.
Whoever can write the data folder can still rewrite the whole chain, or wipe it with the head
file: keyed checkpoints kept outside the database (:mod:`oncoboard.audit.anchor`) catch that,
and :func:`verify` says what they prove. ``oncoboard audit verify`` (`oncoboard.cli.audit`)
exits with code 5 when the trail is broken.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard import __version__
from oncoboard.errors import AuditError, StorageError
from oncoboard.identity import user_of

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

GENESIS = "0" * 64
HEAD_SUFFIX = ".audit-head.json"
_FIELDS = "seq, time, event_type, actor, app_version, payload, prev_hash, hash"
#: The head last checkpointed, per open store (kept beside the Store, not as an attribute on it).
_checkpointed: weakref.WeakKeyDictionary[Store, str] = weakref.WeakKeyDictionary()


#: json.dumps with these options makes an encoder per call: one made once writes the same text
#: (an encoder keeps no state between calls; any thread may use it).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, default=str)


def canonical_json(data: Any) -> str:
    """Return the canonical JSON text of `data` (sorted keys, compact, NaN refused)."""
    return _CANONICAL.encode(data)


def sha256_text(text: str) -> str:
    """Return the hex sha256 of `text` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit trail."""

    seq: int
    time: str
    event_type: str
    actor: str | None
    app_version: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready dictionary."""
        return asdict(self)


def entry_hash(time_: str, event_type: str, actor: str | None, app_version: str,
               payload: dict[str, Any], prev_hash: str) -> str:
    """Return the hash of an entry from its fields and its predecessor's hash."""
    return sha256_text(canonical_json({
        "time": time_, "event_type": event_type, "actor": actor, "app_version": app_version,
        "payload": payload, "prev_hash": prev_hash}))


def append(store: Store, event_type: str, payload: dict[str, Any], *,
           actor: str | None = None) -> AuditEntry:
    """Append an entry to the audit trail and return it.

    Runs inside the caller's transaction when there is one (so a prediction or decision and its
    audit entry are written together, or neither), else in its own immediate transaction.

    Parameters
    ----------
    store
        The open store.
    event_type
        Dotted event name, e.g. ``prediction.created``.
    payload
        JSON-serialisable details (identifiers and hashes; no patient names or note text).
    actor
        Who did it; default: the user signed in on the store (`oncoboard.identity.user_of`).
    """
    return append_many(store, [(event_type, payload, actor)])[0]


#: One entry to append: event type, payload, actor (None: the user signed in on the store).
Event = tuple[str, dict[str, Any], str | None]


def append_many(store: Store, events: Sequence[Event]) -> list[AuditEntry]:
    """Append entries in order (one read of the head, one insert batch); return them.

    As :func:`append`: inside the caller's transaction when there is one, else in its own.
    """
    ready = []
    default_actor = user_of(store).login if any(not a for _, _, a in events) else ""
    for event_type, payload, actor in events:
        if not event_type:
            raise AuditError("an audit entry needs an event type")
        try:
            loaded = json.loads(canonical_json(payload))  # what is stored is what reads back
            ready.append((event_type, loaded, canonical_json(loaded), actor or default_actor))
        except (TypeError, ValueError) as exc:
            raise AuditError(f"audit payload is not JSON-serialisable: {exc}",
                             where=event_type) from exc
    if not ready:
        return []
    conn = store.conn
    nested = conn.in_transaction
    errors = getattr(store, "Error", sqlite3.Error)
    for attempt in range(20):
        try:
            if nested:
                with store.transaction():
                    done = _insert(store, ready)
            elif getattr(store, "url", None) is not None:
                # PostgreSQL: the site's write lock (an advisory lock) serialises the appends of
                # every workstation, so the chain stays one chain
                with store.transaction():
                    done = _insert(store, ready)
                _write_head(store, done[-1])
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    done = _insert(store, ready)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                _write_head(store, done[-1])
            return done
        except sqlite3.OperationalError as exc:
            # another process holds the write lock beyond busy_timeout: try again
            if nested or "locked" not in str(exc) or attempt == 19:
                raise AuditError(f"cannot write the audit trail: {exc}") from exc
            time.sleep(0.05 * (attempt + 1))
        except errors as exc:
            raise AuditError(f"cannot write the audit trail: {exc}") from exc
        except StorageError as exc:
            raise AuditError(f"cannot write the audit trail: {exc.reason}") from exc
    raise AuditError("cannot write the audit trail: database busy")  # pragma: no cover


def _entry_text(time_: str, event_type: str, actor: str | None, app_version: str,
                payload_text: str, prev_hash: str) -> str:
    # canonical JSON is compositional: the entry's text holds its payload's text as it is
    # (keys in sorted order: actor, app_version, event_type, payload, prev_hash, time)
    head = canonical_json({"actor": actor, "app_version": app_version,
                           "event_type": event_type})
    tail = canonical_json({"prev_hash": prev_hash, "time": time_})
    return f'{head[:-1]},"payload":{payload_text},{tail[1:]}'


def _insert(store: Store, ready: list[tuple[str, dict[str, Any], str, str]]) -> list[AuditEntry]:
    row = store.conn.execute(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    done, params = [], []
    for event_type, payload, text, actor in ready:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        digest = sha256_text(_entry_text(now, event_type, actor, __version__, text, prev))
        params.append([seq, now, event_type, actor, __version__, text, prev, digest])
        done.append(AuditEntry(seq, now, event_type, actor, __version__, payload, prev, digest))
        seq, prev = seq + 1, digest
    store.conn.executemany(
        f"INSERT INTO audit_log ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", params)
    if log.isEnabledFor(logging.INFO):  # one line a batch (a board's 100 entries: one line)
        kinds = sorted({e.event_type for e in done})
        first, last = done[0], done[-1]
        log.info("audit %s #%d%s %s", ", ".join(kinds), first.seq,
                 f"-#{last.seq} ({len(done)} entries), head" if len(done) > 1 else "",
                 last.hash[:12])
    return done


def head_file(store: Store) -> Path | None:
    """Return the file holding the last known head of the chain (None for in-memory stores)."""
    path = getattr(store, "path", None)
    return None if path is None else Path(path).with_name(Path(path).stem + HEAD_SUFFIX)


def _write_head(store: Store, entry: AuditEntry) -> None:
    path = head_file(store)
    if path is None:
        return
    from oncoboard.audit import anchor

    if _checkpointed.get(store) != entry.hash:
        anchor.write(store, entry.seq, entry.hash, entry.time)
        _checkpointed[store] = entry.hash
    try:
        # a name of this writer's own: workstations (processes, threads) sharing a data
        # folder each replace the file whole, never one another's half-written or moved tmp
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"seq": entry.seq, "hash": entry.hash, "time": entry.time}),
                       encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # the chain itself is intact; only truncation detection weakens
        log.warning("cannot write the audit head file %s: %s", path, exc)


def checkpoint(store: Store) -> None:
    """Write the current head of the chain to the head file (after the caller's commit)."""
    last = entries(store, last=1)
    if last:
        _write_head(store, last[0])


def entries(store: Store, *, event_type: str | None = None, last: int | None = None
            ) -> list[AuditEntry]:
    """Return audit entries in order (optionally of one event type, or only the `last` ones)."""
    sql = f"SELECT {_FIELDS} FROM audit_log"
    params: list[Any] = []
    if event_type:
        sql += " WHERE event_type = ?"
        params.append(event_type)
    if last:
        sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {int(last)}) AS newest"
    rows = store.conn.execute(sql + " ORDER BY seq", params).fetchall()
    return [_entry(r) for r in rows]


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    try:
        payload = json.loads(row[5])
    except (TypeError, ValueError):
        payload = {"_unparseable": str(row[5])}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], payload, row[6], row[7])


@dataclass
class Problem:
    """One break in the chain."""

    seq: int
    kind: str      # edited | deleted | reordered | inserted | truncated | rewritten | forged
    detail: str


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    ok: bool
    entries: int
    head_hash: str | None
    problems: list[Problem] = field(default_factory=list)
    head_file: str | None = None
    anchor: str = ""                      # what the keyed checkpoints prove
    notes: list[str] = field(default_factory=list)  # what cannot be proven, and why

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary."""
        return asdict(self)


#: Compares stored rows of one kind (predictions, decisions...) with their audit entries.
RowCheck = Callable[[Any], list["Problem"]]


def verify(store: Store, row_checks: Sequence[RowCheck] = ()) -> VerifyReport:
    """Check the whole chain; return a report listing every break found.

    An entry whose hash does not match its content was edited; an entry whose ``prev_hash``
    names another entry of the log was moved (reordered), or, when its predecessor in the log
    also points to the same entry, the predecessor was inserted; a ``prev_hash`` naming no
    entry means entries before it were deleted (or the one before was rewritten with a
    recomputed hash). The head file catches deleted last entries. Each of `row_checks`
    (the layers that store audited rows pass theirs: see `oncoboard.board.trail.verify_trail`)
    compares those rows with their audit entries.
    """
    rows = [_entry(r) for r in store.conn.execute(
        f"SELECT {_FIELDS} FROM audit_log ORDER BY seq").fetchall()]
    problems: list[Problem] = []
    by_hash = {e.hash: e for e in rows}
    for i, e in enumerate(rows):
        if entry_hash(e.time, e.event_type, e.actor, e.app_version, e.payload,
                      e.prev_hash) != e.hash:
            problems.append(Problem(e.seq, "edited", "content does not match its hash"))
        expected = rows[i - 1].hash if i else GENESIS
        if e.prev_hash == expected:
            continue
        before = by_hash.get(e.prev_hash)
        if before is not None and i >= 2 and rows[i - 1].prev_hash == e.prev_hash:
            problems.append(Problem(rows[i - 1].seq, "inserted",
                                    f"entry {rows[i - 1].seq} was inserted before {e.seq}"))
        elif before is not None or e.prev_hash == GENESIS:
            problems.append(Problem(e.seq, "reordered",
                                    f"entry {e.seq} should follow "
                                    f"{before.seq if before else 'the start'}"))
        else:
            problems.append(Problem(e.seq, "deleted", f"entries missing before {e.seq} (or "
                                                      f"entry {e.seq - 1} rewritten)"))
    head = head_file(store)
    notes: list[str] = []
    if head is not None and not head.is_file() and rows:
        notes.append(f"no head file {head.name}: deleted last entries are found only by the "
                     "checkpoints")
    _check_head(head, rows, problems)
    from oncoboard.audit import anchor

    anchored = anchor.check(store, {e.seq: e.hash for e in rows})
    broken_from = min((p.seq for p in problems if p.seq), default=None)
    for seq, kind, detail in anchored.problems:
        # a checkpoint disagreeing where the chain already shows the break adds nothing
        if kind != "rewritten" or broken_from is None or seq < broken_from:
            problems.append(Problem(seq, kind, detail))
    notes += anchored.notes
    for check in row_checks:
        problems += check(store)
    return VerifyReport(not problems, len(rows), rows[-1].hash if rows else None, problems,
                        str(head) if head else None, anchored.summary, notes)


def _check_head(head: Path | None, rows: list[AuditEntry], problems: list[Problem]) -> None:
    if head is None or not head.is_file():
        return
    try:
        known = json.loads(head.read_text(encoding="utf-8"))
        seq, digest = int(known["seq"]), str(known["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        problems.append(Problem(0, "truncated", f"unreadable head file {head}"))
        return
    match = [e for e in rows if e.seq == seq]
    if not match:
        problems.append(Problem(seq, "truncated", f"the log ends at {rows[-1].seq if rows else 0}"
                                                  f" but entry {seq} was written"))
    elif match[0].hash != digest:
        problems.append(Problem(seq, "edited", f"entry {seq} differs from the recorded head"))
