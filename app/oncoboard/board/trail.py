"""The whole audit check: the hash chain and every audited row stored beside it.

The chain itself lives in :mod:`oncoboard.audit` (below inference and the board); the rows that
refer to it (stored predictions, board decisions) are checked by the layers that own them. This
module, above both, puts the two together for ``oncoboard audit verify`` and the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncoboard import audit
from oncoboard.audit.access import verify_access_log
from oncoboard.board.decisions import verify_decisions
from oncoboard.board.meetings_verify import verify_board
from oncoboard.imaging.lesions import verify_lesions
from oncoboard.imaging.measurements import verify_measurements
from oncoboard.inference.prediction_store import verify_predictions

if TYPE_CHECKING:
    from oncoboard.store import Store


def verify_prediction_rows(store: Store) -> list[audit.Problem]:
    """Return a problem for each audited prediction whose row is missing (deleted)."""
    if "predictions" not in store.db.table_names():
        return []
    stored = {r[0] for r in store.conn.execute("SELECT audit_seq FROM predictions")}
    return [audit.Problem(e.seq, "deleted", f"prediction {e.payload.get('prediction_id')} "
                                            f"(entry {e.seq}) is missing from the database")
            for e in audit.entries(store, event_type="prediction.created")
            if e.seq not in stored]


def verify_trail(store: Store) -> audit.VerifyReport:
    """Verify the chain, its checkpoints and every audited row: predictions, meetings, cases,
    decisions, lesions and their measurements, measurements kept from the viewer (edited,
    deleted or unaudited rows are problems), and the access log's own chain."""
    return audit.verify(store, row_checks=(verify_predictions, verify_prediction_rows,
                                           verify_board, verify_decisions, verify_lesions,
                                           verify_measurements, verify_access_log))
