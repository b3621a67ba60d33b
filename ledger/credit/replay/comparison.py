"""Comparing a replay with the stored or exported credit: the first divergence, by credit order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from operator import attrgetter, itemgetter
from typing import Any

from ledger.credit import engine
from ledger.credit.replay.replaying import ReplayResult, _gc_paused, _seq


@dataclass(frozen=True)
class Divergence:
    """The first place where stored credit differs from what the rules make of the ledger."""

    order: int | None  # credit order of the entry concerned (None: an account balance only)
    seq: int | None  # its ledger sequence number, where known
    reason: str

    entry_known: bool = True  # False: no credit entry has this order (a stored row the rules never made)

    def __str__(self) -> str:
        if self.order is None:
            return f"DIVERGES: {self.reason}"
        if not self.entry_known:
            return f"DIVERGES at credit order {self.order}, which no credit entry has: {self.reason}"
        where = f"seq {self.seq}" if self.seq is not None and self.seq >= 0 else "an unsequenced entry"
        return f"DIVERGES at {where} (credit order {self.order}): {self.reason}"


def _divergence(result: ReplayResult, order: int, reason: str) -> Divergence:
    return Divergence(order, _seq(result, order), reason, entry_known=order in result.by_order)


def diff(
    result: ReplayResult,
    stored_transfers: Iterable[dict[str, Any]],
    stored_balances: dict[str, dict[str, int]] | None = None,
    stored_epochs: dict[str, dict[str, Any]] | None = None,
    stored_uses: Iterable[dict[str, Any]] | None = None,
) -> Divergence | None:
    """Compare stored transfers (dicts shaped like Transfer.as_dict), balances, epochs (dicts of
    EpochFact's fields, by epoch) and uses (dicts of UseFact's fields) with the replay.

    Returns the divergence at the lowest credit order (a changed, missing or extra transfer), else the
    first account whose stored balance differs, else the first epoch whose stored budget, rules, orders or
    settlement (the per-member results statements and the leaderboard read) differ, else the use at the
    lowest credit order that is changed, missing or extra (statements print the uses: point chain, consumer,
    points), else None. A replay that stopped early diverges there.
    """
    with _gc_paused():
        return (
            _diff(result, stored_transfers, stored_balances)
            or _diff_epochs(result, stored_epochs)
            or _diff_uses(result, stored_uses)
        )


_USE_FIELDS = tuple(each.name for each in fields(engine.UseFact))
_use_values = attrgetter(*_USE_FIELDS)
_row_values = itemgetter(*_USE_FIELDS)


def _diff_uses(result: ReplayResult, stored: Iterable[dict[str, Any]] | None) -> Divergence | None:
    if stored is None:
        return None
    # Compared as tuples of UseFact's fields (C-level getters; asdict per use cost more than the rest of
    # the diff at 10^6 entries); the field that differs is named only for a use that does.
    expected = {use.order: use for use in result.state.uses}
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    for row in stored:
        order = int(row["order"])
        seen.add(order)
        wanted = expected.get(order)
        if wanted is None:
            found.append((order, f"use {order} is not one the rules make"))
        elif _row_values(row) != _use_values(wanted):
            name, value = next(
                (name, value)
                for name, value in zip(_USE_FIELDS, _use_values(wanted), strict=True)
                if row[name] != value
            )
            found.append((order, f"use {order} has {name} {row[name]!r}; the rules give {value!r}"))
    found.extend((order, f"use {order} is missing") for order in expected.keys() - seen)
    if not found:
        return None
    order, reason = min(found)
    return _divergence(result, order, reason)


def _diff_epochs(result: ReplayResult, stored: dict[str, dict[str, Any]] | None) -> Divergence | None:
    if stored is None:
        return None
    replayed = {name: asdict(fact) for name, fact in result.state.epochs.items()}
    for name in sorted(set(replayed) | set(stored)):
        found, wanted = stored.get(name), replayed.get(name)
        if wanted is None:
            return Divergence(None, None, f"epoch {name} is not one the rules open")
        if found is None:
            reason = f"epoch {name} is missing"
        else:
            differing = [key for key in wanted if found.get(key) != wanted[key]]
            if not differing:
                continue
            reason = f"epoch {name} has another {differing[0]} than the rules give"
        settled = wanted["settled_order"] >= 0 and found is not None and differing[0] == "settlement"
        order = wanted["settled_order"] if settled else wanted["opened_order"]
        return _divergence(result, order, reason)
    return None


def _diff(
    result: ReplayResult,
    stored_transfers: Iterable[dict[str, Any]],
    stored_balances: dict[str, dict[str, int]] | None,
) -> Divergence | None:
    if result.divergence is not None:
        order, reason = result.divergence
        return _divergence(result, order, reason) if order is not None else Divergence(None, None, reason)
    expected = {transfer.id: transfer.as_dict() for transfer in result.transfers}
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for row in stored_transfers:
        wanted = expected.get(row["id"])
        if row["id"] in seen:  # an export's lines may repeat one; matching it twice would pass it twice
            order = int(wanted["order"]) if wanted is not None else int(row.get("order", -1))
            found.append((order, f"transfer {row['id']} appears twice"))
            continue
        seen.add(row["id"])
        if wanted is None:
            found.append((int(row.get("order", -1)), f"transfer {row['id']} is not one the rules make"))
            continue
        for name, value in wanted.items():
            if row.get(name) != value:
                found.append(
                    (
                        int(wanted["order"]),
                        f"transfer {row['id']} has {name} {row.get(name)!r}; the rules give {value!r}",
                    )
                )
                break
    for transfer_id, wanted in expected.items():
        if transfer_id not in seen:
            found.append((int(wanted["order"]), f"transfer {transfer_id} ({wanted['leg']}) is missing"))
    if found:
        order, reason = min(found)
        return _divergence(result, order, reason)
    if stored_balances is not None:
        replayed = result.balances()
        for account in sorted(set(replayed) | set(stored_balances)):
            zero = {"debits_posted": 0, "credits_posted": 0, "debits_pending": 0, "credits_pending": 0}
            if replayed.get(account, zero) != stored_balances.get(account, zero):
                return Divergence(
                    None,
                    None,
                    f"account {account} holds {stored_balances.get(account, zero)}; the transfers give "
                    f"{replayed.get(account, zero)}",
                )
    return None
