"""Verify the ledger in the database: leaf hashes, the stored tree, checkpoints and (in full mode) receipts.

Streams entries in sequence order in constant memory; reports the first bad sequence number and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from ledger import canonical, keys, merkle, signing
from ledger.models import Checkpoint, LedgerLeaf

CHUNK = 2000


@dataclass
class Failure:
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "ledger"
        return f"{where}: {self.reason}"


@dataclass
class VerificationReport:
    entries: int = 0
    checkpoints: int = 0
    receipts: int = 0
    started_at_size: int = 0
    root: bytes = b""
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


def _key_windows() -> dict[str, tuple[bytes, datetime, datetime | None]]:
    return {
        key.key_id: (bytes(key.public_key), key.valid_from, until) for key, until in keys.validity_windows()
    }


def _verify_checkpoint_signature(checkpoint: Checkpoint, public_keys: dict[str, bytes]) -> str | None:
    public = public_keys.get(checkpoint.key_id)
    if public is None:
        return f"checkpoint {checkpoint.tree_size} names unknown key {checkpoint.key_id}"
    try:
        parsed = signing.verify_checkpoint(checkpoint.note, keys.origin(), public)
    except signing.SignatureError as exc:
        return f"checkpoint {checkpoint.tree_size} signature invalid: {exc}"
    if parsed.size != checkpoint.tree_size or parsed.root != bytes(checkpoint.root_hash):
        return f"checkpoint {checkpoint.tree_size} note does not match its size and root columns"
    return None


def _stream_entries(start: int) -> Iterator[tuple[int, bytes, bytes, str, str, bytes]]:
    rows = (
        LedgerLeaf.objects.filter(seq__gte=start)
        .order_by("seq")
        .values_list(
            "seq",
            "entry__canonical",
            "entry__leaf_hash",
            "entry__key_id",
            "entry__accepted_at",
            "entry__receipt_signature",
        )
        .iterator(chunk_size=CHUNK)
    )
    for seq, data, leaf_hash, key_id, accepted_at, signature in rows:
        yield seq, bytes(data), bytes(leaf_hash), key_id, canonical.format_time(accepted_at), bytes(signature)


def _check_entries(batch: list[tuple[int, bytes, bytes, str, str, bytes]], windows: dict) -> Failure | None:
    """The first entry in `batch` whose bytes, leaf hash or receipt is wrong (runs in worker processes)."""
    for seq, data, stored_hash, key_id, accepted_at, signature in batch:
        problem = _entry_problem(data, stored_hash)
        if problem:
            return Failure(seq, problem)
        window = windows.get(key_id)
        if window is None:
            return Failure(seq, f"receipt names unknown key {key_id}")
        public, valid_from, valid_until = window
        if accepted_at < valid_from or (valid_until is not None and accepted_at >= valid_until):
            return Failure(seq, f"receipt time {accepted_at} is outside key {key_id}'s validity window")
        if not signing.verify_receipt(public, batch_origin[0], stored_hash, accepted_at, key_id, signature):
            return Failure(seq, "receipt signature does not verify")
    return None


def _entry_problem(data: bytes, stored_hash: bytes) -> str | None:
    if canonical.leaf_hash(data) != stored_hash:
        return "leaf hash does not match the entry's canonical bytes"
    if not canonical.is_canonical(data):
        return "entry bytes are not canonical RFC 8785 JSON"
    return None


batch_origin: list[str] = [""]


def _init_worker(origin_name: str) -> None:
    batch_origin[0] = origin_name


def _verify_stored_tree(size: int) -> Failure | None:
    """Every stored interior node is the hash of its two stored children (one streaming join)."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT p.level, p."index", p.hash, l.hash, r.hash FROM ledger_ledgernode p '
            'JOIN ledger_ledgernode l ON l.level = p.level - 1 AND l."index" = 2 * p."index" '
            'JOIN ledger_ledgernode r ON r.level = p.level - 1 AND r."index" = 2 * p."index" + 1 '
            "WHERE p.level > 0"
        )
        checked = 0
        while rows := cursor.fetchmany(CHUNK):
            for level, index, parent, left, right in rows:
                checked += 1
                if merkle.hash_children(bytes(left), bytes(right)) != bytes(parent):
                    return Failure(index << level, f"stored subtree (level {level}, index {index}) is wrong")
        cursor.execute("SELECT COUNT(*) FROM ledger_ledgernode WHERE level > 0")
        expected = sum(size >> level for level in range(1, size.bit_length() + 1))
        if cursor.fetchone()[0] != expected or checked != expected:
            return Failure(None, f"the stored tree has {checked} interior nodes where {expected} are due")
    return None


def verify_database(
    *,
    full: bool = False,
    from_checkpoint: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Recompute every leaf hash and the tree, check every checkpoint; with `full`, every receipt too.

    `from_checkpoint` resumes from a trusted checkpoint of that size: its signature and its root over the
    stored subtrees are checked, then only later entries are read.
    """
    report = VerificationReport()
    windows = _key_windows()
    public_keys = {key_id: window[0] for key_id, window in windows.items()}
    checkpoints = {c.tree_size: c for c in Checkpoint.objects.all()}
    for checkpoint in checkpoints.values():
        problem = _verify_checkpoint_signature(checkpoint, public_keys)
        if problem:
            report.failure = Failure(checkpoint.tree_size - 1, problem)
            return report
    tree_range = merkle.CompactRange()
    start = 0
    if from_checkpoint is not None:
        trusted = checkpoints.get(from_checkpoint)
        if trusted is None:
            report.failure = Failure(None, f"no checkpoint of size {from_checkpoint} to resume from")
            return report
        from ledger.tree import node_hashes

        coordinates = merkle.perfect_subtrees(0, from_checkpoint)
        stored = node_hashes(coordinates)
        tree_range = merkle.CompactRange.from_subtrees(from_checkpoint, [stored[c] for c in coordinates])
        if tree_range.root() != bytes(trusted.root_hash):
            report.failure = Failure(
                from_checkpoint - 1, "stored subtrees do not match the trusted checkpoint"
            )
            return report
        start = report.started_at_size = from_checkpoint

    # Full mode hands each entry's own checks (bytes, leaf hash, receipt) to one worker per core; this
    # process streams rows and rebuilds the tree. The first failure by sequence number wins.
    executor = (
        ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, initializer=_init_worker, initargs=(keys.origin(),)
        )
        if full
        else None
    )
    window_strings = _window_strings(windows)
    checks = []
    batch: list[tuple[int, bytes, bytes, str, str, bytes]] = []
    expected_seq = start
    try:
        for row in _stream_entries(start):
            seq, data, stored_hash = row[0], row[1], row[2]
            if seq != expected_seq:
                report.failure = Failure(expected_seq, "sequence number missing")
                break
            expected_seq += 1
            if executor is None:
                problem = _entry_problem(data, stored_hash)
                if problem:
                    report.failure = Failure(seq, problem)
                    break
            else:
                batch.append(row)
                if len(batch) >= CHUNK:
                    checks.append(executor.submit(_check_entries, batch, window_strings))
                    batch = []
            tree_range.append(stored_hash)
            report.entries += 1
            checkpoint = checkpoints.get(tree_range.size)
            if checkpoint is not None:
                if tree_range.root() != bytes(checkpoint.root_hash):
                    report.failure = Failure(
                        seq, f"tree root differs from signed checkpoint {checkpoint.tree_size}"
                    )
                    break
                report.checkpoints += 1
            if progress is not None and report.entries % CHUNK == 0:
                progress(CHUNK)
        if progress is not None:
            progress(report.entries % CHUNK)
        if executor is not None:
            if batch:
                checks.append(executor.submit(_check_entries, batch, window_strings))
            failures = [failure for failure in (check.result() for check in checks) if failure is not None]
            if report.failure is not None:
                failures.append(report.failure)
            report.failure = min(failures, key=lambda failure: failure.seq or 0, default=None)
            if report.failure is None:
                report.receipts = report.entries
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    if report.failure is not None:
        return report
    report.root = tree_range.root()
    if from_checkpoint is None:
        stored_tree_problem = _verify_stored_tree(tree_range.size)
        if stored_tree_problem:
            report.failure = stored_tree_problem
    return report


def _window_strings(windows: dict) -> dict[str, tuple[bytes, str, str | None]]:
    """Validity windows with times as canonical strings (they compare in time order)."""
    return {
        key_id: (public, canonical.format_time(start), canonical.format_time(end) if end else None)
        for key_id, (public, start, end) in windows.items()
    }
