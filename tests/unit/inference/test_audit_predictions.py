"""Deleted predictions and an emptied log are found by `audit verify`."""

from __future__ import annotations

from inference_helpers import logistic_plugin
from pg_server import drop_trigger, sqlite_only

from oncoboard.board.trail import verify_trail
from oncoboard.inference import engine

REF = "2024-06-01"


def _predict(store, settings, plugin_root):
    logistic_plugin(plugin_root)
    return [p.to_dict() for p in engine.predict_patient(store, settings, "P1", date=REF,
                                                        plugin_ids=["test-logistic"])]


def _details(report):
    return " | ".join(f"{p.kind}: {p.detail}" for p in report.problems)


def test_deleted_prediction_row_is_found(store, settings, plugin_root):
    [doc] = _predict(store, settings, plugin_root)
    assert verify_trail(store).ok
    drop_trigger(store, "predictions_no_delete")
    store.db.execute("DELETE FROM predictions WHERE id = ?", [doc["id"]])
    report = verify_trail(store)
    assert not report.ok and f"prediction {doc['id']}" in _details(report)
    assert any(p.kind == "deleted" for p in report.problems)


def test_empty_log_with_stored_predictions_is_found(store, settings, plugin_root, tmp_path):
    sqlite_only(store, "the audit head file sits beside the SQLite file")
    _predict(store, settings, plugin_root)
    drop_trigger(store, "audit_log_no_delete")
    store.db.execute("DELETE FROM audit_log")
    (tmp_path / "data" / "oncoboard.audit-head.json").unlink()
    report = verify_trail(store)
    assert report.entries == 0 and not report.ok
    assert "has no audit entry" in _details(report)


def test_wiped_log_predictions_and_head_file_are_found(store, settings, plugin_root, tmp_path):
    sqlite_only(store, "the audit head file sits beside the SQLite file")
    _predict(store, settings, plugin_root)
    for trigger in ("audit_log_no_delete", "predictions_no_delete"):
        drop_trigger(store, f"{trigger}")
    store.db.execute("DELETE FROM predictions")
    store.db.execute("DELETE FROM audit_log")
    (tmp_path / "data" / "oncoboard.audit-head.json").unlink()
    report = verify_trail(store)
    assert not report.ok
    assert any(p.kind == "truncated" and "checkpoint" in p.detail for p in report.problems)
