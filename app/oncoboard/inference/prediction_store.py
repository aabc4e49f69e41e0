"""Store predictions and read them back (table ``predictions``, migration 201).

The storage side of :class:`~oncoboard.inference.prediction.Prediction` (the type is in
:mod:`oncoboard.inference.prediction`, the engine that makes it in
:mod:`oncoboard.inference.engine`). :func:`save_many` writes each prediction's document and its
audit entry (``prediction.created``, payload: ids, hashes, status) in one transaction (one audit
insert batch, one commit for them all) and returns the predictions as stored; image outputs go
to ``<data>/outputs/<prediction id>/<output>.npy`` with their sha256 in the document.
:func:`latest_for_patient` reads the latest prediction of each plugin in one query.
:func:`verify_predictions` recomputes each row's document hash (sha256 of the canonical JSON
document, as written by every version) and compares it with its audit entry; `oncoboard audit
verify` runs it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard import audit
from oncoboard.errors import NotFoundError
from oncoboard.identity import require
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.prediction_parts import AuditRef, OutputResult
from oncoboard.store import feed, wal

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

JSON_COLUMNS = ("plugin", "population", "inputs", "outputs", "scenarios", "explanation",
                "warnings", "refusal", "providers_requested", "provider_notes")
SCALARS = ("id", "patient_id", "reference_date", "status", "outside_intended_use",
           "synthetic_label", "input_sha256", "provider", "app_version", "os_user",
           "created_at", "duration_ms")
DOC_KEYS = SCALARS + JSON_COLUMNS


def document_sha256(doc: Mapping[str, Any]) -> str:
    """Return the sha256 of the canonical JSON of a prediction document (audit block excluded)."""
    return audit.sha256_text(audit.canonical_json({k: doc.get(k) for k in DOC_KEYS}))


#: Each document key as it opens its member in canonical JSON (``"id":``), by key.
_MEMBERS = {k: json.dumps(k) + ":" for k in DOC_KEYS}


def _texts_sha256(texts: dict[str, str]) -> str:
    """Return the hash of the document whose members' texts are `texts` (keyed by DOC_KEYS)."""
    # canonical JSON is compositional: the object's text is its sorted members' texts joined
    body = ",".join(_MEMBERS[k] + texts[k] for k in sorted(texts))
    return audit.sha256_text("{" + body + "}")


def _save_images(prediction_id: str, pred: Prediction, settings: Settings | None
                 ) -> dict[str, OutputResult]:
    """Write the image outputs' arrays; return the outputs with their files and hashes."""
    outputs = dict(pred.outputs)
    if not pred.images or settings is None:
        return outputs
    from oncoboard.inference.integrity import sha256_file

    folder = Path(settings.data_dir) / "outputs" / prediction_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in pred.images.items():
        path = folder / f"{name}.npy"
        np.save(path, np.asarray(array))
        out = outputs[name]
        keys = out.keys + tuple(k for k in ("file", "sha256") if k not in out.keys)
        outputs[name] = replace(out, file=str(path), sha256=sha256_file(path), keys=keys)
    return outputs


def save(store: Store, prediction: Prediction, *, settings: Settings | None = None) -> Prediction:
    """Store a prediction and audit it; return it as stored (with ``id`` and ``audit``)."""
    return save_many(store, [prediction], settings=settings)[0]


def save_many(store: Store, predictions: Sequence[Prediction], *, settings: Settings | None = None
              ) -> list[Prediction]:
    """Store and audit several predictions in one transaction (all or none).

    One audit insert batch and one prediction insert batch, one commit, one head checkpoint.
    Needs the ``clinician`` role; each prediction keeps the user it was made by (``os_user``,
    the store's signed-in user when made by `oncoboard.inference.engine.predict_patient`).
    """
    return write(store, [prepare(p, settings) for p in predictions])


#: A prediction ready to store: (prediction, its row without the audit entry, its outputs with
#: their image files, its audit payload); made by :func:`prepare`, stored by :func:`write`.
Ready = tuple[Prediction, dict[str, Any], dict[str, OutputResult], dict[str, Any]]


def write(store: Store, ready: Sequence[Ready]) -> list[Prediction]:
    """Store and audit prepared predictions in one transaction; return them as stored."""
    with Writer(store) as writer:
        return writer.add(ready)


class Writer:
    """Stores prepared predictions in one transaction, part by part as they become ready.

    A board writes what is finished while its slowest model still runs, and commits once
    everything is written: all or none. ``with Writer(store) as w: w.add(ready)``: the user's
    role is checked at the start; the transaction opens at the first :meth:`add` (taking the
    write lock: other writers wait for the commit) and commits when the block ends, with the
    change feed noted for every patient and one head checkpoint; an error rolls it all back.
    Each :meth:`add` writes one audit insert batch and one insert batch of documents.
    """

    def __init__(self, store: Store):
        self.store = store
        self.user = require(store, "model.run")
        self._tx: contextlib.ExitStack | None = None  # holds the transaction `add` opened
        self._patients: set[str] = set()

    def __enter__(self) -> Writer:
        return self

    def add(self, ready: Sequence[Ready]) -> list[Prediction]:
        """Store and audit prepared predictions (in the open transaction); return them as
        stored (with their ids and audit entries), in the same order."""
        if not ready:
            return []
        store = self.store
        if self._tx is None:
            self._tx = contextlib.ExitStack()
            self._tx.enter_context(store.transaction())
        entries = audit.append_many(store, [(EVENT, payload, pred.os_user)
                                            for pred, _, _, payload in ready])
        by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
        saved = []
        for (pred, row, outputs, payload), entry in zip(ready, entries, strict=True):
            row = {**row, "audit_seq": entry.seq, "audit_hash": entry.hash}
            by_columns.setdefault(tuple(row), []).append(list(row.values()))
            saved.append(pred.stored(payload["prediction_id"],
                                     AuditRef(entry.seq, entry.hash, row["record_sha256"]),
                                     outputs))
        for columns, rows in by_columns.items():
            store.conn.executemany(_insert_sql(columns), rows)
        self._patients.update(str(pred.patient_id) for pred, _, _, _ in ready)
        return saved

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        tx, self._tx = self._tx, None
        if tx is None:
            return
        if kind is not None:
            tx.__exit__(kind, error, trace)  # rolled back; the error goes on
            return
        with tx:  # commits at the end of the block; rolls back if the feed's note fails
            # open screens of these patients (here and on other workstations) read them again
            feed.note_record_change(self.store, self._patients, "predictions", self.user.login)
        audit.checkpoint(self.store)
        # the log's pages into the database off this thread, not in the next board's commit
        wal.checkpoint_soon(self.store)


EVENT = "prediction.created"


@functools.lru_cache(maxsize=8)
def _insert_sql(columns: tuple[str, ...]) -> str:
    # a plain prepared INSERT: sqlite-utils' insert() rebuilt its query for every row
    return (f"INSERT INTO predictions ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})")


_ID_BYTES = 10  # 20 hex digits, as uuid4().hex[:20] gave
_random_lock = threading.Lock()


class _RandomPool:
    pid = -1
    pool = bytearray()


def _new_id() -> str:
    """Return a new prediction id: ``pred-`` and 80 random bits from the OS.

    The bits are drawn from the OS 5 kB at a time (one system call a board rather than one a
    result); a forked child never reuses its parent's.
    """
    with _random_lock:
        if _RandomPool.pid != os.getpid() or len(_RandomPool.pool) < _ID_BYTES:
            _RandomPool.pool = bytearray(os.urandom(_ID_BYTES * 512))
            _RandomPool.pid = os.getpid()
        chunk = bytes(_RandomPool.pool[:_ID_BYTES])
        del _RandomPool.pool[:_ID_BYTES]
    return f"pred-{chunk.hex()}"


def prepare(pred: Prediction, settings: Settings | None = None) -> Ready:
    """Give a prediction its id, write its image outputs, and make its row (the document's
    canonical JSON texts and their hash) and audit payload, ready for :func:`write`."""
    prediction_id = _new_id()
    outputs = _save_images(prediction_id, pred, settings)
    inputs_text = pred.text_of("inputs")  # hashed by the engine as it checked them
    doc = replace(pred, id=prediction_id, outputs=outputs,
                  inputs=pred.inputs if inputs_text is None else {}).to_dict(audit=False)
    texts = {k: audit.canonical_json(doc.get(k)) if k != "inputs" or inputs_text is None
             else inputs_text for k in DOC_KEYS}
    digest = _texts_sha256(texts)
    plugin = pred.plugin
    payload = {
        "prediction_id": prediction_id, "patient_id": pred.patient_id,
        "plugin_id": plugin.id, "plugin_version": plugin.version,
        "model_sha256": plugin.model_sha256, "input_sha256": pred.input_sha256,
        "record_sha256": digest, "status": pred.status, "provider": pred.provider,
        "reference_date": pred.reference_date}
    row = {k: doc.get(k) for k in SCALARS}
    row.update({k: texts[k] for k in JSON_COLUMNS})
    row.update(plugin_id=plugin.id, plugin_version=plugin.version,
               model_sha256=plugin.model_sha256, synthetic=int(plugin.synthetic),
               outside_intended_use=int(bool(pred.outside_intended_use)),
               record_sha256=digest)
    return pred, row, outputs, payload


def _document(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return the stored document of a row (exactly what was hashed, plus ``audit``)."""
    doc = {k: row[k] for k in SCALARS}
    doc["outside_intended_use"] = bool(row["outside_intended_use"])
    for k in JSON_COLUMNS:
        doc[k] = json.loads(row[k]) if row[k] is not None else None
    doc["audit"] = {"seq": row["audit_seq"], "hash": row["audit_hash"],
                    "record_sha256": row["record_sha256"]}
    return doc


def get(store: Store, prediction_id: str) -> Prediction:
    """Return one stored prediction; raise NotFoundError."""
    rows = list(store.db.query("SELECT * FROM predictions WHERE id = ?", [prediction_id]))
    if not rows:
        raise NotFoundError(f"no prediction {prediction_id!r}")
    return Prediction.from_dict(_document(rows[0]))


def list_for_patient(store: Store, patient_id: str, *, plugin_id: str | None = None
                     ) -> list[Prediction]:
    """Return the patient's stored predictions, newest first."""
    sql = "SELECT * FROM predictions WHERE patient_id = ?"
    params: list[Any] = [patient_id]
    if plugin_id:
        sql += " AND plugin_id = ?"
        params.append(plugin_id)
    return [Prediction.from_dict(_document(r))
            for r in store.db.query(sql + " ORDER BY created_at DESC, rowid DESC", params)]


def latest_for_patient(store: Store, patient_id: str) -> list[Prediction]:
    """Return the latest stored prediction of each plugin for the patient, by plugin id."""
    sql = """
        SELECT * FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY plugin_id
                                         ORDER BY created_at DESC, rowid DESC) AS newest
            FROM predictions WHERE patient_id = ?) AS ranked
        WHERE newest = 1 ORDER BY plugin_id"""
    return [Prediction.from_dict(_document(r)) for r in store.db.query(sql, [patient_id])]


def verify_predictions(store: Store) -> list[audit.Problem]:
    """Check every stored prediction against its hash and its audit entry."""
    if "predictions" not in store.db.table_names():
        return []
    problems = []
    entries = {e.seq: e for e in audit.entries(store, event_type="prediction.created")}
    for row in store.db.query("SELECT * FROM predictions ORDER BY rowid"):
        doc = _document(row)
        entry = entries.get(row["audit_seq"])
        if document_sha256(doc) != row["record_sha256"]:
            problems.append(audit.Problem(row["audit_seq"], "edited",
                                          f"prediction {row['id']} differs from its hash"))
        elif entry is None or entry.hash != row["audit_hash"]:
            problems.append(audit.Problem(row["audit_seq"], "deleted",
                                          f"prediction {row['id']} has no audit entry"))
        elif entry.payload.get("record_sha256") != row["record_sha256"] or \
                entry.payload.get("prediction_id") != row["id"]:
            problems.append(audit.Problem(row["audit_seq"], "edited",
                                          f"prediction {row['id']} does not match its audit "
                                          f"entry"))
    return problems
