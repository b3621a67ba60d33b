"""Writes to the ledger: append an entry (in the caller's transaction), sequence, checkpoint, rotate the key.

Appending never waits for a global lock: entries are inserted and receipted concurrently in their callers'
transactions, then one sequencer at a time (elected by a PostgreSQL advisory lock; on SQLite the single
writer) gives them gap-free sequence numbers and integrates them into the stored Merkle tree in batches.

The services live in appending (ledger_append, receipts), sequencing (the sequencer and its lock),
checkpoints, after_commit (what a commit asks of the sequencer, and of checkpoints where nothing runs beat)
and key_rotation; this package re-exports them, so callers write `from ledger import services;
services.ledger_sequence()` or `from ledger.services import ledger_append`. A test that replaces a name a
service looks up patches the submodule that looks it up (`ledger.services.after_commit.ledger_sequence`),
not this package.
"""

from __future__ import annotations

from ledger.services.after_commit import (
    SEQUENCE_BACKOFF,
    WORTHWHILE_BATCH,
    checkpoints_signed_after_commit,
    request_sequencing,
)
from ledger.services.appending import KIND_PATTERN, Receipt, ledger_append, receipt_of
from ledger.services.checkpoints import ForkDetected, checkpoint_issue
from ledger.services.key_rotation import signing_key_rotate
from ledger.services.sequencing import SEQUENCER_LOCK_ID, ledger_sequence

__all__ = [
    "KIND_PATTERN",
    "SEQUENCER_LOCK_ID",
    "SEQUENCE_BACKOFF",
    "WORTHWHILE_BATCH",
    "ForkDetected",
    "Receipt",
    "checkpoint_issue",
    "checkpoints_signed_after_commit",
    "ledger_append",
    "ledger_sequence",
    "receipt_of",
    "request_sequencing",
    "signing_key_rotate",
]
