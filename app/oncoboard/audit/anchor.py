"""Keyed checkpoints of the chain's head, kept outside the database: what anchors the trail.

The hash chain proves only that the log is consistent with itself: whoever can write the
database can rewrite it and recompute every hash, or wipe it. A checkpoint records the head
(``seq``, ``hash``) with an HMAC-SHA256 under a key that is not in the data folder:

- the site key file (``audit_key_file`` in the site configuration, readable by the account that
  runs Oncoboard, not by the users who can write the data folder), or
- the OS keyring (``audit_keyring = true``: the ``keyring`` package; the key is created on first
  use). A headless Linux often has no keyring backend: use the site key file there.

Checkpoints are appended, one JSON line each, to ``oncoboard.audit-checkpoints.jsonl`` beside
the database, to the site's ``audit_checkpoint_file`` (an append-only file on a share) and, with
``audit_syslog``, sent to syslog/journald. They are written with the head file, after every
committed audit entry. :func:`check` reads them back (syslog cannot be read back: compare there)
and says what they prove. Without a key, checkpoints are still written (no MAC): they catch a
careless wipe of the log, never a deliberate one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import logging.handlers
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIX = ".audit-checkpoints.jsonl"
KEYRING_SERVICE, KEYRING_NAME = "oncoboard", "audit-checkpoint-key"
_MAC_FIELDS = ("db", "seq", "hash", "time", "written", "key_id")
#: The anchor of each open store (kept beside the Store, not as an attribute on it).
_anchors: weakref.WeakKeyDictionary[Store, Anchor] = weakref.WeakKeyDictionary()


@dataclass
class Anchor:
    """Where checkpoints go and the key that signs them (one per open store)."""

    key: bytes | None = None
    key_source: str | None = None        # e.g. "site key file /etc/oncoboard/audit.key"
    key_problem: str | None = None       # why there is no key
    site_file: Path | None = None
    syslog: str | None = None
    _syslog_handler: Any = field(default=None, repr=False)

    @property
    def key_id(self) -> str | None:
        """Return a short public identifier of the key (it tells keys apart, reveals nothing)."""
        if self.key is None:
            return None
        return hashlib.sha256(b"oncoboard-audit-key-id:" + self.key).hexdigest()[:16]

    def mac(self, record: dict[str, Any]) -> str:
        """Return the HMAC-SHA256 of a checkpoint record's fields."""
        from oncoboard.audit.trail import canonical_json

        assert self.key is not None
        body = canonical_json({k: record.get(k) for k in _MAC_FIELDS}).encode("utf-8")
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()


def anchor_from_settings(settings: Settings) -> Anchor:
    """Return the anchor the settings describe (key file, else keyring, else no key)."""
    anchor = Anchor(site_file=settings.audit_checkpoint_file, syslog=settings.audit_syslog)
    if settings.audit_key_file is not None:
        path = Path(settings.audit_key_file)
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            anchor.key_problem = f"cannot read the audit key file {path}: {exc.strerror}"
            return anchor
        if len(key) < 32:
            anchor.key_problem = f"the audit key file {path} holds under 32 bytes"
            return anchor
        anchor.key, anchor.key_source = key, f"site key file {path}"
    elif settings.audit_keyring:
        anchor.key, anchor.key_problem = _keyring_key()
        anchor.key_source = "OS keyring" if anchor.key else None
    else:
        anchor.key_problem = ("no checkpoint key configured (audit_key_file or audit_keyring "
                              "in the site configuration)")
    return anchor


def _keyring_key() -> tuple[bytes | None, str | None]:
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None, "the keyring package is not installed: set audit_key_file instead"
    try:
        value = keyring.get_password(KEYRING_SERVICE, KEYRING_NAME)
        if value is None:
            value = secrets.token_hex(32)
            keyring.set_password(KEYRING_SERVICE, KEYRING_NAME, value)
    except Exception as exc:  # no backend (headless Linux), locked keyring, D-Bus errors...
        return None, (f"no usable OS keyring ({type(exc).__name__}: {exc}); set "
                      "audit_key_file in the site configuration")
    return value.encode("utf-8"), None


def anchor_for(store: Store) -> Anchor:
    """Return the store's anchor, read once from the settings of its data folder."""
    anchor = _anchors.get(store)
    if anchor is None:
        from oncoboard.config import load_settings
        from oncoboard.errors import OncoboardError

        if store.path is None:
            anchor = Anchor(key_problem="in-memory store: no data folder, no checkpoints")
        else:
            try:
                settings = load_settings(Path(store.path).parent)
                anchor = anchor_from_settings(settings)
            except OncoboardError as exc:
                anchor = Anchor(key_problem=f"settings unreadable: {exc.message}")
        _anchors[store] = anchor
    return anchor


def local_file(store: Store) -> Path | None:
    """Return the checkpoint file beside the database (None for an in-memory store)."""
    path = getattr(store, "path", None)
    return None if path is None else Path(path).with_name(Path(path).stem + CHECKPOINT_SUFFIX)


def write(store: Store, seq: int, digest: str, time_: str) -> None:
    """Record a checkpoint of the head (`seq`, `digest`) everywhere the settings say."""
    local = local_file(store)
    if local is None or store.path is None:
        return
    anchor = anchor_for(store)
    record: dict[str, Any] = {
        "db": str(store.path.resolve()), "seq": seq, "hash": digest, "time": time_,
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "key_id": anchor.key_id}
    record["mac"] = anchor.mac(record) if anchor.key is not None else None
    line = json.dumps(record, sort_keys=True) + "\n"
    for path in (local, anchor.site_file):
        if path is None:
            continue
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
        except OSError as exc:  # the chain is intact; only the anchor is missing an entry
            log.warning("cannot write the audit checkpoint to %s: %s", path, exc)
    if anchor.syslog:
        _send_syslog(anchor, line.strip())


def _send_syslog(anchor: Anchor, line: str) -> None:
    try:
        if anchor._syslog_handler is None:
            address: Any = anchor.syslog
            if ":" in str(address) and not str(address).startswith("/"):
                host, _, port = str(address).rpartition(":")
                address = (host, int(port))
            elif not str(address).startswith("/"):
                address = (str(address), 514)
            anchor._syslog_handler = logging.handlers.SysLogHandler(
                address=address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
        record = logging.LogRecord("oncoboard.audit", logging.INFO, __file__, 0,
                                   "oncoboard-audit checkpoint %s", (line,), None)
        anchor._syslog_handler.emit(record)
    except (OSError, ValueError) as exc:
        log.warning("cannot send the audit checkpoint to syslog %s: %s", anchor.syslog, exc)


@dataclass
class AnchorReport:
    """What the checkpoints prove about the chain."""

    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, kind, detail)
    summary: str = ""
    notes: list[str] = field(default_factory=list)


def _read(path: Path | None, db: str | None) -> list[dict[str, Any]]:
    if path is None or not path.is_file():
        return []
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
            int(record["seq"]), str(record["hash"])
        except (ValueError, KeyError, TypeError):
            out.append({"_bad": line[:80]})
            continue
        if db is None or record.get("db") == db:
            out.append(record)
    return out


def check(store: Store, heads: dict[int, str]) -> AnchorReport:
    """Compare the checkpoints with the chain (`heads`: seq -> hash of every entry)."""
    report = AnchorReport()
    local = local_file(store)
    if local is None or store.path is None:
        report.summary = ("site database: no checkpoints kept by this workstation"
                          if getattr(store, "url", None) else "in-memory store: no checkpoints")
        return report
    anchor = anchor_for(store)
    db = str(store.path.resolve())
    sources = [(f"{local.name}", _read(local, None))]
    if anchor.site_file is not None:
        sources.append((f"site file {anchor.site_file}", _read(anchor.site_file, db)))
    last_seq = max(heads) if heads else 0
    best: tuple[int, str, str] | None = None  # (seq, time, where) of the latest keyed match
    mismatch: dict[tuple[str, str], list[tuple[int, str]]] = {}
    unkeyed = 0
    for where, records in sources:
        for r in records:
            if "_bad" in r:
                report.problems.append((0, "edited", f"unreadable checkpoint line in {where}"))
                continue
            seq, digest = int(r["seq"]), str(r["hash"])
            keyed = False
            if r.get("mac") and anchor.key is not None and r.get("key_id") == anchor.key_id:
                if not hmac.compare_digest(str(r["mac"]), anchor.mac(r)):
                    report.problems.append((seq, "forged", f"checkpoint of entry {seq} in "
                                            f"{where}: its HMAC does not verify"))
                    continue
                keyed = True
            elif r.get("mac"):
                report.notes.append(f"a checkpoint in {where} was written with another key: "
                                    "not checked")
                continue
            else:
                unkeyed += 1
            if seq > last_seq:
                mismatch.setdefault((where, "truncated"), []).append(
                    (seq, f"{'keyed ' if keyed else ''}checkpoint ({where}, "
                          f"{str(r.get('time', '?'))[:16]}) names entry {seq}, the log ends "
                          f"at {last_seq}"))
            elif heads.get(seq) != digest:
                mismatch.setdefault((where, "rewritten"), []).append(
                    (seq, f"entry {seq} differs from its {'keyed ' if keyed else ''}checkpoint "
                          f"({where})"))
            elif keyed and (best is None or seq > best[0]):
                best = (seq, str(r.get("time", "?")), where)
    for (_, kind), found in mismatch.items():  # the first break says it; count the rest
        seq, detail = min(found) if kind == "rewritten" else max(found)
        more = len({s for s, _ in found}) - 1
        report.problems.append((seq, kind, detail + (f" ({more} more checkpoints disagree)"
                                                     if more else "")))
    report.notes = sorted(set(report.notes))
    if anchor.key is None:
        report.summary = (f"not anchored: {anchor.key_problem}; a rewritten and re-hashed "
                          "chain, or one wiped with its checkpoint files, cannot be detected")
        if unkeyed:
            report.summary += f" ({unkeyed} unkeyed checkpoints checked)"
    elif best is None:
        report.summary = (f"no keyed checkpoint found (HMAC key from {anchor.key_source}): "
                          "nothing is anchored yet")
    else:
        seq, time_, where = best
        after = last_seq - seq
        when = time_[:16].replace("T", " ")
        report.summary = (f"last checkpoint {when} seq {seq} matches (HMAC key from "
                          f"{anchor.key_source}, {where})")
        report.summary += (f"; {after} entries after it are not anchored" if after else
                           "; every entry is anchored")
    if anchor.syslog:
        report.notes.append(f"checkpoints are also sent to syslog ({anchor.syslog}): compare "
                            "there, it cannot be read back from here")
    return report
