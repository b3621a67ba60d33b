"""`DatabaseState`, the rules' `CreditState` over the credit tables, and posting an entry's transfers.

Account balances are written once per entry, in account-name order (so two entries touching the same
accounts queue instead of deadlocking), and not at all for `PT:source`, which every download would
otherwise queue on: its balance is minus the sum of the member points accounts (I2). The `CreditAccount`
CHECK constraint backs up the rules' own balance check.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

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
    TRANSFER_FIELDS,
    CreditAccount,
    CreditEpoch,
    CreditListing,
    CreditMember,
    CreditRequest,
    CreditRules,
    CreditTransfer,
    CreditUse,
    CreditVersion,
)
from ledger.credit.store.writes import (
    _BALANCES,
    _add_to_accounts,
    _create_accounts,
    _insert_statement,
    _passes_alone,
    _update_accounts,
)
from ledger.db import hot_rows

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


_Fact = TypeVar("_Fact", bound="DataclassInstance")


def post_entry(*, entry_id: int, leaf_hash: bytes, document: dict[str, Any]) -> list[Transfer]:
    """Apply the rules to a just-inserted credit entry and write its transfers and facts.

    Raises InsufficientCredit or CreditError (the caller's transaction must roll back)."""
    entry = Entry.from_document(document, leaf_hash.hex())
    state = DatabaseState(entry_id=entry_id, order=entry.order)
    state.preload(entry)
    transfers = engine.apply_entry(state, entry)
    state.flush()
    return transfers


def _fact(cls: type[_Fact], row: models.Model, **given: Any) -> _Fact:
    """The engine's fact `cls` from a row whose fields bear the same names (`given`: those that differ)."""
    return cls(**{f.name: given[f.name] if f.name in given else getattr(row, f.name) for f in fields(cls)})


def _columns(fact: Any, **renamed: str) -> dict[str, Any]:
    """A fact's fields as row values (`renamed`: fact field -> column where they differ)."""
    return {renamed.get(field.name, field.name): getattr(fact, field.name) for field in fields(fact)}


# What a download reads, in one statement (PostgreSQL), instead of one query per question the rules ask.
# The consumer's group is the subquery `g` (the engine's `group_of`, its default passed in); the use count
# is the engine's `use_count` for the open epoch.
_DOWNLOAD_READS = """
SELECT
    (SELECT string_agg(hash, ',' ORDER BY "order") FROM credit_creditrules),
    cur.epoch, cur.budget, cur.rules, cur.opened_order, cur.settled_order, cur.settlement,
    (SELECT json_agg(json_build_array(member, "group", admitted_us))
       FROM credit_creditmember WHERE member IN (%(provider)s, %(consumer)s)),
    (SELECT "group" FROM credit_creditversion WHERE sha256 = %(sha256)s),
    g.consumer_group,
    (SELECT count(*) FROM credit_credituse
       WHERE epoch = COALESCE(cur.epoch, '') AND dataset = %(dataset)s AND consumer_group = g.consumer_group
         AND credited),
    (SELECT json_agg(json_build_array(member, "group", admitted_us) ORDER BY member)
       FROM credit_creditmember WHERE "group" = g.consumer_group)
FROM (
    SELECT COALESCE((SELECT "group" FROM credit_creditmember WHERE member = %(consumer)s),
                    %(consumer_default_group)s) AS consumer_group
) AS g
LEFT JOIN (SELECT * FROM credit_creditepoch WHERE settled_order = -1 ORDER BY epoch LIMIT 1) AS cur ON TRUE
"""


def _json(value: Any) -> Any:
    """A JSON value read by a raw query: Django has psycopg hand `jsonb` over as text, `json` parsed."""
    return json.loads(value) if isinstance(value, str) else value


# The published rules change a few times a year: kept per process under the list of their hashes in order,
# which every preload reads (so a stale list is never used).
_rules_by_hashes: dict[str, list[Rules]] = {}


class DatabaseState:
    """`CreditState` over the credit tables. Only valid under the credit order lock.

    While posting an entry it keeps what it has read (`preload` reads a download's questions in one
    statement) and buffers the rows and balance changes it writes until `flush`, which writes them in
    one statement on PostgreSQL. A read of transfers or uses writes the buffered rows first, so the rules
    always see what they wrote."""

    def __init__(self, *, entry_id: int | None = None, order: int | None = None) -> None:
        self.entry_id, self.order = entry_id, order
        self._rules: list[Rules] | None = None
        self._changes: dict[str, list[int]] = {}  # account -> balance changes not yet written
        self._rows: list[tuple[type[models.Model], dict[str, Any]]] = []  # rows not yet written
        # what has been read (or preloaded) and cannot change under the locks but by this state's writes
        self._current: list[
            EpochFact | None
        ] = []  # [current epoch] once read (the rules ask, then the entry)
        self._members: dict[int, MemberFact | None] = {}
        self._groups: dict[str, list[MemberFact]] = {}
        self._registrants: dict[str, str | None] = {}
        self._use_counts: dict[tuple[str, int, str], int] = {}

    def preload(self, entry: Entry) -> None:
        """Read at once what the rules will ask about `entry` (PostgreSQL, downloads; elsewhere the
        questions are asked one by one, with the same answers)."""
        payload = entry.payload
        if connection.vendor != "postgresql" or entry.kind != "data.downloaded":
            return
        provider, consumer = payload.get("owner_member"), payload.get("grantee_member")
        dataset, sha256 = payload.get("dataset"), payload.get("version_sha256", "")
        if not (
            type(provider) is int and type(consumer) is int and type(dataset) is int and type(sha256) is str
        ):
            return  # the rules refuse it, through the usual queries
        parameters = {
            "provider": provider,
            "consumer": consumer,
            "consumer_default_group": engine.default_group(consumer),
            "dataset": dataset,
            "sha256": sha256,
        }
        rules_key, *epoch, members, registrant, group, uses, group_members = hot_rows(
            _DOWNLOAD_READS, parameters
        )[0]
        self._rules = _rules_by_hashes.get(rules_key or "")
        if epoch[0] is None:
            self._current[:] = [None]
        else:
            name, budget, rules, opened_order, settled_order, settlement = epoch
            self._current[:] = [
                EpochFact(name, budget, rules, opened_order, settled_order, _json(settlement))
            ]
        for member in (provider, consumer):
            self._members[member] = None
        for member, member_group, admitted_us in _json(members) or ():
            self._members[member] = MemberFact(member, member_group, admitted_us)
        self._registrants[sha256] = registrant
        self._groups[group] = [MemberFact(*fact) for fact in _json(group_members) or ()]
        self._use_counts[(epoch[0] or "", dataset, group)] = uses

    # rules and epochs
    def rules_published(self) -> list[Rules]:
        if self._rules is None:
            self._rules = [
                Rules(row.version, row.hash, row.params) for row in CreditRules.objects.order_by("order")
            ]
            _rules_by_hashes.clear()
            _rules_by_hashes[",".join(rules.hash for rules in self._rules)] = self._rules
        return self._rules

    def add_rules(self, rules: Rules) -> None:
        if self.order is None:
            raise CreditError("Rules are recorded only while posting their entry.")
        CreditRules.objects.create(
            hash=rules.hash, version=rules.version, params=rules.params, order=self.order
        )
        self._rules = None

    def current_epoch(self) -> EpochFact | None:
        if not self._current:
            row = CreditEpoch.objects.filter(settled_order=-1).first()
            self._current.append(_fact(EpochFact, row) if row is not None else None)
        return self._current[0]

    def epoch(self, epoch: str) -> EpochFact | None:
        row = CreditEpoch.objects.filter(epoch=epoch).first()
        return _fact(EpochFact, row) if row is not None else None

    def put_epoch(self, fact: EpochFact) -> None:
        self._current.clear()
        values = _columns(fact)
        CreditEpoch.objects.update_or_create(epoch=values.pop("epoch"), defaults=values)

    # accounts and transfers
    def balance(self, account: str) -> Balance:
        return self._balances([account])[account]

    def _balances(self, accounts: list[str]) -> dict[str, Balance]:
        """The balances of `accounts` in one query, with the changes not yet written."""
        stored = {
            row[0]: row[1:]
            for row in CreditAccount.objects.filter(account__in=accounts).values_list("account", *_BALANCES)
        }
        return {
            account: Balance(
                *(
                    value + delta
                    for value, delta in zip(
                        stored.get(account, (0, 0, 0, 0)),
                        self._changes.get(account, (0, 0, 0, 0)),
                        strict=True,
                    )
                )
            )
            for account in accounts
        }

    def add_transfer(self, transfer: Transfer) -> None:
        if self.entry_id is None:
            raise CreditError("Transfers are written only while posting an entry.")
        self._rows.append(
            (
                CreditTransfer,
                {"entry_id": self.entry_id} | {name: getattr(transfer, name) for name in TRANSFER_FIELDS},
            )
        )
        amount = transfer.amount
        posted = amount if transfer.flag in (engine.POSTED, engine.POST_PENDING) else 0
        pending = {engine.PENDING: amount, engine.POSTED: 0}.get(transfer.flag, -amount)
        # columns: debits posted, credits posted, debits pending, credits pending
        for account, change in (
            (transfer.debit, (posted, 0, pending, 0)),
            (transfer.credit, (0, posted, 0, pending)),
        ):
            total = self._changes.setdefault(account, [0, 0, 0, 0])
            for column, delta in enumerate(change):
                total[column] += delta

    def _write_rows(self) -> None:
        """Write the buffered rows."""
        rows, self._rows = self._rows, []
        for model, values in rows:
            hot_rows(*_insert_statement(model, values))

    def _written(self, model: type[CreditTransfer] | type[CreditUse]) -> Any:
        """The rows of a table this state buffers writes to, the buffered ones written first: every read
        of transfers or uses goes through here, so the rules always see what they wrote."""
        self._write_rows()
        return model.objects

    def flush(self) -> None:
        """Write the entry's buffered rows and balance changes (`PT:source` has no row: see the module
        docstring). On PostgreSQL the rows and the accounts go in one statement (INSERTs as data-modifying
        WITH clauses), plus a lock and an UPDATE when a change cannot be an upsert (`_add_to_accounts`)."""
        changes = {
            account: change
            for account, change in sorted(self._changes.items())
            if account != engine.POINTS_SOURCE and any(change)
        }
        self._changes.clear()
        statements = [_insert_statement(model, values) for model, values in self._rows]
        self._rows = []
        upsert = all(_passes_alone(account, change) for account, change in changes.items())
        if changes:
            statements.append(_add_to_accounts(changes) if upsert else _create_accounts(list(changes)))
        if not statements:
            return
        if connection.vendor == "postgresql":
            *clauses, (last_sql, _) = statements
            with_sql = ", ".join(f"w{index} AS ({sql})" for index, (sql, _) in enumerate(clauses))
            hot_rows(
                f"WITH {with_sql} {last_sql}" if clauses else last_sql,
                [value for _, params in statements for value in params],
            )
        else:
            for sql, params in statements:
                hot_rows(sql, params)
        if changes and not upsert:
            _update_accounts(changes)

    def unresolved(self, ref: str) -> list[Transfer]:
        transfers = self._written(CreditTransfer)
        resolved = transfers.filter(ref=ref).exclude(pending_id="").values("pending_id")
        rows = transfers.filter(ref=ref, flag=engine.PENDING).exclude(id__in=resolved)
        return [_fact(Transfer, row, entry="") for row in rows.order_by("order", "leg")]

    def unresolved_provider_legs(self) -> list[Transfer]:
        transfers = self._written(CreditTransfer)
        resolved = transfers.filter(code__in=["fee_post", "fee_void"]).values("pending_id")
        rows = transfers.filter(flag=engine.PENDING, role="provider").exclude(id__in=resolved)
        return [_fact(Transfer, row, entry="") for row in rows.order_by("order", "leg")]

    def posted_consortium_legs(self, ref: str) -> list[Transfer]:
        transfers = self._written(CreditTransfer)
        posted = transfers.filter(ref=ref, flag=engine.POST_PENDING).values("pending_id")
        rows = transfers.filter(ref=ref, id__in=posted, role="consortium")
        return [_fact(Transfer, row, entry="") for row in rows.order_by("order", "leg")]

    def member_accounts(self) -> list[tuple[str, int]]:
        rows = CreditAccount.objects.filter(account__startswith="CR:member:").order_by("account")
        return [(row.account, row.credits_posted - row.debits_posted) for row in rows]

    # members, listings, versions
    def member(self, member: int) -> MemberFact | None:
        if member not in self._members:
            row = CreditMember.objects.filter(member=member).first()
            self._members[member] = MemberFact(row.member, row.group, row.admitted_us) if row else None
        return self._members[member]

    def put_member(self, fact: MemberFact) -> None:
        self._members.clear()
        self._groups.clear()
        CreditMember.objects.update_or_create(
            member=fact.member, defaults={"group": fact.group, "admitted_us": fact.admitted_us}
        )

    def group_members(self, group: str) -> list[MemberFact]:
        if group not in self._groups:
            self._groups[group] = [
                MemberFact(row.member, row.group, row.admitted_us)
                for row in CreditMember.objects.filter(group=group).order_by("member")
            ]
        found = self._groups[group]
        if not found and group.startswith("m") and group[1:].isdigit():
            member = int(group[1:])
            if self.member(member) is None:
                return [MemberFact(member, group, 0)]
        return found

    def first_registrant(self, sha256: str) -> str | None:
        if sha256 not in self._registrants:
            self._registrants[sha256] = (
                CreditVersion.objects.filter(sha256=sha256).values_list("group", flat=True).first()
            )
        return self._registrants[sha256]

    def register_version(self, sha256: str, group: str) -> None:
        self._registrants.pop(sha256, None)
        CreditVersion.objects.get_or_create(sha256=sha256, defaults={"group": group})

    def add_listing(self, group: str) -> None:
        CreditListing.objects.get_or_create(group=group)

    def lists_anything(self, group: str) -> bool:
        return CreditListing.objects.filter(group=group).exists()

    # requests and uses
    def request(self, request: int) -> RequestFact | None:
        row = CreditRequest.objects.filter(request=request).first()
        return _fact(RequestFact, row) if row is not None else None

    def put_request(self, fact: RequestFact) -> None:
        values = _columns(fact)
        values["granted_epoch"] = engine.epoch_of(fact.granted_us) if fact.granted_us else ""
        CreditRequest.objects.update_or_create(request=values.pop("request"), defaults=values)

    def request_of_grant(self, grant: int) -> RequestFact | None:
        row = CreditRequest.objects.filter(grant=grant).first() if grant else None
        return _fact(RequestFact, row) if row is not None else None

    def use_count(self, epoch: str, dataset: int, consumer_group: str) -> int:
        key = (epoch, dataset, consumer_group)
        if key not in self._use_counts:
            self._use_counts[key] = (
                self._written(CreditUse)
                .filter(epoch=epoch, dataset=dataset, consumer_group=consumer_group, credited=True)
                .count()
            )
        return self._use_counts[key]

    def add_use(self, use: UseFact) -> None:
        self._use_counts.clear()
        self._rows.append((CreditUse, _columns(use, entry="entry_leaf")))

    def uses_between(self, first_day: int, last_day: int) -> list[UseFact]:
        rows = self._written(CreditUse).filter(day__gte=first_day, day__lte=last_day).order_by("order")
        return [_fact(UseFact, row, entry=row.entry_leaf) for row in rows]

    def epoch_uses(self, epoch: str) -> list[UseFact]:
        rows = self._written(CreditUse).filter(epoch=epoch, credited=True).order_by("order")
        return [_fact(UseFact, row, entry=row.entry_leaf) for row in rows]

    def epoch_uncredited_uses(self, epoch: str, reason: str) -> list[UseFact]:
        rows = self._written(CreditUse).filter(epoch=epoch, credited=False, reason=reason).order_by("order")
        return [_fact(UseFact, row, entry=row.entry_leaf) for row in rows]

    def last_settled_order(self) -> int:
        latest = CreditEpoch.objects.aggregate(latest=models.Max("settled_order"))["latest"]
        return latest if latest is not None else -1

    def grants_after(self, order: int) -> list[RequestFact]:
        rows = CreditRequest.objects.filter(granted_order__gt=order).exclude(granted_us=0).order_by("request")
        return [_fact(RequestFact, row) for row in rows]

    def allowances_due(self, before_us: int) -> list[MemberFact]:
        due = list(
            CreditMember.objects.filter(admitted_us__gt=0, admitted_us__lte=before_us).order_by("member")
        )
        balances = self._balances([engine.member_allowance(row.member) for row in due])
        return [
            MemberFact(row.member, row.group, row.admitted_us)
            for row in due
            if balances[engine.member_allowance(row.member)].spendable > 0
        ]
