"""ledger_verify: how the entries of a range are read, and its worker processes."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.db import connection, transaction

from ledger import canonical, services, tree, verification
from ledger.models import LedgerLeaf
from ledger.services import ledger_append
from ledger.verification import Failure, ranges, verify_database
from tests.ledger.test_ledger_db import append
from tests.ledger_support import ledger_triggers_dropped

pytestmark = pytest.mark.django_db


def _delete(sql: str, seq: int) -> None:
    """Behind the triggers: delete a leaf, or the entry a leaf names (foreign keys are checked at commit,
    which the test's transaction never reaches)."""
    entry_id = LedgerLeaf.objects.get(seq=seq).entry_id
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        cursor.execute(sql, [seq if "ledgerleaf" in sql else entry_id])


@pytest.mark.postgres  # SQLite checks foreign keys when the test ends
@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM ledger_ledgerleaf WHERE seq = %s", "DELETE FROM ledger_ledgerentry WHERE id = %s"],
)
def test_a_missing_leaf_or_entry_is_a_missing_sequence_number(sql: str) -> None:
    append(12)
    _delete(sql, 7)
    assert verify_database().failure == Failure(7, "sequence number missing")


def test_entries_whose_ids_are_far_apart_are_read_through_the_leaves(
    monkeypatch: pytest.MonkeyPatch, on_postgres: bool
) -> None:
    """Ids given out by transactions that rolled back leave gaps: a range's entries are then read by joining
    its leaves (not by id range); the result is the same."""
    fetched: list[str] = []
    fetch = ranges.hot_rows

    def recording(sql: str, params: list, **kwargs) -> list:
        fetched.append(sql)
        return fetch(sql, params, **kwargs)

    monkeypatch.setattr(ranges, "hot_rows", recording)
    append(3)
    for _ in range(3):
        with pytest.raises(RuntimeError), transaction.atomic():
            for i in range(10):
                ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={})
            raise RuntimeError("rolled back: the ids stay used")
    append(3)
    report = verify_database(full=True, workers=1)
    assert report.ok, report.failure
    assert (report.entries, report.root) == (6, tree.root_hash(6))
    assert ranges._ENTRY_ROWS in fetched
    if on_postgres:  # only PostgreSQL reads by id range at all: there, these far-apart ids must not be
        assert ranges._ENTRIES_BY_ID not in fetched


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_verification_worker_raises_instead_of_passing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that cannot check its ranges makes verification fail loudly, not hang or pass."""
    monkeypatch.setattr(verification, "RANGE", 4)
    monkeypatch.setattr(verification, "MIN_RANGE", 2)
    append(30)
    parent = os.getpid()
    check = ranges._RangeChecker.check

    def check_or_fail(self, start: int, end: int, sizes: list[int]) -> ranges._RangeResult:
        if os.getpid() != parent:
            raise ConnectionError("the worker lost its database")
        time.sleep(0.02)  # this process is slow: the worker takes ranges too
        return check(self, start, end, sizes)

    monkeypatch.setattr(ranges._RangeChecker, "check", check_or_fail)
    with pytest.raises(RuntimeError, match="the worker lost its database"):
        verify_database(full=True, workers=2)
    assert verify_database(full=True, workers=1).ok  # this process alone


def test_an_actor_member_of_true_in_the_bytes_does_not_match_member_1_in_the_columns() -> None:
    """JSON true is not the number 1 (Python's True == 1 made the copied-columns check pass): a writer that
    put `"member": true` in the bytes and 1 in the indexed column is found, in both of the check's paths."""
    append(3)
    entry = ledger_append(kind="test.fact", actor=None, subject_type="thing", subject_id=3, payload={})
    document = json.loads(bytes(entry.canonical))
    document["actor"]["member"] = True
    data = canonical.canonical_bytes(document)
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_ledgerentry SET canonical = %s, leaf_hash = %s, actor_member_id = 1 WHERE id = %s",
            [data, canonical.leaf_hash(data), entry.id],
        )
    services.ledger_sequence()
    assert verify_database().failure == Failure(
        3, "the entry's indexed columns (kind, actor, subject, members) differ from its canonical bytes"
    )
