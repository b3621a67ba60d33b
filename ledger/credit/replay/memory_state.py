"""`MemoryState`, the rules' `CreditState` in dicts: what replay and the property tests run against."""

from __future__ import annotations

from collections import defaultdict

from ledger.credit import engine
from ledger.credit.engine import (
    POST_PENDING,
    VOID_PENDING,
    Balance,
    CreditError,
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
