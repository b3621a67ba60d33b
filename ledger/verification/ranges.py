"""Checking one range of the log, [start, end) of sequence numbers: its entries' bytes, leaf hashes and
copied columns (and receipts in full mode), and the stored subtrees whose last leaf falls in it, rebuilt from
the entries' leaf hashes and the stored subtrees to their left; the tree's roots at the sizes asked for in it.

One `_RangeChecker` per process and database connection (this process's or a forked worker's own);
`_RangeChecker._check_entries` is the verifier's hot path.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from ledger import canonical, merkle, signing
from ledger.db import hot_rows


@dataclass
class Failure:
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "ledger"
        return f"{where}: {self.reason}"


@dataclass
class _RangeResult:
    """What checking the range [start, end) found: its first failure (None if none), the number of entries
    checked before it, and the tree's root at each requested size in (start, end]."""

    failure: Failure | None
    entries: int
    roots: dict[int, bytes]


# Times as canonical strings: they compare in time order.
Windows = dict[str, tuple[bytes, str, str | None]]


# One sequenced entry as stored: its bytes, leaf hash, receipt and the columns copied from its bytes.
SEQ, CANONICAL, LEAF_HASH, KEY_ID, ACCEPTED_AT, SIGNATURE = range(6)
COLUMNS = slice(6, 11)  # kind, actor member, subject type, subject id, member refs
EntryRow = tuple
_by_seq = itemgetter(SEQ)
_by_coordinates = itemgetter(0, 1)

_ENTRY_ROWS = (
    "SELECT l.seq, e.canonical, e.leaf_hash, e.key_id, e.accepted_at, e.receipt_signature, "
    "e.kind, e.actor_member_id, e.subject_type, e.subject_id, e.member_refs "
    "FROM ledger_ledgerleaf l JOIN ledger_ledgerentry e ON e.id = l.entry_id "
    "WHERE l.seq >= %s AND l.seq < %s"  # sorted here: PostgreSQL sorting the wide rows costs more
)
# On PostgreSQL: the range's leaves (sequence numbers and entry ids, in order) as two arrays, then the entries
# by id range, without the join's index lookup per row, where their ids are close together.
_LEAF_ENTRIES = (
    "SELECT array_agg(seq ORDER BY seq), array_agg(entry_id ORDER BY seq) FROM ledger_ledgerleaf "
    "WHERE seq >= %s AND seq < %s"
)
_ENTRIES_BY_ID = (
    "SELECT e.id, e.canonical, e.leaf_hash, e.key_id, e.accepted_at, e.receipt_signature, "
    "e.kind, e.actor_member_id, e.subject_type, e.subject_id, e.member_refs "
    "FROM ledger_ledgerentry e WHERE e.id >= %s AND e.id <= %s"
)


def _consecutive(seqs: list[int], start: int) -> int:
    """How many of the sorted, distinct `seqs` run start, start + 1, ... without a gap."""
    if not seqs or (seqs[0] == start and seqs[-1] == start + len(seqs) - 1):
        return len(seqs)
    return next(i for i, seq in enumerate(seqs) if seq != start + i)


def _node_ranges(start: int, end: int) -> list[tuple[int, int, int]]:
    """(level, low, high) for each level: the stored subtrees [low, high) that checking [start, end) reads.

    From `start >> level` on they are the subtrees whose last leaf is in [start, end) (the range rebuilds
    them); the one before, where `start >> level` is odd, is the left sibling the first of them needs (the
    subtrees of `perfect_subtrees(0, start)`, which the ranges before this one check).
    """
    return [(level, (start >> level) & ~1, end >> level) for level in range(end.bit_length())]


# How many of the stored subtrees [low, low + n) of each level equal the hashes given for them (n hashes of
# 32 bytes, concatenated): at most one row per (level, index), the primary key.
_MATCHING_NODES = (
    "SELECT COUNT(*) FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[]) AS w (level, low, hashes) "
    'JOIN ledger_ledgernode n ON n.level = w.level AND n."index" >= w.low '
    'AND n."index" < w.low + length(w.hashes) / 32 '
    'WHERE n.hash = substring(w.hashes FROM (n."index" - w.low)::integer * 32 + 1 FOR 32)'
)


def _roots(
    ranges: list[tuple[int, int, int]], built: list[list[bytes]], sizes: tuple[int, ...]
) -> dict[int, bytes]:
    """The tree's root at each size, from the subtrees a range rebuilt (with the stored left siblings)."""
    roots = {}
    for size in sizes:
        stack = [
            built[level][(size >> level) - 1 - ranges[level][1]]
            for level in reversed(range(size.bit_length()))
            if (size >> level) & 1
        ]
        roots[size] = merkle.combine_subtrees(stack)
    return roots


def _sqlite_row(row: tuple) -> EntryRow:
    """Bytes as bytes, times as aware UTC datetimes, like PostgreSQL returns them."""
    accepted_at = row[ACCEPTED_AT]
    if isinstance(accepted_at, str):
        accepted_at = datetime.fromisoformat(accepted_at)
    if accepted_at.tzinfo is None:  # stored in UTC without an offset
        accepted_at = accepted_at.replace(tzinfo=UTC)
    values = list(row)
    values[ACCEPTED_AT] = accepted_at
    for index in (CANONICAL, LEAF_HASH, SIGNATURE):
        if values[index] is not None:
            values[index] = bytes(values[index])
    return tuple(values)


def _document_problem(data: bytes, accepted_at: str, columns: tuple) -> str | None:
    """What is wrong with an entry's bytes against its copied columns and acceptance time, or None."""
    document = canonical.parse_canonical(data)  # parsed once: the canonical check and the columns
    if document is None and data != b"null":
        return "entry bytes are not canonical RFC 8785 JSON"
    if not isinstance(document, dict):
        document = {}
    members = document.get("members") or []
    actor = document.get("actor") or {}
    subject = document.get("subject") or {}
    member = actor.get("member") if isinstance(actor, dict) else None
    expected = (
        document.get("kind"),
        member if not isinstance(member, bool) else str(member),  # JSON true is not the number 1
        subject.get("type") if isinstance(subject, dict) else None,
        subject.get("id") if isinstance(subject, dict) else None,
        # "|3|17|", or "" for none (a members value that is not a list matches no column)
        ("|" + "|".join(map(str, members)) + "|" if members else "") if isinstance(members, list) else None,
    )
    if expected != columns:
        return "the entry's indexed columns (kind, actor, subject, members) differ from its canonical bytes"
    if document.get("time") != accepted_at:
        return "the entry's acceptance time differs from the time in its canonical bytes"
    return None


_sha256 = hashlib.sha256
_format_time = canonical.format_time
# A receipt key's validity window (times as canonical strings) and its verifier (None: an unknown key).
_ReceiptKey = tuple[str, str | None, Callable[[bytes, str, bytes], bool] | None]


def _rebuild(lefts: list[list[bytes]], leaves: list[bytes]) -> list[list[bytes]]:
    """A range's subtrees level by level from its leaves: at each level the stored left sibling the range
    needs there (`lefts`, empty where none), then the hashes of the pairs of the level below."""
    built = [lefts[0] + leaves]
    for left in lefts[1:]:
        below = built[-1]
        built.append(
            left + [_sha256(b"\x01" + a + b).digest() for a, b in zip(below[::2], below[1::2], strict=False)]
        )
    return built


def _first_difference(a: list[bytes], b: list[bytes]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class _RangeChecker:
    """Checks ranges of the log through one database connection (this process's, or a worker's own)."""

    def __init__(self, db: Any, windows: Windows | None, origin: str) -> None:
        self.db = db
        self.windows = windows  # None: fast mode, receipts are not checked
        self.origin = origin
        self.receipt_keys: dict[str, _ReceiptKey] = {}  # by key id, made on first use

    def check(self, start: int, end: int, sizes: list[int]) -> _RangeResult:
        """Check entries [start, end) and the subtrees they complete; roots at `sizes` and at `end`.

        The cyclic garbage collector pauses meanwhile: the range's objects (rows, parsed documents) hold no
        cycles and go when their last reference does, and collections triggered by so many new objects
        cost about a fifth of the range's time besides the receipts.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._check(start, end, sizes)
        finally:
            if collecting:
                gc.enable()

    def _entry_rows(self, start: int, end: int) -> list[EntryRow]:
        """The entries of seqs start, start + 1, ... up to `end` or the first one missing, in that order.
        The first column (the seq or the entry id) is not read again."""
        if self.db.vendor == "postgresql":
            seqs, ids = hot_rows(_LEAF_ENTRIES, [start, end], conn=self.db)[0]
            ids = ids[: _consecutive(seqs, start)] if seqs else []
            if not ids:
                return []
            low, high = min(ids), max(ids)
            if high - low < 2 * len(ids):
                by_id = {row[0]: row for row in hot_rows(_ENTRIES_BY_ID, [low, high], conn=self.db)}
                found = list(map(by_id.get, ids))
                return found[: found.index(None)] if None in found else found  # type: ignore[return-value]
        rows = hot_rows(_ENTRY_ROWS, [start, end], conn=self.db)
        if self.db.vendor != "postgresql":
            rows = [_sqlite_row(row) for row in rows]
        rows.sort(key=_by_seq)
        return rows[: _consecutive([row[SEQ] for row in rows], start)]

    def _check(self, start: int, end: int, sizes: list[int]) -> _RangeResult:
        rows = self._entry_rows(start, end)
        ranges = _node_ranges(start, end)
        if self.db.vendor == "postgresql":
            # The stored subtrees are compared in the database: only the left siblings the range needs are
            # read (a few), and one count says whether every stored subtree of the range equals the rebuilt
            # one. If not, or an entry is bad, the comparison below says which is first and why.
            siblings = self._stored_levels([(level, low, start >> level) for level, low, _high in ranges])
            failure, leaves = self._check_entries(rows, start, end, None)
            if failure is None:
                built = _rebuild(siblings, leaves)
                if self._stored_tree_matches(start, ranges, built):
                    return _RangeResult(None, len(leaves), _roots(ranges, built, (*sizes, end)))
        levels = self._stored_levels(ranges)
        # per level, 1 if the range needs a stored left sibling there, else 0
        skips = [(start >> level) - low for level, low, _high in ranges]
        failure, leaves = self._check_entries(rows, start, end, levels[0][skips[0] :])
        # Rebuilt from the entries checked, then compared level by level. A subtree counts as checked right
        # after its last leaf: a wrong one before the first bad entry is the first failure.
        built = _rebuild([stored[:skip] for stored, skip in zip(levels, skips, strict=True)], leaves)
        wrong: list[tuple[int, int, int]] = []  # (last leaf, level, index) of the first wrong one per level
        for level in range(1, len(ranges)):
            computed = built[level][skips[level] :]
            stored = levels[level][skips[level] : skips[level] + len(computed)]
            if stored != computed:
                index = (start >> level) + _first_difference(stored, computed)
                wrong.append((((index + 1) << level) - 1, level, index))
        if wrong:
            last_leaf, level, index = min(wrong)
            if failure is None or (failure.seq is not None and last_leaf < failure.seq):
                what = "missing" if not levels[level][index - ranges[level][1]] else "wrong"
                failure = Failure(index << level, f"stored subtree (level {level}, index {index}) is {what}")
        if failure is not None:
            return _RangeResult(failure, len(leaves), {})
        return _RangeResult(None, len(leaves), _roots(ranges, built, (*sizes, end)))

    def _stored_tree_matches(
        self, start: int, ranges: list[tuple[int, int, int]], built: list[list[bytes]]
    ) -> bool:
        """Whether every stored subtree whose last leaf is in the range equals the rebuilt one (one query)."""
        levels, lows, hashes = [], [], []
        for level, low, _high in ranges:
            computed = built[level][(start >> level) - low :]
            if computed:
                levels.append(level)
                lows.append(start >> level)
                hashes.append(b"".join(computed))
        (matching,) = hot_rows(_MATCHING_NODES, [levels, lows, hashes], conn=self.db)[0]
        return bool(matching == sum(map(len, hashes)) // 32)

    def _stored_levels(self, ranges: list[tuple[int, int, int]]) -> list[list[bytes]]:
        """The stored subtrees `ranges` names, per level, b"" for a missing one (one query, if any)."""
        wanted = [node_range for node_range in ranges if node_range[1] < node_range[2]]
        if not wanted:
            return [[] for _range in ranges]
        terms = " OR ".join(['(level = %s AND "index" >= %s AND "index" < %s)'] * len(wanted))
        rows = hot_rows(
            f'SELECT level, "index", hash FROM ledger_ledgernode WHERE {terms}',  # noqa: S608 - fixed text
            [bound for node_range in wanted for bound in node_range],
            conn=self.db,
        )
        rows.sort(key=_by_coordinates)
        columns = list(zip(*rows, strict=True)) or [(), (), ()]
        wanted_levels = tuple(chain.from_iterable(repeat(level, high - low) for level, low, high in ranges))
        wanted_indexes = tuple(chain.from_iterable(range(low, high) for _level, low, high in ranges))
        hashes = [bytes(digest) for digest in columns[2]] if self.db.vendor != "postgresql" else columns[2]
        if columns[0] == wanted_levels and columns[1] == wanted_indexes:  # all there
            levels, offset = [], 0
            for _level, low, high in ranges:
                levels.append(list(hashes[offset : offset + high - low]))
                offset += high - low
            return levels
        found = {(level, index): bytes(digest) for level, index, digest in rows}
        return [[found.get((level, index), b"") for index in range(low, high)] for level, low, high in ranges]

    def _check_entries(
        self, rows: list[EntryRow], start: int, end: int, stored_leaves: list[bytes] | None
    ) -> tuple[Failure | None, list[bytes]]:
        """The first entry of [start, end) whose bytes, hashes, columns or receipt is wrong; the leaf hashes
        of the entries before it.

        The loop is the verifier's hot path (about 10 us an entry besides the signature): names are bound
        locally, and the entry shape the services write is checked inline, anything else by
        `_document_problem`, which also says what is wrong.
        """
        leaves: list[bytes] = []
        keep = leaves.append
        sha256, parse, problem_in, format_time = (
            _sha256,
            canonical.parse_canonical,
            _document_problem,
            _format_time,
        )
        receipts = self.receipt_keys if self.windows is not None else None
        seq = start
        for row in rows:
            _first, data, leaf, key_id, moment, signature, kind, actor, subject_type, subject_id, refs = row
            if sha256(b"\x00" + data).digest() != leaf:
                return Failure(seq, "leaf hash does not match the entry's canonical bytes"), leaves
            if stored_leaves is not None and stored_leaves[seq - start] != leaf:
                return Failure(seq, "the stored tree's leaf differs from the entry's leaf hash"), leaves
            # canonical.format_time(moment); a UTC time (what PostgreSQL returns) with a nonzero fraction of a
            # second through isoformat (which leaves out a zero one)
            iso = moment.isoformat()
            accepted_at = iso[:26] + "Z" if iso[26:] == "+00:00" else format_time(moment)
            document = parse(data)
            try:  # what _document_problem checks, for documents of the shape the services write
                members, subject = document["members"], document["subject"]
                same = (
                    document["time"] == accepted_at
                    and document["kind"] == kind
                    and (member := document["actor"]["member"]) == actor
                    and type(member) is type(actor)  # JSON true is not the number 1
                    and subject["type"] == subject_type
                    and subject["id"] == subject_id
                    and type(members) is list
                    and ("|" + "|".join(map(str, members)) + "|" if members else "") == refs
                )
            except (KeyError, TypeError):
                same = False
            if not same:
                problem = problem_in(data, accepted_at, row[COLUMNS])
                if problem:
                    return Failure(seq, problem), leaves
            if receipts is not None:
                key = receipts.get(key_id)
                if key is None:
                    key = receipts[key_id] = self._receipt_key(key_id)
                valid_from, valid_until, verify = key
                if verify is None:
                    return Failure(seq, f"receipt names unknown key {key_id}"), leaves
                if accepted_at < valid_from or (valid_until is not None and accepted_at >= valid_until):
                    reason = f"receipt time {accepted_at} is outside key {key_id}'s validity window"
                    return Failure(seq, reason), leaves
                if not verify(leaf, accepted_at, signature):
                    return Failure(seq, "receipt signature does not verify"), leaves
            keep(leaf)
            seq += 1
        if seq < end:
            return Failure(seq, "sequence number missing"), leaves
        return None, leaves

    def _receipt_key(self, key_id: str) -> _ReceiptKey:
        """A key's validity window and its receipt verifier; no verifier for an unknown key."""
        assert self.windows is not None
        window = self.windows.get(key_id)
        if window is None:
            return "", None, None
        public, valid_from, valid_until = window
        return valid_from, valid_until, signing.ReceiptVerifier(public, self.origin, key_id).verify


def _sizes_in(sizes: list[int], low: int, high: int) -> list[int]:
    return [s for s in sizes if low < s <= high]
