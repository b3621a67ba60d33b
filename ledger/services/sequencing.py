"""The sequencer: one process at a time gives pending entries their leaves and grows the stored tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from ledger import merkle
from ledger.db import hot_rows
from ledger.models import LedgerEntry, LedgerLeaf, SequencerState
from ledger.tree import MissingNode, node_hashes, tree_size

SEQUENCER_LOCK_ID = 0x1ED6E5  # pg advisory lock key shared by every process that sequences or checkpoints


def _take_sequencer_lock() -> bool:
    """Inside a transaction: become the one sequencer, or return False if another process is it.

    The same statement turns JIT compilation off for the rest of the transaction. The scan's estimated
    cost rests on guesses (arrays it cannot see, a bookmark it does not know when planning the prepared
    statement) and grows with the table: past `jit_above_cost` PostgreSQL compiled it on every call, 0.4
    to 0.75 s for a scan that runs in milliseconds (10^6 entries)."""
    if connection.vendor != "postgresql":
        return True  # SQLite transactions are IMMEDIATE: the single writer lock already serialises us
    return bool(hot_rows(_TAKE_LOCK, [SEQUENCER_LOCK_ID])[0][0])


_TAKE_LOCK = "SELECT pg_try_advisory_xact_lock(%s), set_config('jit', 'off', true)"


def _wait_for_sequencer_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK_ID])


def ledger_sequence(*, max_batches: int | None = None) -> int:
    """Give pending entries the next sequence numbers and integrate them into the tree; return how many.

    Safe to call from any number of processes at once: only the lock holder works (the others return
    at once), in batches of LEDGER["SEQUENCER_BATCH_SIZE"], each batch in its own transaction, until a
    batch is not full. Then every entry committed before the lock holder's call is sequenced; one that
    commits during the call waits for the next call (another commit's request, or beat).
    """
    batch_size = settings.LEDGER["SEQUENCER_BATCH_SIZE"]
    sequenced = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            if not _take_sequencer_lock():
                return sequenced
            count, more = _sequence_batch(batch_size)
        sequenced += count
        batches += 1
        if not more:
            return sequenced
    return sequenced


def _sequence_batch(limit: int) -> tuple[int, bool]:
    """As the lock holder: give up to `limit` pending entries their leaves; return how many, and whether the
    scan stopped at `limit` (so more may be pending)."""
    if connection.vendor != "postgresql":
        pending, more = _pending_entries_sqlite(limit)
        if pending:
            old_size = tree_size()
            edge = merkle.perfect_subtrees(0, old_size)
            stored = node_hashes(edge)
            leaves, nodes = _grow(old_size, [stored[coordinate] for coordinate in edge], pending)
            _insert_rows("ledger_ledgerleaf", ("seq", "entry_id", "previous_seq"), leaves)
            _insert_rows("ledger_ledgernode", ("level", '"index"', "hash"), nodes)
        return len(pending), more
    scan = _pending_entries_postgresql(limit)
    moved = scan.moved
    if scan.pending:
        leaves, nodes = _grow(scan.tree_size, scan.edge, scan.pending)
        # One statement, whatever the batch size: leaves, nodes and the bookmark, the rows as arrays (psycopg
        # parses a long parameter list again for every distinct statement; this one is prepared once), sent
        # binary (%b): psycopg's text array dumper escapes every element, 2.4 ms per 1,000 nodes against 0.4.
        hot_rows(
            _WRITE_BATCH,
            [
                *(list(column) for column in zip(*leaves, strict=True)),
                *_bookmark_parameters(moved),
                *(list(column) for column in zip(*nodes, strict=True)),
            ],
        )
    elif moved != scan.bookmark:
        hot_rows(_MOVE_BOOKMARK, _bookmark_parameters(moved))
    return len(scan.pending), scan.more


def _bookmark_parameters(bookmark: _Bookmark) -> list[Any]:
    """`_MOVE_BOOKMARK`'s parameters."""
    return [bookmark.txid, bookmark.entry_id, list(bookmark.watch), bookmark.taken_txid, bookmark.taken_id]


def _grow(
    old_size: int, edge: list[bytes], pending: list[tuple[int, bytes]]
) -> tuple[list[tuple[int, int, int | None]], list[tuple[int, int, bytes]]]:
    """The leaves (seq, entry id, previous seq) and the complete subtrees (level, index, hash) that
    appending `pending` (entry id, leaf hash) to the tree of `old_size` leaves with this edge creates."""
    growing = merkle.CompactRange.from_subtrees(old_size, edge)
    leaves = [
        (seq, entry_id, seq - 1 if seq else None) for seq, (entry_id, _) in enumerate(pending, start=old_size)
    ]
    nodes = [node for _, leaf_hash in pending for node in growing.append(leaf_hash)]
    return leaves, nodes


def _pending_entries_sqlite(limit: int) -> tuple[list[tuple[int, bytes]], bool]:
    """SQLite has one writer at a time, so ids commit in order and the next entries follow the last leaf's:
    up to `limit` of them as (id, leaf hash), and whether there may be more."""
    last = LedgerLeaf.objects.aggregate(last=Max("entry_id"))["last"] or 0
    found = list(
        LedgerEntry.objects.filter(id__gt=last).order_by("id").values_list("id", "leaf_hash")[:limit]
    )
    return [(entry_id, bytes(leaf_hash)) for entry_id, leaf_hash in found], len(found) == limit


@dataclass(frozen=True)
class _Bookmark:
    """Where the last scan stopped: every committed entry at or below (txid, entry_id) is sequenced, except
    those of `watch`, transactions that were still open then (they may commit entries there later). Of the
    watched transaction `taken_txid`, the entries up to `taken_id` are sequenced too: one that committed
    more entries than a batch holds is taken batch after batch without reading its first ones again."""

    txid: int
    entry_id: int
    watch: tuple[int, ...]
    taken_txid: int = 0
    taken_id: int = 0


@dataclass(frozen=True)
class _Scan:
    pending: list[tuple[int, bytes]]  # (entry id, leaf hash): the watched transactions' first, then newer
    more: bool  # the scan stopped at its limit
    bookmark: _Bookmark  # as stored
    moved: _Bookmark  # where it moves with this batch
    tree_size: int
    edge: list[bytes]  # hashes of merkle.perfect_subtrees(0, tree_size), left to right


_MOVE_BOOKMARK = (
    "UPDATE ledger_sequencerstate SET scan_txid = %s, scan_id = %s, watch = %b::bigint[], "
    "watch_taken_txid = %s, watch_taken_id = %s WHERE id = 1"
)
_WRITE_BATCH = (
    "WITH leaves AS (INSERT INTO ledger_ledgerleaf (seq, entry_id, previous_seq) "  # noqa: S608
    "SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[])), "
    f"bookmark AS ({_MOVE_BOOKMARK}) "
    'INSERT INTO ledger_ledgernode (level, "index", hash) '
    "SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])"
)
# The transactions open in the statement's snapshot (pg_current_snapshot is the statement's own).
_OPEN = "array(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) x ORDER BY 1)"
# Up to a limit of entries in (txid, id) order, each with its leaf if it has one (LIMIT 1 keeps that a
# per-row index probe: an anti-join lets the planner hash every leaf when the table's statistics lag, tens
# of milliseconds per scan on 10^5 entries).
_ENTRIES = (
    "SELECT n.id, n.leaf_hash, n.txid, l.seq FROM ("
    "SELECT id, leaf_hash, txid FROM ledger_ledgerentry WHERE {where} ORDER BY txid, id LIMIT %s"
    ") n LEFT JOIN LATERAL (SELECT seq FROM ledger_ledgerleaf WHERE entry_id = n.id LIMIT 1) l ON true"
)
# The watched transactions' entries without a leaf, up to a limit, past what a previous batch took of the
# one it stopped in (leaves probed per entry, as above: the limit counts only what is left). One index
# range per watched transaction, whatever the statistics: as `txid = ANY(s.watch)` the planner guessed a
# third of the table for an array it cannot see and read all of it (0.7 s at 10^6 entries, plus as long
# again compiling it with JIT, on every call, with an empty watch too).
_WATCHED = (
    "SELECT n.id, n.leaf_hash, n.txid, NULL::bigint AS seq FROM unnest(s.watch) AS w(txid) "
    "CROSS JOIN LATERAL (SELECT e.id, e.leaf_hash, e.txid FROM ledger_ledgerentry e "
    "LEFT JOIN LATERAL (SELECT seq FROM ledger_ledgerleaf WHERE entry_id = e.id LIMIT 1) l ON true "
    "WHERE e.txid = w.txid AND e.id > CASE WHEN w.txid = s.watch_taken_txid THEN s.watch_taken_id ELSE 0 END "
    "AND l.seq IS NULL "
    "AND w.txid <> ALL(h.open) "  # still open: none of its entries can be seen yet, so none are read
    "ORDER BY e.txid, e.id LIMIT %s) n "
    "ORDER BY n.txid, n.id LIMIT %s"
)
# The first statement after the lock reads, in one snapshot: the transactions open, the bookmark, the tree
# size and its edge (the perfect subtrees of [0, size): for each bit b of the size, the node at level b and
# index (size >> (b + 1)) << 1), the watched transactions' entries and the first page past the bookmark.
# A batch costs the lock, this, one write and the commit.
_SCAN_FIRST = (
    "SELECT h.open, s.scan_txid, s.scan_id, s.watch, s.watch_taken_txid, s.watch_taken_id, "  # noqa: S608
    "z.size, g.hashes, "
    "e.watched, e.id, e.leaf_hash, e.txid, e.seq "
    f"FROM (SELECT {_OPEN} AS open) h "
    "CROSS JOIN (SELECT coalesce(max(seq) + 1, 0) AS size FROM ledger_ledgerleaf) z "
    "LEFT JOIN ledger_sequencerstate s ON s.id = 1 "
    "CROSS JOIN LATERAL (SELECT array_agg(n.hash ORDER BY n.level DESC) AS hashes "
    "FROM generate_series(0, 62) b "
    'JOIN ledger_ledgernode n ON n.level = b AND n."index" = (z.size >> (b + 1)) << 1 '
    "WHERE (z.size >> b) & 1 = 1) g "
    "LEFT JOIN LATERAL ("
    "SELECT true AS watched, w.* FROM (" + _WATCHED + ") w "
    "UNION ALL "
    "SELECT false, p.* FROM ("
    + _ENTRIES.format(where="(txid, id) > (coalesce(s.scan_txid, 0), coalesce(s.scan_id, 0))")
    + ") p"
    ") e ON true ORDER BY e.watched DESC, e.txid, e.id"
)


def _pending_entries_postgresql(limit: int) -> _Scan:
    """Up to `limit` committed entries without a sequence number (twice that when watched transactions
    committed some), oldest first.

    Every entry carries its transaction id, and transactions commit out of id order. The scan reads forward
    in (txid, id) order from the bookmark, and notes which transactions below the new position were still
    open in the snapshot it read in: only those can still commit entries there, so the next scan looks them
    up by id (an index probe each) instead of reading again everything since the oldest open transaction.
    A long transaction anywhere on the server then costs one probe per scan, not a rescan of every entry
    appended since it began.
    """
    result = hot_rows(_SCAN_FIRST, [limit, limit, limit])
    open_now, scan_txid, scan_id, watch, taken_txid, taken_id, size, edge = result[0][:8]
    if scan_txid is None:  # a new database: the bookmark's row is made once
        SequencerState.objects.get_or_create(pk=1)
        scan_txid, scan_id, watch, taken_txid, taken_id = 0, 0, [], 0, 0
    bookmark = _Bookmark(scan_txid, scan_id, tuple(watch), taken_txid, taken_id)
    edge = [bytes(digest) for digest in edge or ()]
    if len(edge) != size.bit_count():
        raise MissingNode(f"Stored tree of size {size} is missing subtrees of its edge")
    rows = [row[8:] for row in result if row[9] is not None]
    watched = [row[1:] for row in rows if row[0]]
    page = [row[1:] for row in rows if not row[0]]
    pending = [(entry_id, bytes(leaf_hash)) for entry_id, leaf_hash, _, _ in watched]
    taken, unfinished = (0, 0), set()
    if len(watched) == limit:
        # A large transaction's entries filled the watched part: the next scan resumes after its last one
        # taken. Watched transactions before it that the snapshot shows closed gave all their entries now
        # and are watched no more (kept, each would be walked again on every later batch).
        last_id, _, last_txid, _ = watched[-1]
        taken = (last_txid, last_id)
        unfinished = {txid for txid in watch if txid >= last_txid}
    # Entries sequenced already (past a bookmark kept by an older version) still move the position: a full
    # page of them is a batch with nothing to do, and the next batch reads on.
    pending.extend((entry_id, bytes(leaf_hash)) for entry_id, leaf_hash, _, seq in page if seq is None)
    position = (page[-1][2], page[-1][0]) if page else (scan_txid, scan_id)
    # A transaction not open in the snapshot had either committed (its entries below the position were
    # read) or begun after it (its id is above the position).
    watch_now = unfinished | {txid for txid in open_now if txid < position[0]}
    moved = _Bookmark(*position, tuple(sorted(watch_now)), *taken)
    return _Scan(pending, bool(unfinished) or len(page) == limit, bookmark, moved, size, edge)


def _insert_rows(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs (SQLite): the sequencer writes thousands of small rows, and the ORM's per-object
    machinery would cost more than the database does."""
    per_statement = 900 // len(columns)  # below SQLite's bound-parameter limit
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(  # table and columns are our constants; values are bound parameters
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"VALUES {', '.join([placeholders] * len(chunk))}",
                [value for row in chunk for value in row],
            )
