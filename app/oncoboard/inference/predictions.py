"""Store, read and check predictions (table ``predictions``, migration 201).

:func:`save` writes the prediction document and its audit entry (``prediction.created``, payload:
ids, hashes, status) in one transaction; image outputs go to
``<data>/outputs/<prediction id>/<output>.npy`` with their sha256 in the document.
:func:`verify_predictions` recomputes each row's document hash and compares it with its audit
entry; `oncoboard audit verify` runs it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard import audit
from oncoboard.errors import NotFoundError

JSON_COLUMNS = ("plugin", "population", "inputs", "outputs", "scenarios", "explanation",
                "warnings", "refusal", "providers_requested", "provider_notes")
SCALARS = ("id", "patient_id", "reference_date", "status", "outside_intended_use",
           "synthetic_label", "input_sha256", "provider", "app_version", "os_user",
           "created_at", "duration_ms")
DOC_KEYS = SCALARS + JSON_COLUMNS


def document_sha256(doc: dict[str, Any]) -> str:
    """Return the sha256 of the canonical JSON of a prediction document (audit block excluded)."""
    return audit.sha256_text(audit.canonical_json({k: doc.get(k) for k in DOC_KEYS}))


def _texts_sha256(texts: dict[str, str]) -> str:
    # canonical JSON is compositional: the object's text is its sorted members' texts joined
    body = ",".join(f"{json.dumps(k)}:{texts[k]}" for k in sorted(texts))
    return audit.sha256_text("{" + body + "}")


def _save_images(doc: dict[str, Any], images: dict[str, Any], settings: Any) -> None:
    if not images or settings is None:
        return
    folder = Path(settings.data_dir) / "outputs" / doc["id"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in images.items():
        path = folder / f"{name}.npy"
        np.save(path, np.asarray(array))
        from oncoboard.inference.integrity import sha256_file

        doc["outputs"][name].update(file=str(path), sha256=sha256_file(path))


def save(store: Any, doc: dict[str, Any], *, settings: Any = None) -> dict[str, Any]:
    """Store a prediction document and audit it; return it with its ``id`` and ``audit``."""
    return save_many(store, [doc], settings=settings)[0]


def save_many(store: Any, docs: list[dict[str, Any]], *, settings: Any = None
              ) -> list[dict[str, Any]]:
    """Store and audit several prediction documents in one transaction (all or none)."""
    with store.transaction():
        saved = [_save_one(store, doc, settings) for doc in docs]
    audit.checkpoint(store)
    return saved


def _save_one(store: Any, doc: dict[str, Any], settings: Any) -> dict[str, Any]:
    doc = dict(doc)
    images = doc.pop("_images", None) or {}
    doc["id"] = f"pred-{uuid.uuid4().hex[:20]}"
    _save_images(doc, images, settings)
    texts = {k: audit.canonical_json(doc.get(k)) for k in DOC_KEYS}
    digest = _texts_sha256(texts)
    # what is returned is what is stored and hashed (tuples become lists, etc.)
    doc = {**doc, **{k: json.loads(texts[k]) for k in DOC_KEYS}}
    plugin = doc["plugin"]
    with store.transaction():
        entry = audit.append(store, "prediction.created", {
            "prediction_id": doc["id"], "patient_id": doc["patient_id"],
            "plugin_id": plugin["id"], "plugin_version": plugin["version"],
            "model_sha256": plugin["model_sha256"], "input_sha256": doc["input_sha256"],
            "record_sha256": digest, "status": doc["status"], "provider": doc["provider"],
            "reference_date": doc["reference_date"]}, actor=doc["os_user"])
        row = {k: doc.get(k) for k in SCALARS}
        row.update({k: texts[k] for k in JSON_COLUMNS})
        row.update(plugin_id=plugin["id"], plugin_version=plugin["version"],
                   model_sha256=plugin["model_sha256"], synthetic=int(plugin["synthetic"]),
                   outside_intended_use=int(bool(doc["outside_intended_use"])),
                   record_sha256=digest, audit_seq=entry.seq, audit_hash=entry.hash)
        store.db["predictions"].insert(row)
    doc["audit"] = {"seq": entry.seq, "hash": entry.hash, "record_sha256": digest}
    return doc


def _document(row: dict[str, Any]) -> dict[str, Any]:
    doc = {k: row[k] for k in SCALARS}
    doc["outside_intended_use"] = bool(row["outside_intended_use"])
    for k in JSON_COLUMNS:
        doc[k] = json.loads(row[k]) if row[k] is not None else None
    doc["audit"] = {"seq": row["audit_seq"], "hash": row["audit_hash"],
                    "record_sha256": row["record_sha256"]}
    return doc


def get(store: Any, prediction_id: str) -> dict[str, Any]:
    """Return one stored prediction document; raise NotFoundError."""
    rows = list(store.db.query("SELECT * FROM predictions WHERE id = ?", [prediction_id]))
    if not rows:
        raise NotFoundError(f"no prediction {prediction_id!r}")
    return _document(rows[0])


def list_for_patient(store: Any, patient_id: str, *, plugin_id: str | None = None,
                     latest_only: bool = False) -> list[dict[str, Any]]:
    """Return the patient's stored predictions, newest first (or the latest of each plugin)."""
    sql = "SELECT * FROM predictions WHERE patient_id = ?"
    params: list[Any] = [patient_id]
    if plugin_id:
        sql += " AND plugin_id = ?"
        params.append(plugin_id)
    rows = [_document(r) for r in store.db.query(sql + " ORDER BY created_at DESC, rowid DESC",
                                                 params)]
    if latest_only:
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:
            latest.setdefault(r["plugin"]["id"], r)
        rows = list(latest.values())
    return rows


def verify_predictions(store: Any) -> list[audit.Problem]:
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
