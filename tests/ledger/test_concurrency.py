"""Many processes appending at once on PostgreSQL: no gap, no duplicate, no fork, consistent checkpoints."""

from __future__ import annotations

import itertools
import json
import multiprocessing

import pytest
from django.db import connection, connections, transaction

from ledger import keys, merkle, tree
from ledger.models import Checkpoint, LedgerEntry, LedgerLeaf
from ledger.services import checkpoint_issue, ledger_append, ledger_sequence
from ledger.verification import verify_database

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 8
ENTRIES_PER_PROCESS = 80


def _appender(worker: int, results: multiprocessing.Queue) -> None:
    connections.close_all()  # never share the parent's socket
    try:
        for i in range(ENTRIES_PER_PROCESS):
            with transaction.atomic():
                ledger_append(
                    kind="test.concurrent",
                    actor=None,
                    subject_type="worker",
                    subject_id=worker,
                    members=[worker],
                    payload={"worker": worker, "i": i},
                )
            if i % 10 == 9:
                checkpoint_issue()
        results.put((worker, "ok"))
    except Exception as exc:  # report to the parent instead of dying silently
        results.put((worker, repr(exc)))
    finally:
        connections.close_all()


@pytest.mark.parametrize("every_ms", [0, 100])
def test_eight_processes_append_without_gap_duplicate_or_fork(settings, every_ms: int) -> None:
    """every_ms 100: production's throttled after-commit sequencing, with its back-off."""
    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT_EVERY_MS": every_ms}
    keys.active_signer()  # register the key once, before the children start
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_appender, args=(n, results)) for n in range(PROCESSES)]
    for process in workers:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(timeout=30)
    assert outcomes == {n: "ok" for n in range(PROCESSES)}

    ledger_sequence()  # whatever a lost lock race left pending (beat's job in production)
    total = PROCESSES * ENTRIES_PER_PROCESS
    assert LedgerEntry.objects.count() == total
    assert LedgerEntry.objects.filter(leaf__isnull=True).count() == 0
    seqs = list(LedgerLeaf.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(total))  # gap-free from 0, no duplicates
    assert LedgerLeaf.objects.values("entry_id").distinct().count() == total

    final = checkpoint_issue()
    checkpoints = list(Checkpoint.objects.order_by("tree_size"))
    assert len(checkpoints) >= 2 and final.tree_size == total
    for older, newer in itertools.pairwise(checkpoints):
        proof = tree.consistency_proof(older.tree_size, newer.tree_size)
        assert merkle.verify_consistency(
            older.tree_size, newer.tree_size, bytes(older.root_hash), bytes(newer.root_hash), proof
        )
    assert verify_database(full=True, workers=2).ok


def test_a_long_transaction_neither_blocks_later_entries_nor_loses_its_own() -> None:
    """An entry whose transaction stays open while later ones commit is sequenced once, after it commits."""
    import threading

    keys.active_signer()
    holding, release = threading.Event(), threading.Event()

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                ledger_append(kind="test.slow", actor=None, subject_type="x", subject_id=0, payload={})
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    slow = threading.Thread(target=long_transaction)
    slow.start()
    assert holding.wait(timeout=30)
    for i in range(3):
        with transaction.atomic():
            ledger_append(kind="test.fast", actor=None, subject_type="x", subject_id=i, payload={})
    ledger_sequence()
    assert sorted(LedgerLeaf.objects.values_list("entry__kind", flat=True)) == ["test.fast"] * 3
    release.set()
    slow.join(timeout=30)
    ledger_sequence()
    kinds = list(LedgerLeaf.objects.order_by("seq").values_list("entry__kind", flat=True))
    assert kinds == ["test.fast"] * 3 + ["test.slow"]
    assert verify_database().ok


class _HeldTransaction:
    """A transaction on its own connection (a thread) that appends `entries` entries and stays open."""

    def __init__(self, entries: int = 1) -> None:
        import threading

        self.holding, self.release = threading.Event(), threading.Event()
        self.txid: int | None = None
        self.thread = threading.Thread(target=self._run, args=(entries,))

    def _run(self, entries: int) -> None:
        try:
            with transaction.atomic():
                for i in range(entries):
                    ledger_append(kind="test.slow", actor=None, subject_type="x", subject_id=i, payload={})
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_current_xact_id()::text::bigint")
                    self.txid = cursor.fetchone()[0]
                self.holding.set()
                self.release.wait(timeout=30)
        finally:
            connections.close_all()

    def __enter__(self) -> _HeldTransaction:
        self.thread.start()
        assert self.holding.wait(timeout=30)
        return self

    def commit(self) -> None:
        self.release.set()
        self.thread.join(timeout=30)

    def __exit__(self, *exc: object) -> None:
        self.commit()


def _bookmark() -> tuple[int, int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT scan_txid, scan_id, watch FROM ledger_sequencerstate WHERE id = 1")
        return cursor.fetchone()


def _taken() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT watch_taken_txid, watch_taken_id FROM ledger_sequencerstate WHERE id = 1")
        return cursor.fetchone()


def _fast(count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        with transaction.atomic():
            ledger_append(kind="test.fast", actor=None, subject_type="x", subject_id=i, payload={})


def test_a_long_transaction_is_watched_instead_of_every_later_entry_read_again(settings, monkeypatch) -> None:
    """The bookmark moves past an open transaction and watches it: later scans read only what is new."""
    from ledger.services import sequencing

    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT": "off"}
    keys.active_signer()
    read: list[int] = []
    scan = sequencing.hot_rows

    def counting(sql, params, **kwargs):
        rows = scan(sql, params, **kwargs)
        if sql == sequencing._SCAN_FIRST:
            read.append(sum(1 for row in rows if row[-4] is not None))  # entries, not the header alone
        return rows

    monkeypatch.setattr(sequencing, "hot_rows", counting)
    with _HeldTransaction() as held:
        _fast(5)
        assert ledger_sequence() == 5
        txid, _, watch = _bookmark()
        assert txid > held.txid and held.txid in watch
        for round_ in range(3):
            _fast(2, start=10 + 2 * round_)
            read.clear()
            assert ledger_sequence() == 2
            assert read == [2]  # the two new entries; none of the ones sequenced before
        held.commit()
        assert ledger_sequence() == 1  # found through the watch
        assert held.txid not in _bookmark()[2]
    kinds = list(LedgerLeaf.objects.order_by("seq").values_list("entry__kind", flat=True))
    assert kinds == ["test.fast"] * 11 + ["test.slow"]
    assert verify_database().ok


def test_a_large_transaction_committed_behind_the_bookmark_is_sequenced_in_batches(settings) -> None:
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_BATCH_SIZE": 3, "SEQUENCE_AFTER_COMMIT": "off"}
    keys.active_signer()
    with _HeldTransaction(entries=7) as held:
        _fast(4)
        assert ledger_sequence() == 4
        held.commit()
        _fast(2, start=4)
        # a batch of the watched transaction's first three, and the page past the bookmark read with them
        assert ledger_sequence(max_batches=1) == 3 + 2
        slow = list(LedgerEntry.objects.filter(kind="test.slow").order_by("id").values_list("id", flat=True))
        # the next batch reads on after the third instead of probing the first three again
        assert _taken() == (held.txid, slow[2])
        assert ledger_sequence(max_batches=1) == 3
        assert _taken() == (held.txid, slow[5])
        assert ledger_sequence() == 1  # the last one
        assert _taken() == (0, 0) and held.txid not in _bookmark()[2]
    seqs = list(LedgerLeaf.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(13))
    assert LedgerEntry.objects.filter(leaf__isnull=True).count() == 0
    assert verify_database().ok


def test_a_watched_transaction_whose_entries_are_all_taken_is_watched_no_more(settings) -> None:
    """Two large transactions committed behind the bookmark: once the second fills a batch, the first
    (all of its entries taken) leaves the watch instead of being walked again on every later batch."""
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_BATCH_SIZE": 3, "SEQUENCE_AFTER_COMMIT": "off"}
    keys.active_signer()
    with _HeldTransaction(entries=4) as first, _HeldTransaction(entries=5) as second:
        _fast(1)
        assert ledger_sequence() == 1
        assert {first.txid, second.txid} <= set(_bookmark()[2])
        first.commit()
        second.commit()
        assert ledger_sequence(max_batches=1) == 3  # the first transaction's first three
        assert first.txid in _bookmark()[2]
        assert ledger_sequence(max_batches=1) == 3  # its last one and two of the second's
        assert first.txid not in _bookmark()[2] and _taken()[0] == second.txid
        assert ledger_sequence() == 3
        assert second.txid not in _bookmark()[2] and _taken() == (0, 0)
    assert list(LedgerLeaf.objects.order_by("seq").values_list("seq", flat=True)) == list(range(10))
    assert verify_database().ok


def test_a_bookmark_behind_sequenced_entries_moves_on_without_sequencing_them_again(settings) -> None:
    """As migration 0006 leaves an older bookmark: the entries past it are sequenced already."""
    settings.LEDGER = {**settings.LEDGER, "SEQUENCER_BATCH_SIZE": 2, "SEQUENCE_AFTER_COMMIT": "off"}
    keys.active_signer()
    _fast(5)
    assert ledger_sequence() == 5
    position = _bookmark()[:2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_sequencerstate SET scan_txid = 0, scan_id = 0 WHERE id = 1")
    assert ledger_sequence() == 0  # three batches with nothing to do, each moving the bookmark on
    assert _bookmark()[:2] == position
    _fast(1, start=5)
    assert ledger_sequence() == 1
    assert list(LedgerLeaf.objects.order_by("seq").values_list("seq", flat=True)) == list(range(6))


def _entry_table_reads(watch: list[int]) -> int:
    """As the sequencer, with `watch` as the bookmark's watch: how many scans of the entry table the scan
    statement executes (EXPLAIN ANALYZE), after checking that the lock statement turned JIT off."""
    from ledger.services import sequencing

    with transaction.atomic(), connection.cursor() as cursor:
        assert sequencing._take_sequencer_lock()
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("UPDATE ledger_sequencerstate SET watch = %s WHERE id = 1", [watch])
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + sequencing._SCAN_FIRST.replace("%b", "%s"), [100, 100, 100]
        )
        plan = cursor.fetchone()[0]
        plan = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
        transaction.set_rollback(True)
    return sum(node["Actual Loops"] for node in _plan_nodes(plan, "ledger_ledgerentry"))


def test_the_scan_reads_no_watched_transaction_it_sees_still_open(settings) -> None:
    """With nothing watched, or only transactions still open (their entries cannot be seen yet), the scan
    reads the entry table once: its page past the bookmark. As `txid = ANY(watch)` it read the table a
    second time, and after a bulk import (statistics that see one txid) that was a sequential scan of all
    of it on every call (0.7 s at 10^6 entries); an open transaction's range was walked on every call
    (35 ms for 300,000 uncommitted entries). The scan also runs without JIT compilation (0.4 to 0.75 s per
    call at that size). Watches are set here: other test runs' open transactions would be watched too."""
    settings.LEDGER = {**settings.LEDGER, "SEQUENCE_AFTER_COMMIT": "off"}
    keys.active_signer()
    _fast(3)
    assert ledger_sequence() == 3
    assert _entry_table_reads([]) == 1
    with _HeldTransaction(entries=3) as held:
        _fast(1, start=3)  # a later commit: the snapshot now lists the held transaction as open (as the
        # scan that first watched it saw it)
        assert _entry_table_reads([held.txid]) == 1
        held.commit()
    assert _entry_table_reads([held.txid]) == 2  # committed: now its range is read


def _plan_nodes(node: dict, relation: str) -> list[dict]:
    """The nodes of an EXPLAIN (FORMAT JSON) plan that read `relation`."""
    found = [node] if node.get("Relation Name") == relation else []
    for child in node.get("Plans", []):
        found += _plan_nodes(child, relation)
    return found
