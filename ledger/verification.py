"""Verify the ledger in the database: leaf hashes, the stored tree, checkpoints and (in full mode) receipts.

Streams entries in sequence order in constant memory; reports the first bad sequence number and why.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection

from ledger import canonical, keys, merkle, signing
from ledger.models import Checkpoint

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


# One sequenced entry as stored, a plain tuple (cheap to pickle to the workers): its bytes, hashes, receipt
# and the columns copied from its bytes.
SEQ, CANONICAL, LEAF_HASH, NODE_HASH, KEY_ID, ACCEPTED_AT, SIGNATURE = range(7)
COLUMNS = slice(7, 12)  # kind, actor member, subject type, subject id, member refs
EntryRow = tuple

_ENTRY_ROWS = (
    # node: the stored level-0 subtree the proofs are served from (NULL if missing)
    "SELECT l.seq, e.canonical, e.leaf_hash, n.hash, e.key_id, e.accepted_at, e.receipt_signature, "
    "e.kind, e.actor_member_id, e.subject_type, e.subject_id, e.member_refs "
    "FROM ledger_ledgerleaf l JOIN ledger_ledgerentry e ON e.id = l.entry_id "
    'LEFT JOIN ledger_ledgernode n ON n.level = 0 AND n."index" = l.seq '
    "WHERE l.seq >= %s ORDER BY l.seq"
)


def _stream_entries(start: int) -> Iterator[list[EntryRow]]:
    """Sequenced entries from `start` in sequence order, in lists of up to CHUNK rows (one query, streamed
    through a server-side cursor on PostgreSQL: constant memory)."""
    sqlite = connection.vendor == "sqlite"
    with connection.chunked_cursor() as cursor:
        cursor.execute(_ENTRY_ROWS, [start])
        while rows := cursor.fetchmany(CHUNK):
            if sqlite:  # bytes as bytes, times as aware UTC datetimes, like PostgreSQL returns them
                rows = [_sqlite_row(row) for row in rows]
            yield rows


def _sqlite_row(row: tuple) -> EntryRow:
    accepted_at = row[ACCEPTED_AT]
    if isinstance(accepted_at, str):
        accepted_at = datetime.fromisoformat(accepted_at)
    if accepted_at.tzinfo is None:  # stored in UTC without an offset
        accepted_at = accepted_at.replace(tzinfo=UTC)
    values = list(row)
    values[ACCEPTED_AT] = accepted_at
    for index in (CANONICAL, LEAF_HASH, NODE_HASH, SIGNATURE):
        if values[index] is not None:
            values[index] = bytes(values[index])
    return tuple(values)


def _check_entries(batch: list[EntryRow], windows: dict) -> Failure | None:
    """The first entry in `batch` whose bytes, hashes, columns or receipt is wrong (runs in workers)."""
    verifiers: dict[str, signing.ReceiptVerifier] = {}
    for row in batch:
        accepted_at = canonical.format_time(row[ACCEPTED_AT])
        problem = _entry_problem(row, accepted_at)
        if problem:
            return Failure(row[SEQ], problem)
        key_id = row[KEY_ID]
        window = windows.get(key_id)
        if window is None:
            return Failure(row[SEQ], f"receipt names unknown key {key_id}")
        public, valid_from, valid_until = window
        if accepted_at < valid_from or (valid_until is not None and accepted_at >= valid_until):
            return Failure(row[SEQ], f"receipt time {accepted_at} is outside key {key_id}'s validity window")
        verifier = verifiers.get(key_id)
        if verifier is None:
            verifier = verifiers[key_id] = signing.ReceiptVerifier(public, batch_origin[0], key_id)
        if not verifier.verify(row[LEAF_HASH], accepted_at, row[SIGNATURE]):
            return Failure(row[SEQ], "receipt signature does not verify")
    return None


def _entry_problem(row: EntryRow, accepted_at: str) -> str | None:
    """What is wrong with one entry's own bytes, hashes and copied columns, or None."""
    data = row[CANONICAL]
    if canonical.leaf_hash(data) != row[LEAF_HASH]:
        return "leaf hash does not match the entry's canonical bytes"
    if row[NODE_HASH] != row[LEAF_HASH]:
        return "the stored tree's leaf differs from the entry's leaf hash"
    document = canonical.parse_canonical(data)  # parsed once: the canonical check and the columns
    if document is None and data != b"null":
        return "entry bytes are not canonical RFC 8785 JSON"
    if not isinstance(document, dict):
        document = {}
    members = document.get("members") or []
    actor = document.get("actor") or {}
    subject = document.get("subject") or {}
    expected = (
        document.get("kind"),
        actor.get("member") if isinstance(actor, dict) else None,
        subject.get("type") if isinstance(subject, dict) else None,
        subject.get("id") if isinstance(subject, dict) else None,
        "".join(f"|{member}" for member in members) + ("|" if members else ""),
    )
    if expected != row[COLUMNS]:
        return "the entry's indexed columns (kind, actor, subject, members) differ from its canonical bytes"
    if document.get("time") != accepted_at:
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
    checks: deque[Future] = deque()
    failures: list[Failure] = []
    outstanding = 2 * (workers or os.cpu_count() or 1)  # batches in flight: constant memory
    expected_seq = start
    try:
        for rows in _stream_entries(start):
            for row in rows:
                seq = row[SEQ]
                if seq != expected_seq:
                    report.failure = Failure(expected_seq, "sequence number missing")
                    break
                expected_seq += 1
                if executor is None:
                    problem = _entry_problem(row, canonical.format_time(row[ACCEPTED_AT]))
                    if problem:
                        report.failure = Failure(seq, problem)
                        break
                tree_range.append(row[LEAF_HASH])
                reached = checkpoints.get(tree_range.size)
                if reached is not None:
                    if tree_range.root() != bytes(reached.root_hash):
                        report.failure = Failure(
                            seq, f"tree root differs from signed checkpoint {reached.tree_size}"
                        )
                        break
                    report.checkpoints += 1
            if report.failure is not None:
                # the entries before the failure still go to the workers: an earlier bad one wins
                rows = [row for row in rows if row[SEQ] < report.failure.seq] if report.failure.seq else []
            report.entries += len(rows)
            if executor is not None and rows:
                while len(checks) >= outstanding:
                    failure = checks.popleft().result()
                    if failure is not None:
                        failures.append(failure)
                checks.append(executor.submit(_check_entries, rows, window_strings))
            if progress is not None:
                progress(len(rows))
            if report.failure is not None or failures:
                break
        if executor is not None:
            failures.extend(failure for failure in (check.result() for check in checks) if failure)
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
