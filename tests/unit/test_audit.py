"""The hash-chained audit log: append, SQL-level append-only, tampering found by verify."""

from __future__ import annotations

import json

import pytest
from pg_server import drop_trigger, sqlite_only

from oncoboard import audit
from oncoboard.board.trail import verify_trail
from oncoboard.cli import main
from oncoboard.errors import AuditError
from oncoboard.identity import user_of
from oncoboard.store import open_store


@pytest.fixture
def store(db_target):
    s = open_store(db_target)
    for i in range(6):
        audit.append(s, "test.event", {"i": i, "patient_id": f"P{i}"})
    yield s
    s.close()


def _drop_triggers(s):
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_chain"):
        drop_trigger(s, f"{name}")


def _kinds(report):
    return {(p.seq, p.kind) for p in report.problems}


def test_append_chains_entries_and_verify_passes(store):
    rows = audit.entries(store)
    assert [e.seq for e in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    # the signed-in user: the OS login on SQLite, the database login on a site database
    assert rows[0].actor == user_of(store).login
    assert user_of(store).login == (audit.os_user() if store.backend == "sqlite" else "oncoboard")
    report = verify_trail(store)
    assert report.ok and report.entries == 6 and report.head_hash == rows[-1].hash


def test_hash_is_sha256_of_canonical_json(store):
    e = audit.entries(store)[2]
    import hashlib
    text = json.dumps({"time": e.time, "event_type": e.event_type, "actor": e.actor,
                       "app_version": e.app_version, "payload": e.payload,
                       "prev_hash": e.prev_hash}, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == e.hash


def test_sql_refuses_update_delete_and_out_of_chain_insert(store):
    with pytest.raises(store.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(store.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM audit_log WHERE seq = 2")
    with pytest.raises(store.IntegrityError, match="chain"):
        store.conn.execute("INSERT INTO audit_log VALUES (7, 't', 'x', 'a', 'v', '{}', ?, ?)",
                           [audit.GENESIS, "f" * 64])


def test_edited_entry_detected(store):
    _drop_triggers(store)
    store.conn.execute("UPDATE audit_log SET payload = '{\"i\":99,\"patient_id\":\"P2\"}' "
                       "WHERE seq = 3")
    report = verify_trail(store)
    assert not report.ok and (3, "edited") in _kinds(report)


def test_deleted_entry_detected(store):
    _drop_triggers(store)
    store.conn.execute("DELETE FROM audit_log WHERE seq = 3")
    assert (4, "deleted") in _kinds(verify_trail(store))


def test_deleted_and_renumbered_detected(store):
    _drop_triggers(store)
    store.conn.execute("DELETE FROM audit_log WHERE seq = 3")
    store.conn.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")
    report = verify_trail(store)
    assert not report.ok and (3, "deleted") in _kinds(report)


def test_truncated_tail_detected_via_head_file(store):
    sqlite_only(store, "the audit head file sits beside the SQLite file")
    _drop_triggers(store)
    store.conn.execute("DELETE FROM audit_log WHERE seq = 6")
    assert (6, "truncated") in _kinds(verify_trail(store))


def test_reordered_entries_detected(store):
    _drop_triggers(store)
    c = store.conn
    c.execute("UPDATE audit_log SET seq = 100 WHERE seq = 3")
    c.execute("UPDATE audit_log SET seq = 3 WHERE seq = 4")
    c.execute("UPDATE audit_log SET seq = 4 WHERE seq = 100")
    kinds = {k for _, k in _kinds(verify_trail(store))}
    assert kinds == {"reordered"}


def test_inserted_entry_detected(store):
    _drop_triggers(store)
    c = store.conn
    prev = audit.entries(store)[1]
    c.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq > 2")
    c.execute("UPDATE audit_log SET seq = seq - 99 WHERE seq > 100")
    forged = audit.entry_hash("2026-01-01T00:00:00+00:00", "x", "mallory", "0", {}, prev.hash)
    c.execute("INSERT INTO audit_log VALUES (3, '2026-01-01T00:00:00+00:00', 'x', 'mallory', "
              "'0', '{}', ?, ?)", [prev.hash, forged])
    assert (3, "inserted") in _kinds(verify_trail(store))


def test_append_inside_rolled_back_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        audit.append(store, "test.event", {"i": "rolled back"})
        raise RuntimeError
    assert len(audit.entries(store)) == 6 and verify_trail(store).ok


def test_payload_must_be_json(store):
    with pytest.raises(AuditError):
        audit.append(store, "test.event", {"x": float("nan")})


def test_cli_verify_exit_codes(tmp_path, capsys):
    s = open_store(tmp_path)
    audit.append(s, "test.event", {"i": 1})
    audit.append(s, "test.event", {"i": 2})
    assert main(["audit", "verify", "--json", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    _drop_triggers(s)
    s.conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    s.conn.commit()
    s.close()
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 5
    assert "BROKEN" in capsys.readouterr().out


def test_append_many_is_one_batch_that_continues_the_chain(store):
    events = [("test.batch", {"i": i, "when": (1, 2), "note": "é"}, "someone" if i else None)
              for i in range(5)]
    with store.transaction():
        done = audit.append_many(store, events)
    assert [e.seq for e in done] == [7, 8, 9, 10, 11]
    stored = audit.entries(store)[-5:]
    assert stored == done  # what is returned is what reads back (tuples as lists)
    assert done[0].payload == {"i": 0, "when": [1, 2], "note": "é"}
    assert done[0].actor == user_of(store).login and done[1].actor == "someone"
    for e in stored:  # each hash is the entry's canonical JSON's, as a single append makes it
        assert e.hash == audit.entry_hash(e.time, e.event_type, e.actor, e.app_version,
                                          e.payload, e.prev_hash)
    head_file = audit.head_file(store)  # SQLite only: a site database keeps no local head
    if head_file is not None:
        assert json.loads(head_file.read_text())["seq"] == 6  # the caller checkpoints
    alone = audit.append_many(store, events[:2])  # no transaction: its own, and the head file
    assert alone[-1].seq == 13
    if head_file is not None:
        assert json.loads(head_file.read_text())["seq"] == 13
    assert audit.verify(store).ok
    with pytest.raises(AuditError, match="not JSON-serialisable"):
        audit.append_many(store, [("test.batch", {"x": float("nan")}, None)])
    assert audit.append_many(store, []) == []


def test_writers_sharing_a_folder_each_replace_the_head_file_whole(store, caplog):
    """Workstations (processes, threads) writing the head file at once: no writer moves
    another's temporary file away (the file was once written through one shared tmp name)."""
    import threading

    from oncoboard.audit.trail import _write_head, entries

    sqlite_only(store, "the audit head file sits beside the SQLite file")
    last = entries(store, last=1)[0]
    go = threading.Barrier(8)

    def write() -> None:
        go.wait()
        for _ in range(200):
            _write_head(store, last)

    threads = [threading.Thread(target=write) for _ in range(8)]
    with caplog.at_level("WARNING", logger="oncoboard.audit.trail"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not [r for r in caplog.records if "cannot write the audit head" in r.message]
    head = audit.head_file(store)
    assert json.loads(head.read_text())["seq"] == last.seq
    assert not list(head.parent.glob("*.tmp"))


def test_a_batch_of_entries_is_logged_on_one_line(store, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="oncoboard.audit.trail"):
        done = audit.append_many(store, [("test.event", {"n": i}, None) for i in range(3)])
        audit.append(store, "test.other", {"n": 3})
    lines = [r.getMessage() for r in caplog.records if r.name == "oncoboard.audit.trail"]
    assert lines == [
        f"audit test.event #{done[0].seq}-#{done[2].seq} (3 entries), head {done[2].hash[:12]}",
        f"audit test.other #{done[2].seq + 1} {audit.entries(store, last=1)[0].hash[:12]}"]
