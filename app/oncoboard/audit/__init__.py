"""The audit trail: an append-only, hash-chained log used by every layer that records a decision.

It sits below inference and the board (both write to it) and above the store only. See
:mod:`oncoboard.audit.trail`.
"""

from oncoboard.audit.trail import (
    GENESIS,
    HEAD_SUFFIX,
    AuditEntry,
    Problem,
    RowCheck,
    VerifyReport,
    append,
    append_many,
    canonical_json,
    checkpoint,
    entries,
    entry_hash,
    head_file,
    sha256_text,
    verify,
)
from oncoboard.identity import os_user

__all__ = [
    "GENESIS", "HEAD_SUFFIX", "AuditEntry", "Problem", "RowCheck", "VerifyReport", "append",
    "append_many",
    "canonical_json", "checkpoint", "entries", "entry_hash", "head_file", "os_user",
    "sha256_text", "verify",
]
