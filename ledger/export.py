"""The ledger export: JSON Lines of header, public keys, checkpoints, entries and credit transfers
(docs/ledger-format.md)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from ledger import canonical, keys
from ledger.models import Checkpoint, LedgerLeaf
from ledger.tree import tree_size

EXPORT_FORMAT = "consortium-exchange-ledger-export/v1"


def write_export(out: TextIO) -> int:
    """Write the whole sequenced ledger to `out`, entry by entry; return the number of entries."""
    size = tree_size()

    def line(obj: dict) -> None:
        out.write(json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n")

    line({"type": "header", "format": EXPORT_FORMAT, "origin": keys.origin(), "tree_size": size})
    for key, until in keys.validity_windows():
        line(
            {
                "type": "key",
                "key_id": key.key_id,
                "public_key": base64.b64encode(bytes(key.public_key)).decode(),
                "valid_from": canonical.format_time(key.valid_from),
                "valid_until": canonical.format_time(until) if until else None,
            }
        )
    for checkpoint in Checkpoint.objects.filter(tree_size__lte=size).order_by("tree_size").iterator():
        line(
            {
                "type": "checkpoint",
                "tree_size": checkpoint.tree_size,
                "root_hash": bytes(checkpoint.root_hash).hex(),
                "note": checkpoint.note,
                "key_id": checkpoint.key_id,
            }
        )
    count = 0
    rows = (
        LedgerLeaf.objects.filter(seq__lt=size)
        .order_by("seq")
        .values_list(
            "seq",
            "entry__canonical",
            "entry__leaf_hash",
            "entry__accepted_at",
            "entry__key_id",
            "entry__receipt_signature",
        )
        .iterator(chunk_size=2000)
    )
    # Closed here when a write fails (a full disk): left to the garbage collector, a server-side cursor
    # would be closed after the connection, and Python would print that error's traceback at exit.
    try:
        for seq, data, leaf_hash, accepted_at, key_id, signature in rows:
            line(
                {
                    "type": "entry",
                    "seq": seq,
                    "canonical": base64.b64encode(bytes(data)).decode(),
                    "leaf_hash": bytes(leaf_hash).hex(),
                    "accepted_at": canonical.format_time(accepted_at),
                    "key_id": key_id,
                    "receipt": base64.b64encode(bytes(signature)).decode(),
                }
            )
            count += 1
    finally:
        _close(rows)
    _write_transfers(line, size)
    return count


def _write_transfers(line: Callable[[dict[str, Any]], None], size: int) -> None:
    """The credit transfers of the exported entries, after them, for `python -m ledger.verify
    --rules-replay` to diff."""
    from ledger.credit.audit import stored_transfers

    transfers = stored_transfers(below_seq=size)
    try:
        for transfer in transfers:
            line({"type": "credit_transfer", **transfer})
    finally:
        _close(transfers)


def _close(rows: Iterator[Any]) -> None:
    """Close a query's row generator now (its cursor with it), not whenever it is collected."""
    close = getattr(rows, "close", None)
    if close is not None:
        close()
