"""The locks a credit entry takes before it is written, and the credit order it gets under them.

Every credit entry takes its order after the locks that make its reads true until it commits, so replay in
order sees what the service saw:

* PostgreSQL. One advisory lock guards what every credit entry reads (rules, epochs, groups, listings):
  the frequent kinds (downloads, a request's lifecycle) take it shared, plus an exclusive advisory lock on
  the one thing they read and change (a dataset's uses, for its diminishing returns; one consumer's
  balances);
  every other kind (epochs, releases, admissions, affiliations, adjustments, ...) takes it exclusive, so it
  waits for the shared ones in flight and runs alone. The order is then `nextval` of a sequence: gaps
  where a transaction rolled back, never a duplicate, and for any two entries whose reads and writes
  overlap, the order in which they ran.
* SQLite has one writer at a time: the order is the `CreditClock` row's counter, gap-free.
"""

from __future__ import annotations

import zlib
from typing import Any

from django.db import connection

from ledger.credit.models import CreditClock
from ledger.db import hot_rows


def take_credit_order() -> int:
    """Inside a transaction: the next credit order; the row lock it takes is held until commit."""
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(
                "UPDATE credit_creditclock SET next_order = next_order + 1 WHERE id = 1 RETURNING next_order"
            )
            row = cursor.fetchone()
            if row is not None:
                return int(row[0]) - 1
            CreditClock.objects.get_or_create(pk=1)  # a flushed test database; the migration makes it
    raise RuntimeError("The credit clock row cannot be created.")


_LOCK_SPACE = 0x1ED7  # advisory lock class of credit (the sequencer's lock is a single bigint key)
_SHARED_KEYS = {  # kind -> what a shared-mode entry of that kind locks exclusively
    "data.downloaded": "uses",
    "access.requested": "consumer",
    "access.approved": "consumer",
    "access.granted": "consumer",
    "access.rejected": "consumer",
    "access.withdrawn": "consumer",
    "access.expired": "consumer",
    "access.revoked": "consumer",
}


def begin_credit_entry(kind: str, payload: dict[str, Any]) -> int:
    """Inside a transaction, before a credit entry of `kind` is written: take its locks (held to commit,
    see the module docstring) and return its credit order."""
    if connection.vendor != "postgresql":
        return take_credit_order()
    key = _shared_key(kind, payload)
    # One round trip; the nesting fixes the order: the credit lock, then the key, then the number.
    if key is None:
        return int(hot_rows(_EXCLUSIVE_THEN_ORDER, [_LOCK_SPACE])[0][0])
    return int(hot_rows(_SHARED_THEN_KEY_THEN_ORDER, [_LOCK_SPACE + 1, _key_hash(key), _LOCK_SPACE])[0][0])


_EXCLUSIVE_THEN_ORDER = (
    "SELECT nextval('credit_order_seq') FROM (SELECT pg_advisory_xact_lock(%s, 0)) AS credit_locked"
)
_SHARED_THEN_KEY_THEN_ORDER = (
    "SELECT nextval('credit_order_seq') FROM (SELECT pg_advisory_xact_lock(%s, %s) "
    "FROM (SELECT pg_advisory_xact_lock_shared(%s, 0)) AS credit_locked) AS key_locked"
)


def lock_credit_consumers(member_ids: list[int]) -> None:
    """Inside a transaction that will append credit entries for several consumers (a dataset withdrawal
    closing their requests): take every consumer's lock now, in ascending order, before any entry writes
    a balance row. Taken one by one after such writes, they could deadlock with a single consumer's entry
    waiting on a row (the fees account) this transaction already holds."""
    if connection.vendor != "postgresql" or not member_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [_LOCK_SPACE])
        for member_id in sorted(set(member_ids)):
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE + 1, _key_hash(f"consumer|{member_id}")]
            )


def lock_all_credit() -> None:
    """Inside a transaction: wait for every credit entry in flight and keep others out until commit, so
    what is read next (a settlement's inputs) stays true; PostgreSQL's exclusive credit lock, SQLite's
    write lock."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [_LOCK_SPACE])
        else:
            cursor.execute("UPDATE credit_creditclock SET next_order = next_order WHERE id = 1")


def _shared_key(kind: str, payload: dict[str, Any]) -> str | None:
    what = _SHARED_KEYS.get(kind)
    if what == "uses":  # all uses of a dataset, not one group's: the group is not known before the lock
        return f"uses|{payload.get('dataset')}"
    if what == "consumer":
        consumer = payload.get("requester_member", payload.get("grantee_member"))
        return f"consumer|{consumer}" if isinstance(consumer, int) else None
    return None


def _key_hash(key: str) -> int:
    """A signed 32-bit advisory lock key for `key` (a collision only makes two keys queue)."""
    value = zlib.crc32(key.encode())
    return value - 2**32 if value >= 2**31 else value
