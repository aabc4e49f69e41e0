"""Keyed checkpoints outside the database: a re-hashed, truncated or wiped chain is found."""

from __future__ import annotations

import json
import socket
import sys
import types

import pytest

from oncoboard import audit
from oncoboard.audit import anchor
from oncoboard.board.trail import verify_trail
from oncoboard.store import open_store


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Point the site and user configuration into tmp_path; return a writer of the site file."""
    path = tmp_path / "site.toml"
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(path))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))

    def write(**values):
        path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()),
                        encoding="utf-8")

    return write


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "etc" / "audit.key"
    path.parent.mkdir()
    path.write_text("7f" * 32 + "\n", encoding="ascii")
    return path


def _filled(tmp_path, n=5):
    s = open_store(tmp_path / "data")
    for i in range(n):
        audit.append(s, "test.event", {"i": i})
    return s


def _rewrite(store, seq, head=True):
    """What an attacker with the database does: change an entry and re-hash the chain."""
    rows = audit.entries(store)
    for t in ("audit_log_no_update", "audit_log_no_delete", "audit_log_chain"):
        store.conn.execute(f"DROP TRIGGER IF EXISTS {t}")
    store.conn.execute("DELETE FROM audit_log")
    prev = audit.GENESIS
    for e in rows:
        payload = {**e.payload, "i": 99} if e.seq == seq else e.payload
        digest = audit.entry_hash(e.time, e.event_type, e.actor, e.app_version, payload, prev)
        store.conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [e.seq, e.time, e.event_type, e.actor, e.app_version,
                            audit.canonical_json(payload), prev, digest])
        prev = digest
    if head:
        audit.head_file(store).write_text(json.dumps({"seq": rows[-1].seq, "hash": prev}))


def _kinds(report):
    return {p.kind for p in report.problems}


def test_without_a_key_a_rehashed_chain_passes_and_the_report_says_so(tmp_path, site):
    s = _filled(tmp_path)
    anchor.local_file(s).unlink()  # the attacker also removes the unkeyed checkpoints
    _rewrite(s, 3)
    report = verify_trail(s)
    assert report.ok and "not anchored: no checkpoint key configured" in report.anchor
    s.close()


def test_keyed_checkpoint_finds_a_rehashed_chain(tmp_path, site, key_file):
    site(audit_key_file=str(key_file))
    s = _filled(tmp_path)
    assert verify_trail(s).anchor.startswith("last checkpoint ")
    _rewrite(s, 3)
    report = verify_trail(s)
    assert not report.ok and "rewritten" in _kinds(report)
    s.close()


def test_forged_checkpoint_lines_are_found(tmp_path, site, key_file):
    site(audit_key_file=str(key_file))
    s = _filled(tmp_path)
    _rewrite(s, 3)
    # the attacker rewrites the checkpoint file too, but cannot compute the HMAC
    local = anchor.local_file(s)
    lines = [json.loads(x) for x in local.read_text().splitlines()]
    heads = {e.seq: e.hash for e in audit.entries(s)}
    for r in lines:
        r["hash"] = heads[r["seq"]]
    local.write_text("".join(json.dumps(r) + "\n" for r in lines))
    report = verify_trail(s)
    assert not report.ok and "forged" in _kinds(report)
    s.close()


def test_site_checkpoint_file_survives_a_wipe_of_the_data_folder(tmp_path, site, key_file):
    share = tmp_path / "share" / "checkpoints.jsonl"
    share.parent.mkdir()
    site(audit_key_file=str(key_file), audit_checkpoint_file=str(share))
    s = _filled(tmp_path)
    s.conn.execute("DROP TRIGGER audit_log_no_delete")
    s.conn.execute("DELETE FROM audit_log")
    audit.head_file(s).unlink()
    anchor.local_file(s).unlink()
    report = verify_trail(s)
    assert not report.ok and "truncated" in _kinds(report)
    assert any("site file" in p.detail and "keyed" in p.detail for p in report.problems)
    s.close()


def test_truncated_chain_with_a_fixed_head_file_is_found(tmp_path, site, key_file):
    site(audit_key_file=str(key_file))
    s = _filled(tmp_path)
    s.conn.execute("DROP TRIGGER audit_log_no_delete")
    s.conn.execute("DELETE FROM audit_log WHERE seq > 3")
    last = audit.entries(s)[-1]
    audit.head_file(s).write_text(json.dumps({"seq": last.seq, "hash": last.hash}))
    report = verify_trail(s)
    assert not report.ok and "truncated" in _kinds(report)
    s.close()


def test_verify_command_says_what_is_anchored(tmp_path, run, key_file):
    (tmp_path / "site.toml").write_text(f'audit_key_file = "{key_file}"\n')
    run("board", "create", "--date", "2026-12-02", "--specialty", "sein", "--title", "RCP")
    code, out, _ = run("audit", "verify")
    assert code == 0, out
    assert "chain intact; last checkpoint " in out
    assert f"matches (HMAC key from site key file {key_file}" in out
    (tmp_path / "site.toml").write_text("")
    code, out, _ = run("audit", "verify")
    assert code == 0 and "not anchored: no checkpoint key configured" in out


def test_keyring_key_is_used_and_created_once(tmp_path, site, monkeypatch):
    stored = {}
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, name: stored.get((service, name))
    fake.set_password = lambda service, name, value: stored.__setitem__((service, name), value)
    monkeypatch.setitem(sys.modules, "keyring", fake)
    site(audit_keyring=True)
    s = _filled(tmp_path)
    assert len(stored) == 1
    assert "HMAC key from OS keyring" in verify_trail(s).anchor
    s.close()


def test_no_keyring_backend_says_so_and_names_the_key_file(tmp_path, site, monkeypatch):
    fake = types.ModuleType("keyring")

    def no_backend(*args):
        raise RuntimeError("No recommended backend was available")

    fake.get_password = fake.set_password = no_backend
    monkeypatch.setitem(sys.modules, "keyring", fake)
    site(audit_keyring=True)
    s = _filled(tmp_path, 2)
    report = verify_trail(s)
    assert report.ok and "no usable OS keyring" in report.anchor
    assert "audit_key_file" in report.anchor
    s.close()


def test_checkpoints_go_to_syslog(tmp_path, site, key_file):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        site(audit_key_file=str(key_file), audit_syslog=f"127.0.0.1:{sock.getsockname()[1]}")
        s = _filled(tmp_path, 1)
        message = sock.recv(4096).decode("utf-8")
    assert "oncoboard-audit checkpoint" in message and '"seq": 1' in message
    assert '"mac": "' in message
    s.close()


def test_anchor_and_checkpoint_are_kept_beside_the_store_not_on_it(tmp_path, site):
    """The per-store caches live in the audit layer: the Store gets no ad-hoc attributes (its
    class may change backend), and each open store still reads its anchor once."""
    s = _filled(tmp_path, n=2)
    try:
        assert anchor.local_file(s).is_file()  # checkpoints were written
        assert not hasattr(s, "audit_anchor") and not hasattr(s, "audit_checkpointed")
        assert anchor.anchor_for(s) is anchor.anchor_for(s)
    finally:
        s.close()


def test_anchor_of_an_in_memory_store_says_why_there_is_none():
    """An in-memory store has no data folder: its anchor names the reason (was a TypeError)."""
    s = open_store(None)
    try:
        a = anchor.anchor_for(s)
        assert a.key is None and "in-memory" in (a.key_problem or "")
        assert anchor.check(s, {}).summary == "in-memory store: no checkpoints"
    finally:
        s.close()
