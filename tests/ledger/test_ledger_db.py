"""The ledger in the database: append, sequence, tree, checkpoints, proofs, tamper refusal and detection."""

from __future__ import annotations

import datetime
import json
import time

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError

from consortium.errors import ValidationFailed
from ledger import canonical, keys, merkle, signing, tree, verification
from ledger.credit.models import APPEND_ONLY_TABLES as CREDIT_TABLES
from ledger.models import APPEND_ONLY_TABLES as LEDGER_TABLES
from ledger.models import Checkpoint, LedgerEntry, LedgerLeaf, LedgerNode
from ledger.services import (
    ForkDetected,
    after_commit,
    appending,
    checkpoint_issue,
    ledger_append,
    ledger_sequence,
    receipt_of,
    sequencing,
    signing_key_rotate,
)
from ledger.verification import Failure, ranges, verify_database
from tests.ledger_support import ledger_triggers_dropped

pytestmark = pytest.mark.django_db


def append(n: int, kind: str = "test.fact") -> list[LedgerEntry]:
    """n entries, then what each commit would trigger in production: the sequencer."""
    entries = [
        ledger_append(
            kind=kind, actor=None, subject_type="thing", subject_id=i, members=[1, 2], payload={"n": i}
        )
        for i in range(n)
    ]
    ledger_sequence()
    return entries


def test_append_writes_canonical_entry_with_verifiable_receipt() -> None:
    entry = ledger_append(
        kind="member.admitted", actor=None, subject_type="member", subject_id=7, members=[7], payload={"x": 1}
    )
    assert canonical.canonical_bytes(json.loads(bytes(entry.canonical))) == bytes(entry.canonical)
    assert bytes(entry.leaf_hash) == merkle.hash_leaf(bytes(entry.canonical))
    receipt = receipt_of(entry)
    signer = keys.active_signer()
    assert signing.verify_receipt(
        signer.public_key,
        receipt.origin,
        receipt.leaf_hash,
        receipt.accepted_at,
        receipt.key_id,
        receipt.signature,
    )
    assert entry.member_refs == "|7|"


def test_commit_triggers_the_sequencer(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    assert LedgerEntry.objects.filter(leaf__isnull=True).count() == 0 and tree.tree_size() == 1


def test_entries_are_sequenced_gap_free_and_the_tree_matches_the_reference() -> None:
    entries = append(37)
    assert LedgerEntry.objects.filter(leaf__isnull=True).count() == 0
    leaves = list(LedgerLeaf.objects.order_by("seq").values_list("seq", "entry_id"))
    assert [seq for seq, _ in leaves] == list(range(37))
    assert [entry_id for _, entry_id in leaves] == [entry.id for entry in entries]
    hashes = [bytes(entry.leaf_hash) for entry in entries]
    for size in (1, 2, 3, 8, 13, 36, 37):
        assert tree.root_hash(size) == merkle.mth(hashes[:size])
    assert LedgerNode.objects.count() == sum(37 >> level for level in range(0, 7))


def test_proofs_from_stored_subtrees_verify_and_use_one_query(django_assert_num_queries) -> None:
    entries = append(21)
    root = tree.root_hash(21)
    with django_assert_num_queries(1):
        proof = tree.inclusion_proof(5, 21)
    assert merkle.verify_inclusion(bytes(entries[5].leaf_hash), 5, 21, proof, root)
    with django_assert_num_queries(1):
        consistency = tree.consistency_proof(6, 21)
    assert merkle.verify_consistency(6, 21, tree.root_hash(6), root, consistency)


def test_a_payload_with_a_float_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValidationFailed, match=r"payload\.ratio"):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={"ratio": 0.5})
    with pytest.raises(ValidationFailed):
        ledger_append(kind="Not A Kind", actor=None, subject_type="x", subject_id=1, payload={})
    assert LedgerEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"kind": "test.fact\n"}, "kind"),  # `$` matched before a final newline
        ({"kind": "test." + "x" * 60}, "kind"),  # wider than the column: PostgreSQL refused it as a 500
        ({"subject_type": "x" * 41}, "subject type"),
        ({"subject_id": "9" * 65}, "subject id"),
        ({"subject_id": 1.5}, "subject id"),  # was recorded as the string "1.5"
        ({"members": [1.5]}, r"members\[0\]"),  # was recorded as member 1
        ({"members": [2, True]}, r"members\[1\]"),  # was recorded as member 1
        ({"members": ["3"]}, r"members\[0\]"),
        # 100 ids of 4 digits are 501 characters as |id|...|: PostgreSQL refused them as a 500
        ({"members": list(range(1000, 1100))}, "member index"),
    ],
)
def test_an_entry_whose_fields_are_not_what_the_format_says_is_refused_before_anything_is_written(
    change: dict, named: str
) -> None:
    fields = {"kind": "test.fact", "subject_type": "x", "subject_id": 1, "members": [2], "payload": {}}
    with pytest.raises(ValidationFailed, match=named) as refused:
        ledger_append(actor=None, **{**fields, **change})
    assert refused.value.code == "bad_entry"
    assert LedgerEntry.objects.count() == 0


def test_entry_rolls_back_with_the_callers_transaction() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        append(1)
        raise RuntimeError("the state change failed")
    assert LedgerEntry.objects.count() == 0 and LedgerLeaf.objects.count() == 0


def test_checkpoint_is_a_signed_note_over_the_current_root() -> None:
    append(5)
    checkpoint = checkpoint_issue()
    assert checkpoint.tree_size == 5
    signer = keys.active_signer()
    parsed = signing.verify_checkpoint(checkpoint.note, keys.origin(), signer.public_key)
    assert (parsed.size, parsed.root) == (5, tree.root_hash(5))
    assert checkpoint_issue().tree_size == 5  # unchanged tree: same checkpoint, no new signature
    assert Checkpoint.objects.count() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_ledgerentry SET kind = 'forged.kind'",
        "DELETE FROM ledger_ledgerentry",
        "UPDATE ledger_ledgernode SET hash = hash",
        "DELETE FROM ledger_ledgerleaf",
        "UPDATE ledger_checkpoint SET tree_size = 1",
        "DELETE FROM ledger_signingkey",
    ],
)
def test_raw_sql_tampering_is_refused_by_the_database(statement: str) -> None:
    append(3)
    checkpoint_issue()
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert LedgerEntry.objects.filter(kind="test.fact").count() == 3


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql() -> None:
    append(2)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_ledgerentry CASCADE")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("seq", "entry", "previous"),
    [
        (3, "missing", 2),  # an entry that does not exist
        (4, "new", 3),  # a gap: leaf 3 does not exist
    ],
)
def test_a_leaf_must_name_an_existing_entry_and_follow_an_existing_leaf(
    seq: int, entry: str, previous: int
) -> None:
    # PostgreSQL checks the leaf's references per INSERT statement (migration 0005), not by foreign keys
    append(3)
    fresh = ledger_append(kind="test.fact", actor=None, subject_type="thing", subject_id=9, payload={})
    entry_id = fresh.id + 1000 if entry == "missing" else fresh.id
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_ledgerleaf (seq, entry_id, previous_seq) VALUES (%s, %s, %s)",
            [seq, entry_id, previous],
        )
    assert LedgerLeaf.objects.count() == 3


def test_one_index_serves_every_kind_filter() -> None:
    """`kind =`, `kind IN` and `kind LIKE 'prefix%'` (migration 0004: one pattern-ops index on PostgreSQL)."""
    append(2)
    append(1, kind="other.fact")
    assert LedgerEntry.objects.filter(kind="other.fact").count() == 1
    assert LedgerEntry.objects.filter(kind__in=["test.fact", "no.such"]).count() == 2
    assert LedgerEntry.objects.filter(kind__startswith="other.").count() == 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN SELECT id FROM ledger_ledgerentry WHERE kind = 'other.fact'")
            plan = " ".join(row[0] for row in cursor.fetchall())
        assert "ledger_entry_kind" in plan


def test_verification_names_the_entry_changed_behind_the_triggers() -> None:
    append(12)
    checkpoint_issue()
    assert verify_database().ok
    with ledger_triggers_dropped():
        victim = LedgerLeaf.objects.get(seq=7).entry
        data = bytearray(bytes(victim.canonical))
        data[data.index(b'"n":7') + 4] = ord("8")  # one byte: the payload now says n = 8
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_ledgerentry SET canonical = %s WHERE id = %s", [bytes(data), victim.id]
            )
    report = verify_database()
    assert not report.ok
    assert report.failure.seq == 7
    assert "leaf hash" in report.failure.reason


def test_full_verification_checks_receipts_across_a_key_rotation() -> None:
    append(4)
    checkpoint_issue()
    old_key = keys.active_signer().key_id
    signing_key_rotate()
    append(3)
    checkpoint_issue()
    assert keys.active_signer().key_id != old_key
    assert LedgerEntry.objects.filter(kind="key.rotated").count() == 1
    report = verify_database(full=True, workers=2)
    assert report.ok, report.failure
    assert report.receipts == 8 and report.checkpoints == 2
    resumed = verify_database(from_checkpoint=4)
    assert resumed.ok and resumed.entries == 4


def test_full_verification_catches_a_forged_receipt() -> None:
    append(5)
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        victim = LedgerLeaf.objects.get(seq=3).entry_id
        cursor.execute(
            "UPDATE ledger_ledgerentry SET receipt_signature = %s WHERE id = %s", [bytes(64), victim]
        )
    assert verify_database().ok  # fast mode does not read signatures
    report = verify_database(full=True, workers=1)
    assert report.failure.seq == 3 and "receipt" in report.failure.reason


def test_sequencer_resumes_after_pending_entries_accumulate(settings) -> None:
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_BATCH_SIZE": 4}
    for i in range(10):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={})
    assert LedgerEntry.objects.filter(leaf__isnull=True).count() == 10 and tree.tree_size() == 0
    assert ledger_sequence(max_batches=1) == 4
    assert ledger_sequence() == 6
    assert tree.tree_size() == 10
    assert verify_database().ok


def test_the_exchange_never_signs_a_fork() -> None:
    """If the stored tree stops extending the last signed checkpoint, no further checkpoint is signed."""
    append(6)
    checkpoint_issue()
    with ledger_triggers_dropped(), connection.cursor() as cursor:  # rewrite history below the signed size
        cursor.execute('UPDATE ledger_ledgernode SET hash = %s WHERE level = 2 AND "index" = 0', [bytes(32)])
    append(2)
    with pytest.raises(ForkDetected):
        checkpoint_issue()
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [6]


def test_a_rolled_back_first_append_never_leaves_an_unpublished_signing_key() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=0, payload={})
        raise RuntimeError("the caller's change failed, taking the key's registration with it")
    append(2)
    checkpoint_issue()
    assert verify_database(full=True, workers=1).ok


def test_a_failing_sequencer_after_commit_does_not_fail_the_committed_change(
    monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = []

    def broken() -> int:
        calls.append("sequence")
        raise ConnectionError("sequencer unavailable")

    monkeypatch.setattr(after_commit, "_sequencing_clock", [0.0, 0.0])  # due, whatever ran before
    monkeypatch.setattr(after_commit, "ledger_sequence", broken)
    with django_capture_on_commit_callbacks(execute=True):
        entry = ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    assert calls == ["sequence"]  # the hook ran the (broken) sequencer
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("member_refs", "|999|", "indexed columns"),
        ("kind", "forged.kind", "indexed columns"),
        ("accepted_at", "2001-01-01 00:00:00", "acceptance time"),
    ],
)
def test_verification_catches_copied_columns_that_disagree_with_the_bytes(column, value, reason) -> None:
    append(5)
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        victim = LedgerLeaf.objects.get(seq=3).entry_id
        cursor.execute(f"UPDATE ledger_ledgerentry SET {column} = %s WHERE id = %s", [value, victim])  # noqa: S608
    report = verify_database()
    assert report.failure.seq == 3 and reason in report.failure.reason


def test_verification_catches_a_rewritten_stored_leaf_with_its_ancestors() -> None:
    """Proofs are served from stored subtrees: rewriting them consistently must still be caught."""
    entries = append(4)
    forged = [bytes(entry.leaf_hash) for entry in entries]
    forged[1] = merkle.hash_leaf(b"forged")
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        for level, index, digest in [
            (0, 1, forged[1]),
            (1, 0, merkle.hash_children(forged[0], forged[1])),
            (2, 0, merkle.mth(forged)),
        ]:
            cursor.execute(
                'UPDATE ledger_ledgernode SET hash = %s WHERE level = %s AND "index" = %s',
                [digest, level, index],
            )
    report = verify_database()
    assert report.failure.seq == 1 and "stored tree" in report.failure.reason


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of 4 entries (2 at the end of a parallel run), so a few entries cross many range boundaries."""
    monkeypatch.setattr("ledger.verification.RANGE", 4)
    monkeypatch.setattr("ledger.verification.MIN_RANGE", 2)


def _rewrite_node(level: int, index: int, digest: bytes | None) -> None:
    """Behind the triggers: set a stored subtree's hash, or delete it (None)."""
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        if digest is None:
            cursor.execute('DELETE FROM ledger_ledgernode WHERE level = %s AND "index" = %s', [level, index])
        else:
            cursor.execute(
                'UPDATE ledger_ledgernode SET hash = %s WHERE level = %s AND "index" = %s',
                [digest, level, index],
            )


def test_verification_in_ranges_rebuilds_the_tree_and_checkpoints_across_their_boundaries(
    small_ranges,
) -> None:
    append(13)
    checkpoint_issue()
    append(6)
    checkpoint_issue()
    report = verify_database(full=True, workers=1)
    assert report.ok, report.failure
    assert (report.entries, report.checkpoints, report.receipts) == (19, 2, 19)
    assert report.root == tree.root_hash(19)
    resumed = verify_database(from_checkpoint=13)  # not a range boundary: the stored subtrees on its left
    assert resumed.ok, resumed.failure
    assert (resumed.entries, resumed.checkpoints, resumed.root) == (6, 1, report.root)
    assert verify_database(from_checkpoint=19).root == report.root  # nothing left to read


@pytest.mark.parametrize(("level", "index"), [(1, 1), (1, 6), (2, 1), (2, 3), (3, 0), (4, 0)])
def test_verification_names_a_rewritten_stored_subtree_by_its_first_leaf(small_ranges, level, index) -> None:
    """Only the interior node changes (its leaves, children and every checkpoint stay right): comparing the
    stored tree with the rebuilt one still finds it, whether a range rebuilds it whole or from a stored left
    sibling."""
    append(19)
    checkpoint_issue()
    _rewrite_node(level, index, bytes(32))
    report = verify_database()
    assert report.failure == Failure(
        index << level, f"stored subtree (level {level}, index {index}) is wrong"
    )
    if index << level >= 13:  # also when resuming below it
        resumed = verify_database(from_checkpoint=13)
        assert resumed.failure == report.failure


def test_verification_names_a_missing_stored_subtree(small_ranges) -> None:
    append(9)
    checkpoint_issue()
    _rewrite_node(1, 2, None)
    report = verify_database()
    assert report.failure == Failure(4, "stored subtree (level 1, index 2) is missing")
    _rewrite_node(0, 6, None)
    report = verify_database()
    assert report.failure == Failure(4, "stored subtree (level 1, index 2) is missing")  # still the first
    assert verify_database(from_checkpoint=9).ok  # nothing after the trusted size is read


def test_verification_names_a_missing_stored_leaf_as_the_entry_s(small_ranges) -> None:
    append(9)
    _rewrite_node(0, 6, None)
    report = verify_database()
    assert report.failure == Failure(6, "the stored tree's leaf differs from the entry's leaf hash")


def test_verification_names_an_extra_stored_subtree() -> None:
    append(5)
    with ledger_triggers_dropped():
        LedgerNode.objects.create(level=1, index=2, hash=bytes(32))  # leaves 4 and 5: 5 is not there
    report = verify_database()
    assert report.failure == Failure(None, "the stored tree has 4 interior nodes where 3 are due")


def test_entries_sequenced_while_verification_runs_raise_no_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node count reads the tree's size in the same snapshot: entries the sequencer integrates
    meanwhile add nodes on both sides (they were counted as extra nodes against the old size)."""
    append(5)
    check = ranges._RangeChecker.check

    def check_then_more_entries(self, start: int, end: int, sizes: list[int]) -> ranges._RangeResult:
        result = check(self, start, end, sizes)
        append(3)  # appended and sequenced while the ledger is being verified
        return result

    monkeypatch.setattr(ranges._RangeChecker, "check", check_then_more_entries)
    report = verify_database()
    assert report.ok, report.failure
    assert report.entries == 5 and tree.tree_size() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_full_verification_with_worker_processes_names_the_first_bad_entry(small_ranges) -> None:
    """Workers read their own ranges (committed rows): the first failure by sequence number wins, whichever
    process found it."""
    append(30)
    checkpoint_issue()
    report = verify_database(full=True, workers=3)
    assert report.ok, report.failure
    assert (report.entries, report.receipts, report.checkpoints) == (30, 30, 1)
    assert report.root == tree.root_hash(30)
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        for seq in (27, 21):
            cursor.execute(
                "UPDATE ledger_ledgerentry SET receipt_signature = %s WHERE id = %s",
                [bytes(64), LedgerLeaf.objects.get(seq=seq).entry_id],
            )
    for workers in (2, 3):
        report = verify_database(full=True, workers=workers)
        assert report.failure == Failure(21, "receipt signature does not verify")
    _rewrite_node(2, 3, bytes(32))
    report = verify_database(full=True, workers=2)
    assert report.failure == Failure(12, "stored subtree (level 2, index 3) is wrong")


def test_the_sequencer_carries_on_from_the_stored_edge_at_every_size() -> None:
    """Each batch resumes the tree from the stored subtrees of its edge (read with the scan)."""
    entries = []
    for batch in (1, 1, 2, 3, 1, 5, 8, 1, 13, 2):
        entries += append(batch)
        hashes = [bytes(entry.leaf_hash) for entry in entries]
        assert tree.root_hash(len(hashes)) == merkle.mth(hashes)
    assert list(LedgerLeaf.objects.order_by("seq").values_list("entry_id", flat=True)) == [
        entry.id for entry in entries
    ]
    assert verify_database().ok


def test_the_sequencer_refuses_to_extend_a_tree_missing_an_edge_subtree() -> None:
    append(6)  # edge of 6 leaves: (2, 0) and (1, 2)
    with ledger_triggers_dropped():
        LedgerNode.objects.filter(level=1, index=2).delete()
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=6, payload={})
    with pytest.raises(tree.MissingNode):
        ledger_sequence()
    assert tree.tree_size() == 6


def test_a_call_ends_with_its_first_batch_that_is_not_full(settings, monkeypatch) -> None:
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_BATCH_SIZE": 4}
    for i in range(6):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={})
    batches = []

    def counted(limit: int) -> tuple[int, bool]:
        batches.append(sequence_batch(limit))
        return batches[-1]

    sequence_batch = sequencing._sequence_batch
    monkeypatch.setattr(sequencing, "_sequence_batch", counted)
    assert ledger_sequence() == 6
    assert batches == [(4, True), (2, False)]  # no third, empty batch
    assert tree.tree_size() == 6 and verify_database().ok


def test_one_sequencing_hook_per_transaction_and_savepoint_rollbacks_keep_it(
    django_capture_on_commit_callbacks,
) -> None:
    def fact(i: int) -> None:
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={})

    with django_capture_on_commit_callbacks() as hooks, transaction.atomic():
        fact(0)
        fact(1)
    assert hooks == [after_commit.request_sequencing]
    # The hook registered inside a savepoint that rolls back goes with it: the next append registers its own.
    with django_capture_on_commit_callbacks() as hooks, transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            fact(2)
            raise RuntimeError("rolled back to the savepoint")
        fact(3)
    assert hooks == [after_commit.request_sequencing]
    # A hook registered before the savepoint covers the appends inside it.
    with django_capture_on_commit_callbacks() as hooks, transaction.atomic():
        fact(4)
        with transaction.atomic():
            fact(5)
    assert hooks == [after_commit.request_sequencing]


def test_no_sequencing_hook_while_requests_are_off_or_not_due(
    settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setattr(after_commit, "_sequencing_clock", [time.monotonic() + 60, 0.0])
    with django_capture_on_commit_callbacks() as hooks:
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=0, payload={})
    assert hooks == []
    monkeypatch.setattr(after_commit, "_sequencing_clock", [0.0, 0.0])
    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT": "off"}
    with django_capture_on_commit_callbacks() as hooks:
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    assert hooks == []


def test_a_process_whose_calls_find_small_batches_backs_off(settings, monkeypatch) -> None:
    settings.LEDGER = {
        **settings.LEDGER,
        "SEQUENCE_AFTER_COMMIT": "inline",
        "SEQUENCE_AFTER_COMMIT_EVERY_MS": 100,
    }
    found = iter([3, 0, 5, 2, 1, 4, after_commit.WORTHWHILE_BATCH, 7])
    monkeypatch.setattr(after_commit, "ledger_sequence", lambda: next(found))
    monkeypatch.setattr(after_commit, "_sequencing_clock", [0.0, 0.0])
    now = [1000.0]
    monkeypatch.setattr(after_commit.time, "monotonic", lambda: now[0])
    waits = []
    for _ in range(8):
        after_commit.request_sequencing()
        waits.append(round(after_commit._sequencing_clock[0] - now[0], 3))
        after_commit.request_sequencing()  # not due: no call (the iterator would run out)
        now[0] = after_commit._sequencing_clock[0]
    assert waits == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 0.1, 0.2]


def test_a_failed_insert_marks_the_callers_block_for_rollback(monkeypatch) -> None:
    def failing(conn: object, params: object) -> int:
        raise DatabaseError("the insert failed")

    monkeypatch.setattr(appending, "_insert_entry", failing)
    with transaction.atomic():
        with pytest.raises(DatabaseError):
            ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=0, payload={})
        assert connection.needs_rollback
        with pytest.raises(TransactionManagementError):
            LedgerEntry.objects.count()


def test_append_and_sequencing_through_django_s_cursor_while_queries_are_logged() -> None:
    """While queries are logged (DEBUG, query capture) the ledger's statements go through Django's cursor,
    which logs their SQL text; on PostgreSQL that cursor binds on the client, arrays included."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as logged:
        entries = append(7)
    assert sum("INSERT INTO ledger_ledgerentry" in query["sql"] for query in logged.captured_queries) == 7
    assert any("INSERT INTO ledger_ledgernode" in query["sql"] for query in logged.captured_queries)
    assert tree.root_hash(7) == merkle.mth([bytes(entry.leaf_hash) for entry in entries])
    assert verify_database().ok


@pytest.fixture
def clocks(settings, monkeypatch):
    """The embedded default's after-commit settings, with the wall clock and this process's monotonic
    clock under the test's control: `clocks.advance(seconds)` moves both."""
    settings.LEDGER = {
        **settings.LEDGER,
        "CHECKPOINT_AFTER_COMMIT": True,
        "CHECKPOINT_INTERVAL_SECONDS": 60,
        "SEQUENCE_AFTER_COMMIT": "inline",
        "SEQUENCE_AFTER_COMMIT_EVERY_MS": 0,
    }
    monkeypatch.setattr(after_commit, "_sequencing_clock", [0.0, 0.0])
    monkeypatch.setattr(after_commit, "_checkpoint_clock", [0.0])
    from django.utils import timezone as dj_timezone

    real_now, real_monotonic = dj_timezone.now(), time.monotonic()
    offset = [0.0]
    monkeypatch.setattr(dj_timezone, "now", lambda: real_now + datetime.timedelta(seconds=offset[0]))
    monkeypatch.setattr(after_commit.time, "monotonic", lambda: real_monotonic + offset[0])

    class Clocks:
        @staticmethod
        def advance(seconds: float) -> None:
            offset[0] += seconds

    return Clocks


def _commit_an_entry(subject_id: int) -> None:
    """Append, then run what the commit's on-commit hook runs (the test's own transaction never commits,
    and a captured hook stays registered for the appends after it)."""
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=subject_id, payload={})
    after_commit.request_sequencing()


def test_the_embedded_default_signs_a_checkpoint_after_a_commit_once_the_interval_has_passed(
    clocks, django_assert_max_num_queries
) -> None:
    """No beat runs in the embedded default: entries appended after the interval get a newer checkpoint
    without any command, and between checkpoints a commit costs no checkpoint query."""
    _commit_an_entry(0)
    first = Checkpoint.objects.get()  # no checkpoint yet: the first commit signs one
    assert first.tree_size == 1
    clocks.advance(30)
    _commit_an_entry(1)
    assert Checkpoint.objects.count() == 1 and tree.tree_size() == 2  # sequenced, not yet due
    clocks.advance(1)
    with django_assert_max_num_queries(9) as queries:  # the append and the sequencer only
        _commit_an_entry(2)
    assert not any("ledger_checkpoint" in query["sql"] for query in queries.captured_queries)
    clocks.advance(30)  # 61 s after the first checkpoint
    _commit_an_entry(3)
    latest = Checkpoint.objects.order_by("-tree_size").first()
    assert latest.tree_size == 4 == tree.tree_size()
    assert verification.verify_database().ok
    _commit_an_entry(4)
    assert Checkpoint.objects.count() == 2  # the next one is due 60 s after this one


def test_two_processes_that_find_a_checkpoint_due_together_sign_one(clocks) -> None:
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=0, payload={})
    checkpoint_issue()
    clocks.advance(61)
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=1, payload={})
    cutoff = after_commit.timezone.now() - datetime.timedelta(seconds=60)
    assert checkpoint_issue(unless_issued_after=cutoff).tree_size == 2  # the first process signs
    ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=2, payload={})
    assert checkpoint_issue(unless_issued_after=cutoff).tree_size == 2  # the second finds it signed
    assert Checkpoint.objects.count() == 2


def test_a_failing_checkpoint_after_commit_is_logged_not_raised(
    clocks, monkeypatch, django_capture_on_commit_callbacks, caplog
) -> None:
    def fork(**kwargs: object) -> None:
        raise ForkDetected("the stored tree differs")

    monkeypatch.setattr(after_commit, "checkpoint_issue", fork)
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=0, payload={})
    assert hooks == [after_commit.request_sequencing]
    assert tree.tree_size() == 1 and "the stored tree differs" in caplog.text


def test_with_beat_no_commit_signs_a_checkpoint(settings, clocks) -> None:
    """Production (a broker, so beat): checkpoints only on beat's schedule, whatever the clock says."""
    settings.LEDGER = {**settings.LEDGER, "CHECKPOINT_AFTER_COMMIT": False}
    _commit_an_entry(0)
    checkpoint_issue()
    clocks.advance(600)
    _commit_an_entry(1)
    assert Checkpoint.objects.count() == 1 and tree.tree_size() == 2


@pytest.mark.parametrize(("broker", "expected"), [("", "True"), ("redis://127.0.0.1:6379/0", "False")])
def test_checkpoints_after_commit_are_on_exactly_where_there_is_no_broker(
    tmp_path, monkeypatch, broker, expected
) -> None:
    from tests.fresh_process import run_manage

    # The default is what is tested: an exported LEDGER_CHECKPOINT_AFTER_COMMIT (README documents it) wins.
    monkeypatch.delenv("LEDGER_CHECKPOINT_AFTER_COMMIT", raising=False)

    script = "from django.conf import settings; print(settings.LEDGER['CHECKPOINT_AFTER_COMMIT'])"
    result = run_manage("shell", "-c", script, CELERY_BROKER_URL=broker, VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_every_table_listed_as_append_only_has_its_triggers() -> None:
    """The models' APPEND_ONLY_TABLES name what the trigger migrations guard: a table added to one and not
    the other fails here, on either database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE '%%append_only' OR t.tgname LIKE '%%no_truncate'"
            )
            expected = {"append_only", "no_truncate"}
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            expected = {"no_update", "no_delete"}
        guarded: dict[str, set[str]] = {}
        for table, trigger in cursor.fetchall():
            guarded.setdefault(table, set()).add(trigger.removeprefix(f"{table}_"))
    listed = set(LEDGER_TABLES) | set(CREDIT_TABLES)
    assert {table for table, kinds in guarded.items() if kinds >= expected} == listed
