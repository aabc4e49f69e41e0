"""A workstation in its own process, for the no-lost-update tests (spawned by multiprocessing)."""

from __future__ import annotations

from typing import Any


def amend_in_rounds(db_path: str, name: str, rounds: int, barrier: Any, results: Any) -> None:
    """Each round: read the decision, wait for the other workstation, amend what was read.

    Puts ("ok", plan) or ("stale", message) on `results` per round; a refused amendment is
    retried after a reload, so every plan this process meant to record is recorded once.
    """
    from oncoboard.board.decisions import amend_decision, current_decision
    from oncoboard.errors import StaleWriteError
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(db_path)
    store.user = User(name, workstation=f"ws-{name}")
    try:
        for i in range(rounds):
            plan = f"plan {name} {i}"
            read = current_decision(store, 1, "BRC-001")
            assert read is not None
            barrier.wait(timeout=60)  # both have read the same version: both now write
            while True:
                try:
                    amend_decision(store, 1, "BRC-001", reason=f"round {i}", plan=plan,
                                   expected_version=read.version)
                    results.put((name, "ok", plan))
                    break
                except StaleWriteError as exc:
                    results.put((name, "stale", exc.message))
                    read = current_decision(store, 1, "BRC-001")  # reload, then redo
                    assert read is not None
            barrier.wait(timeout=60)
    finally:
        store.close()
