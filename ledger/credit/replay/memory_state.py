"""Replay credit from ledger entries alone, in memory (pure, standard library only).

:class:`MemoryState` is the in-memory :class:`~ledger.credit.engine.CreditState`; :func:`replay` walks
entry documents in credit order through the same rules the service posts with and returns every transfer
and balance. The auditor (`manage.py credit_audit`) and the offline verifier (`python -m ledger.verify
--rules-replay`) diff that result against what the database or the export says.
"""

from __future__ import annotations

import gc
import json
import traceback
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from ledger.canonical import format_time
from ledger.credit import engine
from ledger.credit.engine import (
    POST_PENDING,
    VOID_PENDING,
    Balance,
    CreditError,
    Entry,
    EpochFact,
    MemberFact,
    RequestFact,
    Rules,
    Transfer,
    UseFact,
)


class MemoryState:
    """Every fact and transfer in dicts; what replay and the property tests run against."""

    def __init__(self) -> None:
        self.rules: list[Rules] = []
        self.epochs: dict[str, EpochFact] = {}
        self.open_epoch: str | None = None
        self.balances: dict[str, Balance] = defaultdict(Balance)
        self.transfers: list[Transfer] = []
        self.by_id: dict[str, Transfer] = {}
        self.resolved: set[str] = set()
        self.by_ref: dict[str, list[Transfer]] = defaultdict(list)
        self.members: dict[int, MemberFact] = {}
        self.groups: dict[str, dict[int, MemberFact]] = defaultdict(dict)  # group -> its members (index)
        self.pending_provider: dict[str, Transfer] = {}  # unresolved pending provider legs, in order
        self.versions: dict[str, str] = {}
        self.listings: set[str] = set()
        self.requests: dict[int, RequestFact] = {}
        self.grants: dict[int, int] = {}
        self.use_counts: dict[tuple[str, int, str], int] = defaultdict(int)
        self.uses: list[UseFact] = []

    # rules and epochs
    def rules_published(self) -> list[Rules]:
        return self.rules

    def add_rules(self, rules: Rules) -> None:
        self.rules.append(rules)

    def current_epoch(self) -> EpochFact | None:
        return self.epochs[self.open_epoch] if self.open_epoch else None

    def epoch(self, epoch: str) -> EpochFact | None:
        return self.epochs.get(epoch)

    def put_epoch(self, fact: EpochFact) -> None:
        self.epochs[fact.epoch] = fact
        self.open_epoch = fact.epoch if fact.settled_order < 0 else None

    # accounts and transfers
    def balance(self, account: str) -> Balance:
        # A read never creates an account: the database has rows only for accounts a transfer touched.
        return self.balances.get(account) or Balance()

    def add_transfer(self, transfer: Transfer) -> None:
        if transfer.id in self.by_id:
            raise CreditError(f"Transfer {transfer.id} exists already.")
        if transfer.pending_id:
            if transfer.pending_id in self.resolved:
                raise CreditError(f"Pending transfer {transfer.pending_id} is resolved already.")
            self.resolved.add(transfer.pending_id)
            self.pending_provider.pop(transfer.pending_id, None)
        elif transfer.flag == engine.PENDING and transfer.role == "provider":
            self.pending_provider[transfer.id] = transfer
        _book(self.balances, transfer)
        self.transfers.append(transfer)
        self.by_id[transfer.id] = transfer
        self.by_ref[transfer.ref].append(transfer)

    def unresolved(self, ref: str) -> list[Transfer]:
        return [
            transfer
            for transfer in self.by_ref.get(ref, ())
            if transfer.flag == engine.PENDING and transfer.id not in self.resolved
        ]

    def unresolved_provider_legs(self) -> list[Transfer]:
        # kept by add_transfer: every release would otherwise scan all transfers so far
        return list(self.pending_provider.values())

    def posted_consortium_legs(self, ref: str) -> list[Transfer]:
        posted = {
            transfer.pending_id for transfer in self.by_ref.get(ref, ()) if transfer.flag == POST_PENDING
        }
        return [
            transfer
            for transfer in self.by_ref.get(ref, ())
            if transfer.id in posted and transfer.role == "consortium"
        ]

    def member_accounts(self) -> list[tuple[str, int]]:
        return sorted(
            (account, balance.posted)
            for account, balance in self.balances.items()
            if account.startswith("CR:member:")
        )

    # members, listings, versions
    def member(self, member: int) -> MemberFact | None:
        return self.members.get(member)

    def put_member(self, fact: MemberFact) -> None:
        known = self.members.get(fact.member)
        if known is not None:
            self.groups[known.group].pop(fact.member, None)
        self.members[fact.member] = fact
        self.groups[fact.group][fact.member] = fact

    def group_members(self, group: str) -> list[MemberFact]:
        # the group index: every download asks, and a scan of all members per download dominated replay
        found = [fact for _, fact in sorted(self.groups.get(group, {}).items())]
        if not found and group.startswith("m") and group[1:].isdigit():
            member = int(group[1:])
            return [MemberFact(member, group, 0)] if member not in self.members else []
        return found

    def first_registrant(self, sha256: str) -> str | None:
        return self.versions.get(sha256)

    def register_version(self, sha256: str, group: str) -> None:
        self.versions.setdefault(sha256, group)

    def add_listing(self, group: str) -> None:
        self.listings.add(group)

    def lists_anything(self, group: str) -> bool:
        return group in self.listings

    # requests and uses
    def request(self, request: int) -> RequestFact | None:
        return self.requests.get(request)

    def put_request(self, fact: RequestFact) -> None:
        self.requests[fact.request] = fact
        if fact.grant:
            self.grants[fact.grant] = fact.request

    def request_of_grant(self, grant: int) -> RequestFact | None:
        request = self.grants.get(grant)
        return self.requests.get(request) if request is not None else None

    def use_count(self, epoch: str, dataset: int, consumer_group: str) -> int:
        return self.use_counts[(epoch, dataset, consumer_group)]

    def add_use(self, use: UseFact) -> None:
        self.uses.append(use)
        if use.credited:
            self.use_counts[(use.epoch, use.dataset, use.consumer_group)] += 1

    def uses_between(self, first_day: int, last_day: int) -> list[UseFact]:
        return [use for use in self.uses if first_day <= use.day <= last_day]

    def epoch_uses(self, epoch: str) -> list[UseFact]:
        return [use for use in self.uses if use.epoch == epoch and use.credited]

    def epoch_uncredited_uses(self, epoch: str, reason: str) -> list[UseFact]:
        return [use for use in self.uses if use.epoch == epoch and use.reason == reason]

    def last_settled_order(self) -> int:
        return max((fact.settled_order for fact in self.epochs.values()), default=-1)

    def grants_after(self, order: int) -> list[RequestFact]:
        return sorted(
            (fact for fact in self.requests.values() if fact.granted_us and fact.granted_order > order),
            key=lambda fact: fact.request,
        )

    def allowances_due(self, before_us: int) -> list[MemberFact]:
        return [
            fact
            for member, fact in sorted(self.members.items())
            if fact.admitted_us
            and fact.admitted_us <= before_us
            and self.balance(engine.member_allowance(member)).spendable > 0
        ]


def _book(balances: dict[str, Balance], transfer: Transfer) -> None:
    """Move the amounts of one transfer between its accounts' posted and pending columns."""
    debit, credit, amount = balances[transfer.debit], balances[transfer.credit], transfer.amount
    if transfer.flag == engine.PENDING:
        debit.debits_pending += amount
        credit.credits_pending += amount
    elif transfer.flag == engine.POSTED:
        debit.debits_posted += amount
        credit.credits_posted += amount
    elif transfer.flag == POST_PENDING:
        debit.debits_pending -= amount
        credit.credits_pending -= amount
        debit.debits_posted += amount
        credit.credits_posted += amount
    elif transfer.flag == VOID_PENDING:
        debit.debits_pending -= amount
        credit.credits_pending -= amount


@dataclass
class ReplayResult:
    """What the rules make of the entries: the transfers in order, the final balances, the epochs."""

    state: MemoryState
    entries: int = 0
    # (credit order, why) of the first entry the rules refuse; the order is None for an entry whose credit
    # members cannot be read at all
    divergence: tuple[int | None, str] | None = None
    by_order: dict[int, int] = field(default_factory=dict)  # credit order -> ledger seq, where known

    @property
    def transfers(self) -> list[Transfer]:
        return self.state.transfers

    def balances(self) -> dict[str, dict[str, int]]:
        return {
            account: {
                "debits_posted": balance.debits_posted,
                "credits_posted": balance.credits_posted,
                "debits_pending": balance.debits_pending,
                "credits_pending": balance.credits_pending,
            }
            for account, balance in sorted(self.state.balances.items())
        }


def credit_entries(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> list[tuple[int, Entry]]:
    """(seq, Entry) of the credit-relevant documents among (seq, leaf hash hex, document), in credit order.

    Raises CreditError naming the entry's seq when a credit-relevant entry's credit order, time, actor,
    subject or members cannot be read."""
    found: list[tuple[int, Entry]] = []
    for seq, leaf, document in documents:
        kind, payload = document.get("kind"), document.get("payload")
        if (
            isinstance(kind, str)
            and kind in engine.CREDIT_KINDS
            and isinstance(payload, dict)
            and "credit" in payload
        ):
            try:
                found.append((seq, Entry.from_document(document, leaf)))
            except ValueError as exc:  # CreditError, or CanonicalError for a time not in the entry format
                raise CreditError(f"seq {seq}: {exc}") from None
    found.sort(key=lambda pair: pair[1].order)
    return found


def replay(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> ReplayResult:
    """Replay the credit-relevant entries of a ledger (any order; sorted here by credit order).

    Stops at the first entry the rules refuse or that repeats a credit order, and names it in
    `divergence`. Gaps in the order are expected on PostgreSQL (a rolled-back transaction's number is not
    reused); a deleted entry is the log's to catch (its Merkle tree and checkpoints).
    """
    with _gc_paused():
        return _replay(documents)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector would scan the ever larger state again and again while replay and diff
    allocate (a third of the time of a large audit); nothing they build needs it, so it pauses meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(documents: Iterable[tuple[int, str, dict[str, Any]]]) -> ReplayResult:
    result = ReplayResult(state=MemoryState())
    previous: int | None = None
    try:
        entries = credit_entries(documents)
    except CreditError as exc:
        result.divergence = (None, str(exc))
        return result
    for seq, entry in entries:
        if entry.order == previous:
            result.divergence = (entry.order, f"seq {seq} repeats credit order {entry.order}")
            return result
        previous = entry.order
        result.by_order[entry.order] = seq
        state = result.state
        try:
            engine.apply_entry(state, entry)
        except CreditError as exc:
            result.divergence = (entry.order, f"seq {seq}: {exc}")
            return result
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            # The rules read a payload member the entry lacks or has with another type. The exchange never
            # writes such an entry, but an export may carry one: it diverges, it must not end the replay.
            result.divergence = (
                entry.order,
                f"seq {seq}: the rules cannot read this entry's payload ({_why(exc)})",
            )
            return result
        result.entries += 1
    return result


# The daily release (beat, 00:05 UTC) posts a leg at its first run after the window ends: up to a day later.
RELEASE_GRACE_US = engine.US_PER_DAY


@dataclass(frozen=True)
class OverdueLeg:
    """A provider fee leg still pending more than a day (the release's cadence) after its dispute window
    ended (I7): the daily `credit.released` did not run."""

    transfer: str
    seq: int | None  # ledger sequence number of the entry that made the leg, where known
    order: int  # that entry's credit order
    ref: str  # "request:<id>"
    window_end_us: int

    def __str__(self) -> str:
        made = f"seq {self.seq}" if self.seq is not None else f"credit order {self.order} (unsequenced)"
        return (
            f"provider leg {self.transfer} ({self.ref}, made by {made}) is still pending; its dispute "
            f"window ended {time_text(self.window_end_us)}"
        )


def time_text(time_us: int) -> str:
    """Microseconds since the epoch in the entries' time format."""
    return format_time(engine.from_us(time_us))


def overdue_provider_legs(result: ReplayResult, clock_us: int) -> list[OverdueLeg]:
    """Every provider leg of a granted request still pending at `clock_us` although its dispute window
    (the `dispute_window_days` of the rules it was posted under) ended more than RELEASE_GRACE_US before,
    in credit order. A leg whose request is not granted yet has no window running. Pure: the clock is the
    caller's (the audit and the offline verifier use the latest entry's time, so any auditor reproduces
    the finding from the ledger alone)."""
    state = result.state
    windows = {rules.hash: rules.params["dispute_window_days"] * engine.US_PER_DAY for rules in state.rules}
    # by the ref the legs were written with (an export's request id need not be an integer to replay)
    requests = {f"request:{fact.request}": fact for fact in state.requests.values()}
    found = []
    for leg in state.unresolved_provider_legs():
        fact = requests.get(leg.ref)
        if fact is None or not fact.granted_us or leg.rules not in windows:
            continue
        window_end = fact.granted_us + windows[leg.rules]
        if clock_us - window_end > RELEASE_GRACE_US:
            found.append(OverdueLeg(leg.id, _seq(result, leg.order), leg.order, leg.ref, window_end))
    return sorted(found, key=lambda leg: (leg.order, leg.transfer))


def overdue_report(overdue: Iterable[OverdueLeg], clock_us: int) -> str:
    """The I7 finding as text: a header with the clock, then one line per overdue leg."""
    legs = list(overdue)
    lines = [
        f"OVERDUE (I7): {len(legs)} provider fee leg(s) pending more than a day past their dispute window "
        f"at the latest ledger entry ({time_text(clock_us)}); the daily credit.released has not posted them:"
    ]
    lines.extend(f"  {leg}" for leg in legs)
    return "\n".join(lines)


def _why(exc: Exception) -> str:
    """An exception as a short phrase: its type, its message cut short, and where it was raised (the rules'
    line that could not read the entry; should the fault be the rules' own, that is where to look)."""
    text = str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return type(exc).__name__ + (f": {text[:80]}" if text else "") + where


def transfers_jsonl(transfers: Iterable[Transfer], seq_of_order: dict[int, int]) -> bytes:
    """The transfers as JSON Lines (sorted keys, ascii): byte-identical for identical transfers."""
    lines = []
    for transfer in transfers:
        row = transfer.as_dict() | {"seq": seq_of_order.get(transfer.order, -1)}
        lines.append(json.dumps(row, sort_keys=True, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


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


def _seq(result: ReplayResult, order: int) -> int | None:
    seq = result.by_order.get(order)
    return seq if seq is not None and seq >= 0 else None


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
