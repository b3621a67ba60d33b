"""Writes to the ledger: append an entry (in the caller's transaction), sequence, checkpoint, rotate the key.

Appending never waits for a global lock: entries are inserted and receipted concurrently in their callers'
transactions, then one sequencer at a time (elected by a PostgreSQL advisory lock; on SQLite the single
writer) gives them gap-free sequence numbers and integrates them into the stored Merkle tree in batches.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import Max
from django.utils import timezone

from consortium.errors import Conflict, ValidationFailed
from consortium.transactions import CommitWatch
from ledger import canonical, keys, merkle, receipts, signing
from ledger.credit import engine as credit_engine
from ledger.credit import store as credit_store
from ledger.db import hot_rows
from ledger.models import Checkpoint, LedgerEntry, LedgerLeaf, SequencerState, SigningKey
from ledger.tree import MissingNode, consistency_proof, node_hashes, root_hash, tree_size

if TYPE_CHECKING:
    from consortium.models import MemberAPIKey, User

logger = logging.getLogger(__name__)

# Matched whole (fullmatch): `$` would also take a kind ending in a newline.
KIND_PATTERN = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
# The entry table's column widths (LedgerEntry): PostgreSQL refuses longer text, SQLite would keep it.
_MAX_KIND, _MAX_SUBJECT_TYPE, _MAX_SUBJECT_ID, _MAX_MEMBER_REFS = 64, 40, 64, 500
SEQUENCER_LOCK_ID = 0x1ED6E5  # pg advisory lock key shared by every process that sequences or checkpoints


class ForkDetected(RuntimeError):
    """The stored tree no longer extends the last signed checkpoint: refuse to sign anything."""


@dataclass(frozen=True)
class Receipt:
    """What the exchange gives the actor: proof it accepted the entry with this leaf hash at this time."""

    origin: str
    leaf_hash: bytes
    accepted_at: str
    key_id: str
    signature: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            "origin": self.origin,
            "leaf_hash": self.leaf_hash.hex(),
            "accepted_at": self.accepted_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }


def receipt_of(entry: LedgerEntry) -> Receipt:
    """The receipt signed when `entry` was accepted."""
    return Receipt(
        origin=keys.origin(),
        leaf_hash=bytes(entry.leaf_hash),
        accepted_at=canonical.format_time(entry.accepted_at),
        key_id=entry.key_id,
        signature=bytes(entry.receipt_signature),
    )


def ledger_append(
    *,
    kind: str,
    actor: User | None,
    subject_type: str,
    subject_id: str | int,
    members: Iterable[int] = (),
    payload: dict[str, Any],
    api_key: MemberAPIKey | None = None,
) -> LedgerEntry:
    """Record one fact inside the caller's transaction and return the entry (its receipt: `receipt_of`).

    The entry commits or rolls back with the caller's state change. It gets its sequence number shortly
    after commit. Raises ValidationFailed(bad_entry) (nothing written) for a bad kind, a subject wider
    than its column, a member id that is not an integer, or a payload that is not integer-only JSON with
    string keys. A credit-relevant kind (ledger.credit.engine.CREDIT_KINDS) also
    gets `payload["credit"]["order"]` and posts its transfers; Conflict(insufficient_credit, with
    `shortfall_mcr`) or Conflict(credit_refused) when the credit rules refuse it.
    """
    if not (isinstance(kind, str) and len(kind) <= _MAX_KIND and KIND_PATTERN.fullmatch(kind)):
        raise ValidationFailed(
            f"Ledger entry kind {kind!r} is not a dotted lower-case name of at most {_MAX_KIND} characters.",
            code="bad_entry",
        )
    member_ids = _checked_members(subject_type, subject_id, members)
    if not isinstance(payload, dict):
        raise ValidationFailed("A ledger entry payload must be a JSON object.", code="bad_entry")
    if kind in credit_engine.CREDIT_KINDS:
        # Credit entries take their order (and the credit lock) first, and post their transfers with the
        # entry: one atomic block, so a refusal by the rules leaves neither behind.
        with transaction.atomic(savepoint=False):
            payload = {**payload, "credit": {"order": credit_store.begin_credit_entry(kind, payload)}}
            entry, document = _append(kind, actor, subject_type, subject_id, member_ids, payload, api_key)
            try:
                credit_store.post_entry(
                    entry_id=entry.id, leaf_hash=bytes(entry.leaf_hash), document=document
                )
            except credit_engine.InsufficientCredit as exc:
                raise Conflict(
                    f"Not enough credit: {exc.shortfall} mCR short.",
                    code="insufficient_credit",
                    shortfall_mcr=exc.shortfall,
                    account=exc.account,
                ) from exc
            except credit_engine.CreditError as exc:
                raise Conflict(str(exc), code=exc.code) from exc
        return entry
    return _append(kind, actor, subject_type, subject_id, member_ids, payload, api_key)[0]


def _checked_members(subject_type: Any, subject_id: Any, members: Iterable[Any]) -> list[int]:
    """The member ids, ascending and unique; ValidationFailed(bad_entry) unless the subject fits its columns
    and every member id is an integer (not a float, boolean or digit string, which int() would silently
    turn into another id)."""
    if not (isinstance(subject_type, str) and 0 < len(subject_type) <= _MAX_SUBJECT_TYPE):
        raise ValidationFailed(
            f"Ledger entry subject type {subject_type!r} is not a string of 1 to {_MAX_SUBJECT_TYPE} "
            "characters.",
            code="bad_entry",
        )
    subject_text = str(subject_id) if type(subject_id) is int else subject_id
    if not (isinstance(subject_text, str) and 0 < len(subject_text) <= _MAX_SUBJECT_ID):
        raise ValidationFailed(
            f"Ledger entry subject id {subject_id!r} is not an integer or a string of 1 to {_MAX_SUBJECT_ID} "
            "characters.",
            code="bad_entry",
        )
    member_ids = list(members)
    for index, member_id in enumerate(member_ids):
        if type(member_id) is not int:
            raise ValidationFailed(
                f"The ledger entry cannot be recorded: members[{index}]: {member_id!r} is not a member id "
                "(an integer).",
                code="bad_entry",
            )
    unique = sorted(set(member_ids))
    # member_refs, "|3|17|": one bar before each id and one after the last.
    if len(unique) + sum(len(str(member_id)) for member_id in unique) + 1 > _MAX_MEMBER_REFS:
        raise ValidationFailed(
            f"The ledger entry cannot be recorded: its {len(unique)} member ids do not fit the entry's "
            f"member index ({_MAX_MEMBER_REFS} characters as |id|id|).",
            code="bad_entry",
        )
    return unique


def _append(
    kind: str,
    actor: User | None,
    subject_type: str,
    subject_id: str | int,
    member_ids: list[int],
    payload: dict[str, Any],
    api_key: MemberAPIKey | None,
) -> tuple[LedgerEntry, dict[str, Any]]:
    signer = keys.active_signer()  # before the time: a newly registered key's window starts before it
    accepted_at = timezone.now()
    actor_member_id = getattr(actor, "member_id", None) if actor is not None else None
    uid = uuid.uuid4()
    time_text = canonical.format_time(accepted_at)
    actor_user_id = actor.pk if actor is not None else None
    document: dict[str, Any] = {
        "v": 1,
        "id": str(uid),
        "kind": kind,
        "time": time_text,
        "actor": {
            "user": actor_user_id,
            "member": actor_member_id,
            "api_key": api_key.prefix if api_key is not None else None,
        },
        "subject": {"type": subject_type, "id": str(subject_id)},
        "members": member_ids,
        "payload": payload,
    }
    try:
        data = canonical.canonical_bytes(document)
    except canonical.CanonicalError as exc:
        raise ValidationFailed(f"The ledger entry cannot be recorded: {exc}", code="bad_entry") from exc
    leaf_hash = canonical.leaf_hash(data)
    signature = signer.sign(signing.receipt_message(keys.origin(), leaf_hash, time_text, signer.key_id))
    member_refs = "".join(f"|{member_id}" for member_id in member_ids) + ("|" if member_ids else "")
    values: list[Any] = [
        uid,
        kind,
        accepted_at,
        actor_user_id,
        actor_member_id,
        subject_type,
        str(subject_id),
        member_refs,
        data,
        leaf_hash,
        signer.key_id,
        signature,
    ]
    # Positional, in _ENTRY_COLUMNS order (checked at import): half the time of keyword arguments.
    entry = LedgerEntry(None, *values)  # type: ignore[misc]  # the stubs plugin reads *values as one field
    # The hot path of every service: one plain INSERT (the ORM's save machinery costs as much as the
    # row itself) that commits with the caller's transaction. Parameters as the fields would prepare them
    # (on PostgreSQL the values themselves; elsewhere UUID as hex and the backend's datetime), without the
    # per-field calls; bytes bind as bytea/BLOB.
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        values[0] = uid if conn.features.has_native_uuid_field else uid.hex
        values[2] = conn.ops.adapt_datetimefield_value(accepted_at)
    if conn.in_atomic_block:
        # Inside the caller's block no block of our own is needed: one statement is atomic. A failure marks
        # the caller's block for rollback, as Django's nested atomic(savepoint=False) would (a test pins it).
        try:
            entry.id = _insert_entry(conn, values)
        except BaseException:
            conn.needs_rollback = True
            raise
        _sequence_after_commit(conn)
    else:
        with transaction.atomic(savepoint=False):
            entry.id = _insert_entry(conn, values)
            _sequence_after_commit(conn)
    receipts.note_appended(entry)
    return entry, document


_ENTRY_COLUMNS = (
    "uid",
    "kind",
    "accepted_at",
    "actor_user_id",
    "actor_member_id",
    "subject_type",
    "subject_id",
    "member_refs",
    "canonical",
    "leaf_hash",
    "key_id",
    "receipt_signature",
)
if tuple(field.attname for field in LedgerEntry._meta.concrete_fields) != ("id", *_ENTRY_COLUMNS):
    raise ImproperlyConfigured("ledger.services._ENTRY_COLUMNS must list LedgerEntry's fields in order")
_INSERT_ENTRY = (
    f"INSERT INTO ledger_ledgerentry ({', '.join(_ENTRY_COLUMNS)}) "  # noqa: S608 - constant names only
    f"VALUES ({', '.join(['%s'] * len(_ENTRY_COLUMNS))}) RETURNING id"
)


def _insert_entry(conn: Any, params: list[Any]) -> int:
    """INSERT one entry row; return its id."""
    return int(hot_rows(_INSERT_ENTRY, params, conn=conn)[0][0])


def _sequence_after_commit(conn: Any) -> None:
    """Have the sequencer run after this transaction commits: one hook per transaction, not per append,
    and none while this process's requests are off or not due (`request_sequencing` would return at once;
    beat integrates the entry, or the next due commit's request does).

    A hook already registered counts only if it was registered outside every savepoint we are in now or in
    one of them (then a rollback that drops it drops this entry too). robust: the change is committed; a
    failing sequencer must not turn its response into an error (beat integrates the entry later).
    """
    if not _sequencing_due(time.monotonic()):
        return
    # Django 5's on-commit queue: (savepoint ids, callable, robust) per hook (tests pin it).
    for savepoints, hook, _ in conn.run_on_commit:
        if hook is request_sequencing and savepoints.issubset(conn.savepoint_ids):
            return
    conn.on_commit(request_sequencing, robust=True)


def _sequencing_due(now: float) -> bool:
    """Whether this process may ask for sequencing now (requests on, and its wait is over)."""
    return settings.LEDGER["SEQUENCE_AFTER_COMMIT"] != "off" and now >= _sequencing_clock[0]


def request_sequencing() -> None:
    """After a commit: have the pending entries integrated soon, and a checkpoint signed when one is due.

    At most once per LEDGER["SEQUENCE_AFTER_COMMIT_EVERY_MS"] per process, so a busy process hands the
    sequencer batches instead of single entries. Inline, a process whose last call integrated fewer than
    WORTHWHILE_BATCH entries (or found another process sequencing) waits twice as long before its next
    call, up to SEQUENCE_BACKOFF times the interval; a full enough batch brings it back to the interval.
    With many busy processes each call then integrates a batch, instead of each process paying a call's
    fixed cost for a few entries every interval. Beat's periodic run (LEDGER["SEQUENCER_INTERVAL_SECONDS"],
    the bound the API reports) integrates whatever is left. Then `_checkpoint_if_due`.
    """
    now = time.monotonic()
    if not _sequencing_due(now):
        return
    mode = settings.LEDGER["SEQUENCE_AFTER_COMMIT"]
    every = settings.LEDGER["SEQUENCE_AFTER_COMMIT_EVERY_MS"] / 1000
    if mode != "inline":
        _sequencing_clock[0] = now + every
        from ledger.tasks import sequence_ledger_task

        sequence_ledger_task.delay()
    else:
        wait = _sequencing_clock[1]
        _sequencing_clock[0] = now + wait  # a failing call waits too
        if ledger_sequence() >= WORTHWHILE_BATCH:
            _sequencing_clock[1] = every
        else:
            _sequencing_clock[1] = min(max(wait, every) * 2, every * SEQUENCE_BACKOFF)
        _sequencing_clock[0] = now + _sequencing_clock[1]
    _checkpoint_if_due(now)


def checkpoints_signed_after_commit() -> bool:
    """Whether commits sign a checkpoint once one is due (`_checkpoint_if_due`): asked for by
    LEDGER["CHECKPOINT_AFTER_COMMIT"], done by the after-commit request, which LEDGER["SEQUENCE_AFTER_COMMIT"]
    = "off" turns off too (then only beat signs them)."""
    return (
        bool(settings.LEDGER["CHECKPOINT_AFTER_COMMIT"]) and settings.LEDGER["SEQUENCE_AFTER_COMMIT"] != "off"
    )


def _checkpoint_if_due(now: float) -> None:
    """Where nothing runs beat (LEDGER["CHECKPOINT_AFTER_COMMIT"], on by default without a broker: the
    embedded default), sign a checkpoint after a commit once the latest one is
    LEDGER["CHECKPOINT_INTERVAL_SECONDS"] old, so new entries become provable without any command.

    Runs after the commit (an on-commit hook, robust: a failure is logged, never the response's), at most
    one database read per interval per process (`_checkpoint_clock`); `checkpoint_issue` checks the age
    again under the sequencer lock, so processes that find it due together sign once.
    """
    if not checkpoints_signed_after_commit() or now < _checkpoint_clock[0]:
        return
    interval = settings.LEDGER["CHECKPOINT_INTERVAL_SECONDS"]
    _checkpoint_clock[0] = now + interval  # a failing call waits too
    cutoff = timezone.now() - timedelta(seconds=interval)
    latest = Checkpoint.objects.order_by("-tree_size").values_list("issued_at", flat=True).first()
    if latest is None or latest <= cutoff:
        latest = checkpoint_issue(unless_issued_after=cutoff).issued_at
    _checkpoint_clock[0] = now + max((latest - cutoff).total_seconds(), 0.0)


# A sequencer call costs about 1.4 ms of CPU (client and PostgreSQL) plus about 30 us per entry: at 100
# entries the fixed part is a third of the total, at 10 it is 80%.
WORTHWHILE_BATCH = 100
SEQUENCE_BACKOFF = 10
_sequencing_clock = [0.0, 0.0]  # this process: no request before [0]; the current wait [1]
_checkpoint_clock = [0.0]  # this process: no checkpoint check before [0]


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


def checkpoint_issue(*, unless_issued_after: datetime | None = None) -> Checkpoint:
    """Sequence what is pending, then sign a checkpoint of the whole tree (or return the current one).

    With `unless_issued_after`, a latest checkpoint issued after that time is returned instead (checked
    under the lock: callers that find a checkpoint due at the same moment sign one between them).
    Before signing it proves the tree consistent with the last checkpoint it signed, so it never signs a
    fork. Raises ForkDetected (and signs nothing) if the stored tree does not extend that checkpoint.
    """
    ledger_sequence()
    with transaction.atomic():
        _wait_for_sequencer_lock()
        size = tree_size()
        last = Checkpoint.objects.order_by("-tree_size").first()
        if last is not None and last.tree_size == size:
            return last
        if last is not None and unless_issued_after is not None and last.issued_at > unless_issued_after:
            return last
        root = root_hash(size)
        if last is not None:
            _prove_extends(last, size, root)
        signer = keys.active_signer()
        note = signing.sign_checkpoint(signer.private_key, keys.origin(), size, root)
        return Checkpoint.objects.create(
            tree_size=size,
            root_hash=root,
            issued_at=timezone.now(),
            key=SigningKey.objects.get(key_id=signer.key_id),
            note=note,
        )


def _prove_extends(last: Checkpoint, size: int, root: bytes) -> None:
    old_root = bytes(last.root_hash)
    if root_hash(last.tree_size) != old_root:
        raise ForkDetected(
            f"The stored tree's root at size {last.tree_size} differs from the signed checkpoint."
        )
    proof = consistency_proof(last.tree_size, size)
    if not merkle.verify_consistency(last.tree_size, size, old_root, root, proof):
        raise ForkDetected(f"Size {size} is not consistent with the checkpoint of size {last.tree_size}.")


def signing_key_rotate(*, actor: User | None = None) -> SigningKey:
    """Replace the signing key file with a new key, publish it and record `key.rotated`.

    Older receipts and checkpoints stay verifiable: their keys stay published with their validity windows.
    The new key is in the file before the entry is appended (the entry's own receipt is signed by it), so a
    rotation that does not commit puts the previous key back and removes the retired copy it made: no key
    changes without its entry. Called inside a caller's transaction, only the caller's commit publishes the
    new key; a rollback of the caller's after this returned leaves the file rotated.
    Raises Conflict when the key comes from the environment (rotate it there, then restart).
    """
    if settings.LEDGER["SIGNING_KEY_PEM"]:
        raise Conflict(
            "The signing key comes from LEDGER_SIGNING_KEY; put the new key there and restart instead.",
            code="key_from_environment",
        )
    path = keys._key_path()
    commit = CommitWatch()
    undo: _KeyUndo | None = None
    try:
        with transaction.atomic():
            # First of the block's after-commit hooks, which run inside its exit: whatever a later one
            # raises, the rotation committed and stays.
            commit.start()
            _wait_for_sequencer_lock()  # one rotation at a time, and never while a checkpoint is being signed
            previous = keys.active_signer()
            retired = path.with_name(f"{path.name}.retired-{previous.key_id}")
            new_pem = signing.generate_private_key_pem()
            undo = _KeyUndo(path.read_bytes(), retired, not retired.exists(), _key_id_of(new_pem))
            keys.write_private_key(retired, undo.previous_pem)
            keys.write_private_key(path, new_pem)
            keys.forget_cached_signer()
            current = keys.active_signer()
            ledger_append(
                kind="key.rotated",
                actor=actor,
                subject_type="signing_key",
                subject_id=current.key_id,
                payload={
                    "key_id": current.key_id,
                    "public_key": base64.b64encode(current.public_key).decode(),
                    "previous_key_id": previous.key_id,
                },
            )
    except BaseException:
        if undo is not None and not commit.happened:
            _undo_key_rotation(path, undo)
        raise
    return SigningKey.objects.get(key_id=current.key_id)


@dataclass(frozen=True)
class _KeyUndo:
    """What a rotation that does not commit puts back: the previous key's PEM, and the retired copy to
    remove if the rotation made it."""

    previous_pem: bytes
    retired: Path
    retired_is_new: bool
    new_key_id: str


def _key_id_of(pem: bytes) -> str:
    return signing.key_id(keys.origin(), signing.public_key_bytes(signing.load_private_key_pem(pem)))


def _undo_key_rotation(path: Path, undo: _KeyUndo) -> None:
    """Put the previous key back in `path` after a rotation rolled back, unless another process had
    published the new key meanwhile (it read the file and signed with it): then the new key stays, since
    the previous one's receipts would fall outside its validity window."""
    try:
        adopted = SigningKey.objects.filter(key_id=undo.new_key_id).exists()
    except DatabaseError:  # the caller's transaction is broken, or the database gone: nobody published it
        adopted = False
    if adopted:
        logger.warning("Key rotation rolled back, but key %s is already in use: it stays.", undo.new_key_id)
        return
    keys.write_private_key(path, undo.previous_pem)
    if undo.retired_is_new:
        undo.retired.unlink(missing_ok=True)
    keys.forget_cached_signer()
    logger.warning("Key rotation rolled back: the previous signing key is back in %s.", path)
