"""Verify the ledger in the database: leaf hashes, the stored tree, checkpoints and (in full mode) receipts.

The log is checked in ranges of sequence numbers, each on its own: its entries' bytes, leaf hashes, copied
columns (and receipts in full mode), and every stored subtree whose last leaf falls in the range, rebuilt
from the entries' leaf hashes and the stored subtrees to its left (which the ranges before it check, so by
induction the whole stored tree is checked against the entries). A range also yields the tree's root at
every checkpoint size inside it. On PostgreSQL the stored subtrees are compared in the database (one count
per range; row by row only to say which is wrong), and entries are read by id range where their ids are
close together. In full mode on PostgreSQL, this process and one forked worker per further core check
ranges, each taking the next range when it is free (a shared counter) and reading its own rows; the
workers fork first and connect while this process reads the keys and checkpoints. Otherwise this process
checks them all. Results are taken in sequence order, so the first bad sequence number and why is
reported. Memory is constant: a range at a time per process, and the few results that arrive before an
earlier range's.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from ledger import canonical, keys, merkle, signing
from ledger.models import Checkpoint
from ledger.tree import MissingNode, node_hashes, tree_size
from ledger.verification.ranges import Failure, Windows, _RangeChecker, _RangeResult, _sizes_in
from ledger.verification.workers import _Workers

__all__ = ["MIN_RANGE", "RANGE", "Failure", "VerificationReport", "verify_database"]

RANGE = 4096
"""Entries per range at most: a few queries. Shared by several processes, ranges shrink towards the end of
the log, down to MIN_RANGE entries."""
MIN_RANGE = 32


@dataclass
class VerificationReport:
    entries: int = 0
    checkpoints: int = 0
    receipts: int = 0
    started_at_size: int = 0
    root: bytes = b""
    failure: Failure | None = None
    # Set (and nothing read) when from_checkpoint names no signed checkpoint: the caller's mistake, not a
    # fault in the ledger, so it is kept apart from `failure`.
    cannot_resume: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.cannot_resume is None


def _key_windows() -> dict[str, tuple[bytes, datetime, datetime | None]]:
    return {
        key.key_id: (bytes(key.public_key), key.valid_from, until) for key, until in keys.validity_windows()
    }


def _window_strings(windows: dict) -> Windows:
    """Validity windows with times as canonical strings (they compare in time order)."""
    return {
        key_id: (public, canonical.format_time(start), canonical.format_time(end) if end else None)
        for key_id, (public, start, end) in windows.items()
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


class _Claims:
    """Hands out [start, end) in consecutive ranges to the processes checking it, each taking the next when
    it is free (so none idles while another has ranges queued). A range is at most half a process's share of
    what is left (so they finish together), but not under MIN_RANGE (each costs a few queries). Shared with
    forked workers through shared memory when `context` is given."""

    def __init__(self, processes: int, context: Any = None) -> None:
        self.processes = processes
        self._lock = context.Lock() if context is not None else None
        self._bounds = context.RawArray("q", 2) if context is not None else [0, 0]  # next, end

    def reset(self, start: int, end: int) -> None:
        self._bounds[0], self._bounds[1] = start, end

    def stop(self) -> None:
        """Hand out nothing more (after a failure): ranges already taken are still checked."""
        with self._locked():
            self._bounds[0] = self._bounds[1]

    def take(self) -> tuple[int, int] | None:
        with self._locked():
            return self._take()

    def _locked(self) -> Any:
        # under the shared lock, so a worker's take cannot write back a position a stop has moved past
        return self._lock if self._lock is not None else contextlib.nullcontext()

    def _take(self) -> tuple[int, int] | None:
        low, end = self._bounds
        if low >= end:
            return None
        step = max(MIN_RANGE, min(RANGE, (end - low) // (2 * self.processes)))
        high = self._bounds[0] = min(low + step, end)
        return low, high


def _size_and_nodes(count_nodes: bool) -> tuple[int, int]:
    """The tree's size and (if `count_nodes`) its interior node count, in one statement: one snapshot, as the
    sequencer writes a batch's leaves and nodes in one transaction (entries sequenced meanwhile would
    otherwise show up as extra nodes)."""
    with connection.cursor() as cursor:
        nodes = "(SELECT COUNT(*) FROM ledger_ledgernode WHERE level > 0)" if count_nodes else "0"
        cursor.execute(f"SELECT (SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_ledgerleaf), {nodes}")  # noqa: S608 - fixed text
        size, count = cursor.fetchone()
    return size, count


def verify_database(
    *,
    full: bool = False,
    from_checkpoint: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Recompute every leaf hash and the tree, check every checkpoint; with `full`, every receipt too.

    `from_checkpoint` resumes from a trusted checkpoint of that size: its signature and its root over the
    stored subtrees are checked, then only later entries are read. Otherwise the stored tree's interior node
    count is checked too (no extra subtrees), against its size when verification starts.
    """
    report = VerificationReport()
    processes = workers or os.cpu_count() or 1
    # With more than one process, this one checks ranges too and the others are workers reading their own
    # rows: only committed rows, so not from inside a transaction. They are forked (set up as this one is)
    # first, so that they connect while this one reads the keys and checks the checkpoints.
    parallel = (
        full
        and processes > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and "fork" in multiprocessing.get_all_start_methods()
        and tree_size() - (from_checkpoint or 0) > MIN_RANGE * processes
    )
    if parallel:
        context = multiprocessing.get_context("fork")
        claims = _Claims(processes, context)
        # Objects that exist when the workers fork stay out of collections until the end: a collection
        # writes to every object it visits, and each page written after the fork is copied (in the
        # workers and in this process).
        gc.freeze()
        helpers: _Workers | None = _Workers(processes - 1, claims, context)
    else:
        claims, helpers = _Claims(1), None
    try:
        windows = _key_windows()
        window_strings = _window_strings(windows) if full else None
        now_size, node_count = _size_and_nodes(count_nodes=from_checkpoint is None)
        _verify(report, windows, from_checkpoint, now_size, claims, helpers, window_strings, progress)
        if report.failure is None and from_checkpoint is None:
            expected = sum(now_size >> level for level in range(1, now_size.bit_length() + 1))
            if node_count != expected:
                report.failure = Failure(
                    None, f"the stored tree has {node_count} interior nodes where {expected} are due"
                )
    finally:
        if helpers is not None:
            helpers.close()
            gc.unfreeze()
    return report


def _verify(
    report: VerificationReport,
    windows: dict,
    from_checkpoint: int | None,
    now_size: int,
    claims: _Claims,
    helpers: _Workers | None,
    window_strings: Windows | None,
    progress: Callable[[int], None] | None,
) -> None:
    """Check the checkpoints' signatures and the trusted checkpoint, then the ranges."""
    public_keys = {key_id: window[0] for key_id, window in windows.items()}
    checkpoints = {c.tree_size: c for c in Checkpoint.objects.all()}
    # Under another origin every signature fails: say why once, rather than blame the first checkpoint.
    mismatch = keys.origin_mismatch()
    if mismatch is not None:
        report.failure = Failure(None, mismatch)
    else:
        for checkpoint in checkpoints.values():
            problem = _verify_checkpoint_signature(checkpoint, public_keys)
            if problem:
                report.failure = Failure(checkpoint.tree_size - 1, problem)
                break
    start = 0
    trusted = None
    if report.failure is None and from_checkpoint is not None:
        trusted = checkpoints.get(from_checkpoint)
        if trusted is None:
            latest = max(checkpoints, default=None)
            report.cannot_resume = (
                f"no checkpoint of size {from_checkpoint} to resume from (the latest signed is of size "
                f"{latest})"
                if latest is not None
                else f"no checkpoint of size {from_checkpoint} to resume from (none is signed yet)"
            )
        else:
            coordinates = merkle.perfect_subtrees(0, from_checkpoint)
            try:
                stored = node_hashes(coordinates)
            except MissingNode:
                stored = {}
            if merkle.combine_subtrees([stored.get(c, b"") for c in coordinates]) != bytes(trusted.root_hash):
                report.failure = Failure(
                    from_checkpoint - 1, "stored subtrees do not match the trusted checkpoint"
                )
            start = report.started_at_size = from_checkpoint
    if not report.ok:
        if helpers is not None:
            helpers.start(None)
        return
    size = max(now_size, start)
    # the root when no range is left to check; otherwise the last range's
    report.root = bytes(trusted.root_hash) if trusted is not None else merkle.combine_subtrees([])
    sizes = sorted(s for s in checkpoints if start < s <= size)
    claims.reset(start, size)
    if helpers is not None:
        helpers.start((window_strings, keys.origin(), sizes))
    _check_ranges(report, checkpoints, sizes, start, size, claims, helpers, window_strings, progress)
    if report.failure is None and window_strings is not None:
        report.receipts = report.entries


def _check_ranges(
    report: VerificationReport,
    checkpoints: dict[int, Checkpoint],
    sizes: list[int],
    start: int,
    size: int,
    claims: _Claims,
    helpers: _Workers | None,
    window_strings: Windows | None,
    progress: Callable[[int], None] | None,
) -> None:
    """Check [start, size) in the ranges this process and the workers take; results are taken in sequence
    order (the first failure by sequence number is reported, whichever process found it). Held back: only
    the results that arrive before an earlier range's, a few at most."""
    checker = _RangeChecker(connection, window_strings, keys.origin())
    done: dict[int, tuple[int, _RangeResult]] = {}  # by low: results not taken yet
    taken_to = start  # everything below is taken

    def take() -> bool:
        """Take the results that are next in sequence order; False once one has failed."""
        nonlocal taken_to
        while taken_to in done:
            high, result = done.pop(taken_to)
            report.entries += result.entries
            if progress is not None:
                progress(result.entries)
            if result.failure is not None:
                report.failure = result.failure
                return False
            for reached in _sizes_in(sizes, taken_to, high):
                if result.roots[reached] != bytes(checkpoints[reached].root_hash):
                    report.failure = Failure(
                        reached - 1, f"tree root differs from signed checkpoint {reached}"
                    )
                    return False
                report.checkpoints += 1
            if high == size:
                report.root = result.roots[high]
            taken_to = high
        return True

    ok = True
    while ok and (taken := claims.take()) is not None:
        low, high = taken
        result = checker.check(low, high, _sizes_in(sizes, low, high))
        if result.failure is not None:
            claims.stop()  # the ranges before it may still hold an earlier failure: they are checked
        done[low] = (high, result)
        if helpers is not None:
            done.update((low, (high, result)) for low, high, result in helpers.results(timeout=0))
        ok = take()
    while ok and taken_to < size and helpers is not None and helpers.running:
        done.update((low, (high, result)) for low, high, result in helpers.results(timeout=None))
        ok = take()
    if ok and taken_to < size:
        raise RuntimeError(f"verification stopped at {taken_to} of {size}: a worker sent no result")
    if ok and helpers is not None:
        helpers.finished = True
    if not ok:
        claims.stop()
