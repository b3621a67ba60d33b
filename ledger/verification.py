"""Verify the ledger in the database: leaf hashes, the stored tree, checkpoints and (in full mode) receipts.

Streams entries in sequence order in constant memory; reports the first bad sequence number and why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from ledger import canonical, keys, merkle, signing
from ledger.models import Checkpoint, LedgerLeaf, LedgerNode

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


class EntryRow(NamedTuple):
    """One sequenced entry as stored: its bytes, hashes, receipt and the columns copied from its bytes."""

    seq: int
    canonical: bytes
    leaf_hash: bytes
    node_hash: bytes | None  # the stored level-0 subtree the proofs are served from
    key_id: str
    accepted_at: str
    signature: bytes
    columns: tuple[
        str, int | None, str, str, str
    ]  # kind, actor member, subject type, subject id, member refs


def _stream_entries(start: int) -> Iterator[EntryRow]:
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
            "entry__kind",
            "entry__actor_member_id",
            "entry__subject_type",
            "entry__subject_id",
            "entry__member_refs",
        )
        .iterator(chunk_size=CHUNK)
    )
    leaves = (
        LedgerNode.objects.filter(level=0, index__gte=start).order_by("index").values_list("index", "hash")
    ).iterator(chunk_size=CHUNK)
    for row in rows:
        index, node_hash = next(leaves, (None, None))
        seq = row[0]
        yield EntryRow(
            seq=seq,
            canonical=bytes(row[1]),
            leaf_hash=bytes(row[2]),
            node_hash=bytes(node_hash) if index == seq and node_hash is not None else None,
            key_id=row[3],
            accepted_at=canonical.format_time(row[4]),
            signature=bytes(row[5]),
            columns=(row[6], row[7], row[8], row[9], row[10]),
        )


def _check_entries(batch: list[EntryRow], windows: dict) -> Failure | None:
    """The first entry in `batch` whose bytes, hashes, columns or receipt is wrong (runs in workers)."""
    for row in batch:
        problem = _entry_problem(row)
        if problem:
            return Failure(row.seq, problem)
        window = windows.get(row.key_id)
        if window is None:
            return Failure(row.seq, f"receipt names unknown key {row.key_id}")
        public, valid_from, valid_until = window
        if row.accepted_at < valid_from or (valid_until is not None and row.accepted_at >= valid_until):
            return Failure(
                row.seq, f"receipt time {row.accepted_at} is outside key {row.key_id}'s validity window"
            )
        if not signing.verify_receipt(
            public, batch_origin[0], row.leaf_hash, row.accepted_at, row.key_id, row.signature
        ):
            return Failure(row.seq, "receipt signature does not verify")
    return None


def _entry_problem(row: EntryRow) -> str | None:
    """What is wrong with one entry's own bytes, hashes and copied columns, or None."""
    if canonical.leaf_hash(row.canonical) != row.leaf_hash:
        return "leaf hash does not match the entry's canonical bytes"
    if row.node_hash != row.leaf_hash:
        return "the stored tree's leaf differs from the entry's leaf hash"
    if not canonical.is_canonical(row.canonical):
        return "entry bytes are not canonical RFC 8785 JSON"
    document = json.loads(row.canonical)
    members = document.get("members") or []
    expected = (
        document.get("kind"),
        (document.get("actor") or {}).get("member"),
        (document.get("subject") or {}).get("type"),
        (document.get("subject") or {}).get("id"),
        "".join(f"|{member}" for member in members) + ("|" if members else ""),
    )
    if expected != row.columns:
        return "the entry's indexed columns (kind, actor, subject, members) differ from its canonical bytes"
    if document.get("time") != row.accepted_at:
        return "the entry's acceptance time differs from the time in its canonical bytes"
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
    batch: list[EntryRow] = []
    expected_seq = start
    try:
        for row in _stream_entries(start):
            seq, stored_hash = row.seq, row.leaf_hash
            if seq != expected_seq:
                report.failure = Failure(expected_seq, "sequence number missing")
                break
            expected_seq += 1
            if executor is None:
                problem = _entry_problem(row)
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
