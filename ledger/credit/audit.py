"""The auditor's recompute: replay the whole ledger through the credit rules and diff the database.

`credit_audit` reads the entries in constant-size chunks, replays them with the same pure code the service
posts with (`ledger.credit.replay`) and compares every transfer, account balance, epoch and use (the
consumer, point chain and points a statement prints); `manage.py credit_audit` prints the first divergence
and exits non-zero. It also lists the provider fee legs still pending past their dispute window (I7: the
daily release stopped), against the time of the latest ledger entry, so that any auditor replaying the same
ledger (or its export, offline) finds the same legs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from django.db.models import Max

from ledger.credit import engine, replay
from ledger.credit.models import TRANSFER_FIELDS, CreditAccount, CreditEpoch, CreditTransfer, CreditUse
from ledger.models import LedgerEntry

_CHUNK = 5000
EPOCH_FIELDS = tuple(field.name for field in fields(engine.EpochFact))
USE_COLUMNS = tuple("entry_leaf" if field.name == "entry" else field.name for field in fields(engine.UseFact))


@dataclass(frozen=True)
class AuditReport:
    entries: int
    transfers: int
    accounts: int
    divergence: replay.Divergence | None
    epochs: int = 0
    uses: int = 0
    clock_us: int = 0  # the latest ledger entry's time: what "past its window" is measured against
    overdue: tuple[replay.OverdueLeg, ...] = ()

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.overdue


def credit_documents(
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq or -1, leaf hash hex, document) of every credit-relevant entry, in id order."""
    rows = (
        LedgerEntry.objects.filter(kind__in=engine.CREDIT_KINDS)
        .order_by("id")
        .values_list("leaf__seq", "leaf_hash", "canonical")
        .iterator(chunk_size=_CHUNK)
    )
    for count, (seq, leaf_hash, data) in enumerate(rows, start=1):
        yield (seq if seq is not None else -1, bytes(leaf_hash).hex(), json.loads(bytes(data)))
        if progress is not None and count % _CHUNK == 0:
            progress(_CHUNK)


def stored_transfers(*, below_seq: int | None = None) -> Iterator[dict[str, Any]]:
    """Every stored transfer as a dict shaped like engine.Transfer.as_dict, its `entry` the leaf hash (hex)
    of the entry row it links to; with `below_seq`, only those whose entry is sequenced below it (what an
    export of that size covers)."""
    rows = CreditTransfer.objects.all()
    if below_seq is not None:
        rows = rows.filter(entry__leaf__seq__lt=below_seq)
    columns = rows.order_by("order", "id").values_list(*TRANSFER_FIELDS, "entry__leaf_hash")
    for *values, entry in columns.iterator(chunk_size=_CHUNK):
        yield dict(zip(TRANSFER_FIELDS, values, strict=True)) | {"entry": bytes(entry).hex()}


def stored_balances() -> dict[str, dict[str, int]]:
    """Every account's stored balance columns; `PT:source`, which has no row (every download would queue
    on it), is the mirror of the member points accounts: all points move between it and them."""
    names = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
    balances = {
        row["account"]: {name: row[name] for name in names}
        for row in CreditAccount.objects.values("account", *names).iterator(chunk_size=_CHUNK)
    }
    points = [balance for account, balance in balances.items() if account.startswith("PT:member:")]
    if points:
        mirror = {"debits_posted": "credits_posted", "credits_posted": "debits_posted"}
        mirror |= {"debits_pending": "credits_pending", "credits_pending": "debits_pending"}
        balances[engine.POINTS_SOURCE] = {
            name: sum(balance[mirror[name]] for balance in points) for name in names
        }
    return balances


def stored_epochs() -> dict[str, dict[str, Any]]:
    """Every stored epoch's columns, by epoch."""
    return {row["epoch"]: row for row in CreditEpoch.objects.values(*EPOCH_FIELDS)}


def stored_uses() -> Iterator[dict[str, Any]]:
    """Every stored use (what statements print: consumer, point chain, points) as a dict of UseFact's
    fields, by credit order."""
    rows = CreditUse.objects.order_by("order").values_list(*USE_COLUMNS)
    for values in rows.iterator(chunk_size=_CHUNK):
        row = dict(zip(USE_COLUMNS, values, strict=True))
        row["entry"] = row.pop("entry_leaf")
        yield row


def ledger_clock_us() -> int:
    """The time of the latest ledger entry (any kind), in microseconds; 0 for an empty ledger."""
    latest = LedgerEntry.objects.aggregate(latest=Max("accepted_at"))["latest"]
    return engine.to_us(latest) if latest is not None else 0


def credit_audit(progress: Callable[[int], None] | None = None) -> AuditReport:
    """Replay every credit entry and compare transfers, balances, epochs and uses with the database (read
    only); list the provider legs pending past their window at the latest entry's time (I7)."""
    clock_us = ledger_clock_us()
    result = replay.replay(credit_documents(progress))
    balances = stored_balances()
    divergence = replay.diff(result, stored_transfers(), balances, stored_epochs(), stored_uses())
    overdue = replay.overdue_provider_legs(result, clock_us) if result.divergence is None else []
    return AuditReport(
        entries=result.entries,
        transfers=len(result.transfers),
        accounts=len(balances),
        divergence=divergence,
        epochs=len(result.state.epochs),
        uses=len(result.state.uses),
        clock_us=clock_us,
        overdue=tuple(overdue),
    )
