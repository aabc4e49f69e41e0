"""The whole audit check: the hash chain and every audited row stored beside it.

The chain itself lives in :mod:`oncoboard.audit` (below inference and the board); the rows that
refer to it (stored predictions, board decisions) are checked by the layers that own them. This
module, above both, puts the two together for ``oncoboard audit verify`` and the app.
"""

from __future__ import annotations

from typing import Any

from oncoboard import audit
from oncoboard.board.decisions import verify_decisions
from oncoboard.inference.prediction_store import verify_predictions


def verify_trail(store: Any) -> audit.VerifyReport:
    """Verify the hash chain, the stored predictions and the board decisions against it."""
    return audit.verify(store, row_checks=(verify_predictions, verify_decisions))
