"""What credit rules v1 read and write: transfers, balances, rules, facts, entries (pure, stdlib only).

Transfers follow TigerBeetle's semantics: a transfer is ``pending`` or ``posted``; a pending one is later
resolved by exactly one ``post_pending`` or ``void_pending`` row that cites it. Nothing is ever edited.
Transfer id = first 16 bytes of SHA-256(RFC 8785 of {"entry": leaf hash hex, "leg": leg, "rules": rules
hash}), hex. Accounts (strings) and units:

* CR: ``CR:issuance`` (may go negative: minus its balance is the credit outstanding), ``CR:pool``,
  ``CR:fees``, ``CR:member:<id>:available``, ``CR:member:<id>:allowance``.
* PT: ``PT:source``, ``PT:member:<id>``.

A balance is credits minus debits; posted and pending are kept apart. Member and pool accounts may never
have posted credits below posted plus pending debits (I3); a transfer that would break that raises
:class:`InsufficientCredit` with the shortfall.

Times are integer microseconds since 1970-01-01T00:00:00Z (UTC); days are UTC day numbers; an epoch is a
calendar month ("YYYY-MM", UTC).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ledger.canonical import _TIME, encode_canonical_stdlib, parse_time

ISSUANCE = "CR:issuance"
POOL = "CR:pool"
FEES = "CR:fees"
POINTS_SOURCE = "PT:source"
US_PER_DAY = 86_400_000_000

# Kinds whose entries take a credit order (and may cause transfers or change facts the rules read).
CREDIT_KINDS = frozenset(
    {
        "credit.rules_changed",
        "epoch.opened",
        "epoch.settled",
        "credit.released",
        "audit.resolved",
        "credit.adjusted",
        "member.admitted",
        "member.affiliated",
        "dataset.registered",
        "dataset.version_added",
        "access.requested",
        "access.approved",
        "access.granted",
        "access.rejected",
        "access.withdrawn",
        "access.expired",
        "access.revoked",
        "data.downloaded",
    }
)
# Which entry kinds may cause transfers of each code (I5).
CODE_KINDS = {
    "epoch_budget": {"epoch.opened"},
    "allowance": {"member.admitted"},
    "allowance_expired": {"credit.released"},
    "fee": {"access.approved", "access.granted"},  # granted: a restricted or open request's first decision
    "fee_post": {"access.granted", "credit.released"},
    "fee_void": {"access.rejected", "access.withdrawn", "access.expired", "access.revoked"},
    "fee_refund": {"access.revoked"},
    "use": {"data.downloaded"},
    "mint": {"epoch.settled"},
    "mint_resolved": {"audit.resolved"},
    "points_closed": {"epoch.settled"},
    "adjustment": {"credit.adjusted"},
}
PENDING, POSTED, POST_PENDING, VOID_PENDING = "pending", "posted", "post_pending", "void_pending"


class CreditError(ValueError):
    """An entry the rules cannot accept (replay reports it as a divergence; services refuse first)."""

    code = "credit_refused"


class InsufficientCredit(CreditError):
    """A debit would take a member or the pool below zero."""

    code = "insufficient_credit"

    def __init__(self, account: str, shortfall: int, required: int | None = None) -> None:
        self.account = account
        self.shortfall = shortfall
        self.required = required  # what was to be paid, where one amount was (a grant fee)
        super().__init__(f"{account} is {shortfall} mCR short.")


@dataclass(frozen=True)
class Transfer:
    """One row of the transfer table (never edited)."""

    id: str
    entry: str  # leaf hash (hex) of the entry that caused it
    order: int  # that entry's credit order
    leg: str
    flag: str  # pending | posted | post_pending | void_pending
    debit: str
    credit: str
    amount: int
    unit: str
    code: str
    ref: str  # what it is about: "request:12", "epoch:2026-11", "mint:2026-11:5", ...
    rules: str
    pending_id: str = ""
    role: str = ""  # fee legs: "provider" | "consortium"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entry": self.entry,
            "order": self.order,
            "leg": self.leg,
            "flag": self.flag,
            "debit": self.debit,
            "credit": self.credit,
            "amount": self.amount,
            "unit": self.unit,
            "code": self.code,
            "ref": self.ref,
            "rules": self.rules,
            "pending_id": self.pending_id,
            "role": self.role,
        }


@dataclass
class Balance:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def spendable(self) -> int:
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True)
class Rules:
    version: int
    hash: str
    params: dict[str, int]


@dataclass(frozen=True)
class MemberFact:
    member: int
    group: str
    admitted_us: int


@dataclass(frozen=True)
class UseFact:
    """One download under a grant as the rules saw it (credited or not), with its point chain."""

    order: int
    entry: str
    epoch: str
    day: int
    dataset: int
    version_sha256: str
    provider_member: int
    provider_group: str
    consumer_member: int
    consumer_group: str
    k: int
    chain: dict[str, int]
    points: int
    credited: bool
    reason: str  # "" when credited; self_dealing | duplicate_listing | no_epoch


@dataclass(frozen=True)
class RequestFact:
    request: int
    provider_member: int
    consumer_member: int
    tier: str
    requested_us: int
    first_approval_us: int = 0
    granted_us: int = 0
    grant: int = 0
    granted_order: int = -1


@dataclass(frozen=True)
class EpochFact:
    epoch: str
    budget: int
    rules: str
    opened_order: int
    settled_order: int = -1
    settlement: dict[str, Any] = field(default_factory=dict)


class CreditState(Protocol):
    """What the rules read and write. MemoryState keeps it in dicts; the database keeps it in tables."""

    def rules_published(self) -> list[Rules]: ...
    def add_rules(self, rules: Rules) -> None: ...
    def current_epoch(self) -> EpochFact | None: ...
    def epoch(self, epoch: str) -> EpochFact | None: ...
    def put_epoch(self, fact: EpochFact) -> None: ...
    def balance(self, account: str) -> Balance: ...
    def add_transfer(self, transfer: Transfer) -> None: ...
    def unresolved(self, ref: str) -> list[Transfer]: ...
    def unresolved_provider_legs(self) -> list[Transfer]: ...
    def posted_consortium_legs(self, ref: str) -> list[Transfer]: ...
    def member(self, member: int) -> MemberFact | None: ...
    def put_member(self, fact: MemberFact) -> None: ...
    def group_members(self, group: str) -> list[MemberFact]: ...
    def first_registrant(self, sha256: str) -> str | None: ...
    def register_version(self, sha256: str, group: str) -> None: ...
    def add_listing(self, group: str) -> None: ...
    def lists_anything(self, group: str) -> bool: ...
    def request(self, request: int) -> RequestFact | None: ...
    def put_request(self, fact: RequestFact) -> None: ...
    def request_of_grant(self, grant: int) -> RequestFact | None: ...
    def use_count(self, epoch: str, dataset: int, consumer_group: str) -> int: ...
    def add_use(self, use: UseFact) -> None: ...
    def uses_between(self, first_day: int, last_day: int) -> list[UseFact]: ...
    def epoch_uses(self, epoch: str) -> list[UseFact]: ...
    def epoch_uncredited_uses(self, epoch: str, reason: str) -> list[UseFact]: ...
    def last_settled_order(self) -> int: ...
    def grants_after(self, order: int) -> list[RequestFact]: ...
    def allowances_due(self, before_us: int) -> list[MemberFact]: ...
    def member_accounts(self) -> list[tuple[str, int]]: ...


@dataclass(frozen=True)
class Entry:
    """The parts of a ledger entry the rules read."""

    leaf: str
    order: int
    kind: str
    time_us: int
    actor_member: int | None
    subject_type: str
    subject_id: str
    members: tuple[int, ...]
    payload: dict[str, Any]

    @classmethod
    def from_document(cls, document: dict[str, Any], leaf_hash_hex: str) -> Entry:
        """From the entry's JSON object (as in its canonical bytes). Raises CreditError without an order or
        when the members the rules read are not of the entry format's types (a replay reads entries from an
        export anyone may have written: it must name such an entry, not fail on it)."""
        payload, actor, subject = document.get("payload"), document.get("actor"), document.get("subject")
        if not isinstance(payload, dict):
            raise CreditError("The entry has no payload object.")
        credit = payload.get("credit")
        if not isinstance(credit, dict) or type(credit.get("order")) is not int:
            raise CreditError("The entry has no credit order.")
        members = document.get("members", [])
        if not (
            isinstance(document.get("kind"), str)
            and isinstance(document.get("time"), str)
            and isinstance(actor, dict)
            and isinstance(subject, dict)
            and isinstance(subject.get("type"), str)
            and isinstance(subject.get("id"), str)
            and isinstance(members, list)
        ):
            raise CreditError(
                "The entry's kind, time, actor, subject or members are not of the entry format's types."
            )
        return cls(
            leaf=leaf_hash_hex,
            order=credit["order"],
            kind=document["kind"],
            time_us=time_us_of(document["time"]),
            actor_member=actor.get("member"),
            subject_type=subject["type"],
            subject_id=subject["id"],
            members=tuple(members),
            payload=payload,
        )


def to_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00Z."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(time_us: int) -> datetime:
    """The moment `time_us` microseconds after 1970-01-01T00:00:00Z (the inverse of `to_us`), in UTC."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)


@functools.lru_cache(maxsize=1024)
def _day_start_us(day: str) -> int:
    return to_us(parse_time(f"{day}T00:00:00.000000Z"))


def time_us_of(text: str) -> int:
    """``to_us(parse_time(text))`` (the same result and the same errors), faster: replay parses one time
    per entry, and building a datetime for each cost more than the rules themselves."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        return to_us(parse_time(text))  # raises CanonicalError
    hour, minute, second, micros = (int(part) for part in match.groups()[3:])
    if hour > 23 or minute > 59 or second > 59:
        return to_us(parse_time(text))  # raises CanonicalError
    try:
        day_start = _day_start_us(text[:10])
    except ValueError:
        return to_us(parse_time(text))  # raises CanonicalError naming `text`
    return day_start + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros


def epoch_of(time_us: int) -> str:
    """The calendar month ("YYYY-MM", UTC) of a moment."""
    moment = from_us(time_us)
    return f"{moment.year:04d}-{moment.month:02d}"


def epoch_end_day(epoch: str) -> int:
    """The UTC day number of the last day of `epoch`."""
    year, month = (int(part) for part in epoch.split("-"))
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return to_us(following) // US_PER_DAY - 1


def transfer_id(entry_leaf: str, rules_hash: str, leg: str) -> str:
    """First 16 bytes (hex) of SHA-256(RFC 8785 of {"entry", "leg", "rules"})."""
    if _printable_ascii(entry_leaf, leg, rules_hash):
        # RFC 8785 of three printable ASCII strings under fixed sorted keys is exactly this (the general
        # encoder, which validates and sorts first, cost more than the rest of a download's replay)
        encoded = (
            f'{{"entry":{json.dumps(entry_leaf)},"leg":{json.dumps(leg)},"rules":{json.dumps(rules_hash)}}}'
        )
        digest = hashlib.sha256(encoded.encode())
    else:
        digest = hashlib.sha256(
            encode_canonical_stdlib({"entry": entry_leaf, "leg": leg, "rules": rules_hash})
        )
    return digest.digest()[:16].hex()


def _printable_ascii(*texts: object) -> bool:
    return all(isinstance(text, str) and text.isascii() and text.isprintable() for text in texts)


def member_available(member: int) -> str:
    return f"CR:member:{member}:available"


def member_allowance(member: int) -> str:
    return f"CR:member:{member}:allowance"


def member_points(member: int) -> str:
    return f"PT:member:{member}"


def is_constrained(account: str) -> bool:
    """Accounts that may never go below zero (I3)."""
    return account == POOL or account.startswith("CR:member:") or account.startswith("PT:member:")


def default_group(member: int) -> str:
    return f"m{member}"


def rules_in_force(state: CreditState) -> Rules | None:
    """The rules of the open epoch; between epochs, the newest published (they take effect with the next
    epoch, and nothing between epochs reads the budget); none before any rules are published."""
    published = state.rules_published()
    current = state.current_epoch()
    if current is not None:
        return next(rules for rules in published if rules.hash == current.rules)
    return published[-1] if published else None


def group_of(state: CreditState, member: int) -> str:
    fact = state.member(member)
    return fact.group if fact is not None else default_group(member)
