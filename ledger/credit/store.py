"""The credit state in the database, and the step of `ledger_append` that posts an entry's transfers.

`take_credit_order` is the lock: an UPDATE of the one `CreditClock` row, held to commit, so credit writers
run one at a time and in the order the entries record. Under it `DatabaseState` reads and writes plain rows
with no further locking; the `CreditAccount` CHECK constraint backs up the rules' own balance check.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models

from ledger.credit import engine
from ledger.credit.engine import (
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
from ledger.credit.models import (
    CreditAccount,
    CreditClock,
    CreditEpoch,
    CreditListing,
    CreditMember,
    CreditRequest,
    CreditRules,
    CreditTransfer,
    CreditUse,
    CreditVersion,
)


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


def post_entry(*, entry_id: int, leaf_hash: bytes, document: dict[str, Any]) -> list[Transfer]:
    """Apply the rules to a just-inserted credit entry and write its transfers and facts.

    Raises InsufficientCredit or CreditError (the caller's transaction must roll back)."""
    state = DatabaseState(entry_id=entry_id)
    return engine.apply_entry(state, Entry.from_document(document, leaf_hash.hex()))


def _transfer(row: CreditTransfer) -> Transfer:
    return Transfer(
        id=row.id,
        entry="",  # the leaf hash is not needed by the rules once the transfer exists
        order=row.order,
        leg=row.leg,
        flag=row.flag,
        debit=row.debit,
        credit=row.credit,
        amount=row.amount,
        unit=row.unit,
        code=row.code,
        ref=row.ref,
        rules=row.rules,
        pending_id=row.pending_id,
        role=row.role,
    )


_TRANSFER_FIELDS = ("id", "order", "leg", "flag", "debit", "credit", "amount", "unit", "code", "ref", "rules")
_TRANSFER_FIELDS += ("pending_id", "role")
_BALANCES = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
_CREATE_ACCOUNTS = (
    f"INSERT INTO credit_creditaccount (account, constrained, {', '.join(_BALANCES)}) "  # noqa: S608
    "VALUES (%s, %s, 0, 0, 0, 0), (%s, %s, 0, 0, 0, 0) ON CONFLICT (account) DO NOTHING"
)
# each column: + the debit account's change when it is the debit account, else the credit account's
_CHANGE_ACCOUNTS = (
    "UPDATE credit_creditaccount SET "  # noqa: S608 - constant names only
    + ", ".join(f"{name} = {name} + (CASE WHEN account = %s THEN %s ELSE %s END)" for name in _BALANCES)
    + " WHERE account IN (%s, %s)"
)


def _insert(model: type[models.Model], values: dict[str, Any]) -> None:
    """One plain INSERT of a row (the hot path runs under the credit lock: the ORM's save machinery
    costs as much as the statement)."""
    fields = [model._meta.get_field(name) for name in values]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({columns}) "  # noqa: S608 - model names only
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            [
                field.get_db_prep_save(value, connection)
                for field, value in zip(fields, values.values(), strict=True)
            ],
        )


def _use(row: CreditUse) -> UseFact:
    return UseFact(
        order=row.order,
        entry=row.entry_leaf,
        epoch=row.epoch,
        day=row.day,
        dataset=row.dataset,
        version_sha256=row.version_sha256,
        provider_member=row.provider_member,
        provider_group=row.provider_group,
        consumer_member=row.consumer_member,
        consumer_group=row.consumer_group,
        k=row.k,
        chain=row.chain,
        points=row.points,
        credited=row.credited,
        reason=row.reason,
    )


def _request(row: CreditRequest) -> RequestFact:
    return RequestFact(
        request=row.request,
        provider_member=row.provider_member,
        consumer_member=row.consumer_member,
        tier=row.tier,
        requested_us=row.requested_us,
        first_approval_us=row.first_approval_us,
        granted_us=row.granted_us,
        grant=row.grant,
        granted_order=row.granted_order,
    )


def _epoch(row: CreditEpoch) -> EpochFact:
    return EpochFact(
        epoch=row.epoch,
        budget=row.budget,
        rules=row.rules,
        opened_order=row.opened_order,
        settled_order=row.settled_order,
        settlement=row.settlement,
    )


class DatabaseState:
    """`CreditState` over the credit tables. Only valid under the credit order lock."""

    def __init__(self, *, entry_id: int | None = None) -> None:
        self.entry_id = entry_id
        self._rules: list[Rules] | None = None
        self._current: list[
            EpochFact | None
        ] = []  # [current epoch] once read (the rules ask, then the entry)

    # rules and epochs
    def rules_published(self) -> list[Rules]:
        if self._rules is None:
            self._rules = [
                Rules(row.version, row.hash, row.params) for row in CreditRules.objects.order_by("order")
            ]
        return self._rules

    def add_rules(self, rules: Rules) -> None:
        order = CreditClock.objects.get(pk=1).next_order - 1
        CreditRules.objects.create(hash=rules.hash, version=rules.version, params=rules.params, order=order)
        self._rules = None

    def current_epoch(self) -> EpochFact | None:
        if not self._current:
            row = CreditEpoch.objects.filter(settled_order=-1).first()
            self._current.append(_epoch(row) if row is not None else None)
        return self._current[0]

    def epoch(self, epoch: str) -> EpochFact | None:
        row = CreditEpoch.objects.filter(epoch=epoch).first()
        return _epoch(row) if row is not None else None

    def put_epoch(self, fact: EpochFact) -> None:
        self._current.clear()
        CreditEpoch.objects.update_or_create(
            epoch=fact.epoch,
            defaults={
                "budget": fact.budget,
                "rules": fact.rules,
                "opened_order": fact.opened_order,
                "settled_order": fact.settled_order,
                "settlement": fact.settlement,
            },
        )

    # accounts and transfers
    def balance(self, account: str) -> Balance:
        row = CreditAccount.objects.filter(account=account).first()
        if row is None:
            return Balance()
        return Balance(row.debits_posted, row.credits_posted, row.debits_pending, row.credits_pending)

    def add_transfer(self, transfer: Transfer) -> None:
        if self.entry_id is None:
            raise CreditError("Transfers are written only while posting an entry.")
        _insert(
            CreditTransfer,
            {"entry_id": self.entry_id} | {name: getattr(transfer, name) for name in _TRANSFER_FIELDS},
        )
        # Two statements for both accounts: create them at zero if new, then apply the flag's changes (a
        # pending transfer's post or void takes `pending` back down). The CHECK constraint still refuses a
        # negative member or pool balance. (Not one upsert: CHECK applies to the proposed row first.)
        amount = transfer.amount
        posted = amount if transfer.flag in (engine.POSTED, engine.POST_PENDING) else 0
        pending = {engine.PENDING: amount, engine.POSTED: 0}.get(transfer.flag, -amount)
        debit, credit = transfer.debit, transfer.credit
        with connection.cursor() as cursor:
            cursor.execute(
                _CREATE_ACCOUNTS,
                [debit, engine.is_constrained(debit), credit, engine.is_constrained(credit)],
            )
            # per column (debits posted, credits posted, debits pending, credits pending): the debit
            # account's change and the credit account's (one account on both sides gets both)
            sides = [(posted, 0), (0, posted), (pending, 0), (0, pending)]
            if debit == credit:
                sides = [(change + other, change + other) for change, other in sides]
            changes = [value for side in sides for value in (debit, *side)]
            cursor.execute(_CHANGE_ACCOUNTS, [*changes, debit, credit])

    def unresolved(self, ref: str) -> list[Transfer]:
        resolved = CreditTransfer.objects.filter(ref=ref).exclude(pending_id="").values("pending_id")
        rows = CreditTransfer.objects.filter(ref=ref, flag=engine.PENDING).exclude(id__in=resolved)
        return [_transfer(row) for row in rows.order_by("order", "leg")]

    def unresolved_provider_legs(self) -> list[Transfer]:
        resolved = CreditTransfer.objects.filter(code__in=["fee_post", "fee_void"]).values("pending_id")
        rows = CreditTransfer.objects.filter(flag=engine.PENDING, role="provider").exclude(id__in=resolved)
        return [_transfer(row) for row in rows.order_by("order", "leg")]

    def posted_consortium_legs(self, ref: str) -> list[Transfer]:
        posted = CreditTransfer.objects.filter(ref=ref, flag=engine.POST_PENDING).values("pending_id")
        rows = CreditTransfer.objects.filter(ref=ref, id__in=posted, role="consortium")
        return [_transfer(row) for row in rows.order_by("order", "leg")]

    def member_accounts(self) -> list[tuple[str, int]]:
        rows = CreditAccount.objects.filter(account__startswith="CR:member:").order_by("account")
        return [(row.account, row.credits_posted - row.debits_posted) for row in rows]

    # members, listings, versions
    def member(self, member: int) -> MemberFact | None:
        row = CreditMember.objects.filter(member=member).first()
        return MemberFact(row.member, row.group, row.admitted_us) if row is not None else None

    def put_member(self, fact: MemberFact) -> None:
        CreditMember.objects.update_or_create(
            member=fact.member, defaults={"group": fact.group, "admitted_us": fact.admitted_us}
        )

    def group_members(self, group: str) -> list[MemberFact]:
        found = [
            MemberFact(row.member, row.group, row.admitted_us)
            for row in CreditMember.objects.filter(group=group).order_by("member")
        ]
        if not found and group.startswith("m") and group[1:].isdigit():
            member = int(group[1:])
            if not CreditMember.objects.filter(member=member).exists():
                return [MemberFact(member, group, 0)]
        return found

    def first_registrant(self, sha256: str) -> str | None:
        return CreditVersion.objects.filter(sha256=sha256).values_list("group", flat=True).first()

    def register_version(self, sha256: str, group: str) -> None:
        CreditVersion.objects.get_or_create(sha256=sha256, defaults={"group": group})

    def add_listing(self, group: str) -> None:
        CreditListing.objects.get_or_create(group=group)

    def lists_anything(self, group: str) -> bool:
        return CreditListing.objects.filter(group=group).exists()

    # requests and uses
    def request(self, request: int) -> RequestFact | None:
        row = CreditRequest.objects.filter(request=request).first()
        return _request(row) if row is not None else None

    def put_request(self, fact: RequestFact) -> None:
        CreditRequest.objects.update_or_create(
            request=fact.request,
            defaults={
                "provider_member": fact.provider_member,
                "consumer_member": fact.consumer_member,
                "tier": fact.tier,
                "requested_us": fact.requested_us,
                "first_approval_us": fact.first_approval_us,
                "granted_us": fact.granted_us,
                "grant": fact.grant,
                "granted_order": fact.granted_order,
                "granted_epoch": engine.epoch_of(fact.granted_us) if fact.granted_us else "",
            },
        )

    def request_of_grant(self, grant: int) -> RequestFact | None:
        row = CreditRequest.objects.filter(grant=grant).first() if grant else None
        return _request(row) if row is not None else None

    def use_count(self, epoch: str, dataset: int, consumer_group: str) -> int:
        return CreditUse.objects.filter(
            epoch=epoch, dataset=dataset, consumer_group=consumer_group, credited=True
        ).count()

    def add_use(self, use: UseFact) -> None:
        _insert(
            CreditUse,
            {
                "order": use.order,
                "entry_leaf": use.entry,
                "epoch": use.epoch,
                "day": use.day,
                "dataset": use.dataset,
                "version_sha256": use.version_sha256,
                "provider_member": use.provider_member,
                "provider_group": use.provider_group,
                "consumer_member": use.consumer_member,
                "consumer_group": use.consumer_group,
                "k": use.k,
                "chain": use.chain,
                "points": use.points,
                "credited": use.credited,
                "reason": use.reason,
            },
        )

    def uses_between(self, first_day: int, last_day: int) -> list[UseFact]:
        rows = CreditUse.objects.filter(day__gte=first_day, day__lte=last_day).order_by("order")
        return [_use(row) for row in rows]

    def epoch_uses(self, epoch: str) -> list[UseFact]:
        return [_use(row) for row in CreditUse.objects.filter(epoch=epoch, credited=True).order_by("order")]

    def epoch_uncredited_uses(self, epoch: str, reason: str) -> list[UseFact]:
        rows = CreditUse.objects.filter(epoch=epoch, credited=False, reason=reason).order_by("order")
        return [_use(row) for row in rows]

    def epoch_grants(self, epoch: str) -> list[RequestFact]:
        rows = CreditRequest.objects.filter(granted_epoch=epoch).exclude(granted_us=0).order_by("request")
        return [_request(row) for row in rows]

    def allowances_due(self, before_us: int) -> list[MemberFact]:
        due = CreditMember.objects.filter(admitted_us__gt=0, admitted_us__lte=before_us).order_by("member")
        found = []
        for row in due:
            if self.balance(engine.member_allowance(row.member)).spendable > 0:
                found.append(MemberFact(row.member, row.group, row.admitted_us))
        return found
