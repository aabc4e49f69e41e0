"""The access log: who opened which patient's record, when, where and how (a legal requirement).

:func:`record_access` writes one row when a record is opened: the signed-in user's login and
workstation (from :func:`oncoboard.identity.user_of`, never re-read here), the route by which it
was opened (:data:`ROUTES`) and the patient's identifier, never a name. Each row is chained to
the one before it (``hash = sha256(canonical_json(row fields + prev_hash))``), one short
transaction with one indexed read and one insert; :func:`verify_access_log` finds an edited,
deleted or inserted row. Opening a record needs the ``clinician`` role (``record.read``); reading
the log needs ``admin`` (``access.read``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from oncoboard.audit.trail import GENESIS, Problem, canonical_json, sha256_text
from oncoboard.errors import AuditError
from oncoboard.identity import require

log = logging.getLogger(__name__)

#: How a record can be opened, with the words the listing prints.
ROUTES = {
    "gui.patient": "GUI patient view",
    "cli.patients.show": "CLI patients show",
    "board.case": "board case",
    "export": "export",
}
_FIELDS = "seq, time, user_name, workstation, route, patient_id, prev_hash, hash"


@dataclass(frozen=True)
class Access:
    """One opening of a patient's record."""

    seq: int
    time: str
    user: str
    workstation: str
    route: str
    patient_id: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dictionary."""
        return asdict(self)


def access_hash(time_: str, user: str, workstation: str, route: str, patient_id: str,
                prev_hash: str) -> str:
    """Return the hash of an access row from its fields and its predecessor's hash."""
    return sha256_text(canonical_json({"time": time_, "user": user, "workstation": workstation,
                                       "route": route, "patient_id": patient_id,
                                       "prev_hash": prev_hash}))


def record_access(store: Any, patient_id: str, route: str) -> Access:
    """Write that the signed-in user opened `patient_id`'s record by `route`; return the row."""
    return record_accesses(store, [patient_id], route)[0]


def record_accesses(store: Any, patient_ids: Iterable[str], route: str) -> list[Access]:
    """Write one row per patient (an export or a board's case list), in one transaction."""
    if route not in ROUTES:
        raise AuditError(f"unknown access route {route!r} (one of {', '.join(ROUTES)})",
                         where="access log")
    user = require(store, "record.read")
    ids = [str(p).strip() for p in patient_ids if str(p).strip()]
    if not ids:
        return []
    written: list[Access] = []
    with store.transaction():
        row = store.conn.execute(
            "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        for pid in ids:
            seq += 1
            now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
            digest = access_hash(now, user.login, user.workstation, route, pid, prev)
            store.conn.execute(f"INSERT INTO access_log ({_FIELDS}) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               [seq, now, user.login, user.workstation, route, pid, prev,
                                digest])
            written.append(Access(seq, now, user.login, user.workstation, route, pid, prev,
                                  digest))
            prev = digest
    log.info("access %s by %s: %d record(s), rows up to %d", route, user.login, len(ids), seq)
    return written


def accesses(store: Any, *, patient_id: str | None = None, user: str | None = None,
             last: int | None = None) -> list[Access]:
    """Return the accesses to a patient's record and/or by a user, newest first."""
    require(store, "access.read")
    sql = f"SELECT {_FIELDS} FROM access_log"
    where, params = [], []
    if patient_id is not None:
        where.append("patient_id = ?")
        params.append(str(patient_id).strip())
    if user is not None:
        where.append("user_name = ?")
        params.append(user)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC"
    if last:
        sql += f" LIMIT {int(last)}"
    return [Access(*r) for r in store.conn.execute(sql, params).fetchall()]


def verify_access_log(store: Any) -> list[Problem]:
    """Return a problem for each access row that breaks the chain (edited, deleted, inserted)."""
    problems: list[Problem] = []
    if "access_log" not in store.db.table_names():
        return problems
    prev = GENESIS
    for r in store.conn.execute(f"SELECT {_FIELDS} FROM access_log ORDER BY seq"):
        a = Access(*r)
        if access_hash(a.time, a.user, a.workstation, a.route, a.patient_id,
                       a.prev_hash) != a.hash:
            problems.append(Problem(0, "edited", f"access-log row {a.seq} does not match its "
                                                 "hash"))
        elif a.prev_hash != prev:
            problems.append(Problem(0, "deleted", f"access-log rows missing or inserted before "
                                                  f"row {a.seq}"))
        prev = a.hash
    return problems
