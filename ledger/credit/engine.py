"""Credit rules v1 applied to ledger entries: which transfers each entry causes (pure, standard library only).

One function, :func:`apply_entry`, turns one credit-relevant ledger entry into transfers and fact updates
against a :class:`CreditState`. The service runs it inside the appending transaction against the database
(`ledger.credit.store.DatabaseState`); the auditor and the offline verifier run it over the whole ledger
against :class:`MemoryState`. Same code, same order, so replay gives exactly the stored transfers (I8).

Order: every credit-relevant entry carries ``payload["credit"]["order"]``, a gap-free counter taken under
one database lock by the appending transaction. Transactions that touch credit therefore run one at a
time, in that order, and replay walks entries in that order, so every balance, diminishing-returns count
and allowance split it sees is the one the service saw.

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
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ledger.canonical import _TIME, encode_canonical_stdlib, parse_time
from ledger.credit import rules as rules_module
from ledger.credit import settlement as settlement_module
from ledger.credit import sumtree

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

    def __init__(self, account: str, shortfall: int) -> None:
        self.account = account
        self.shortfall = shortfall
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
    def epoch_grants(self, epoch: str) -> list[RequestFact]: ...
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
    actor_user: int | None
    subject_type: str
    subject_id: str
    members: tuple[int, ...]
    payload: dict[str, Any]

    @classmethod
    def from_document(cls, document: dict[str, Any], leaf_hash_hex: str) -> Entry:
        """From the entry's JSON object (as in its canonical bytes). Raises CreditError without an order."""
        credit = document["payload"].get("credit")
        if not isinstance(credit, dict) or not isinstance(credit.get("order"), int):
            raise CreditError("The entry has no credit order.")
        return cls(
            leaf=leaf_hash_hex,
            order=credit["order"],
            kind=document["kind"],
            time_us=time_us_of(document["time"]),
            actor_member=document["actor"].get("member"),
            actor_user=document["actor"].get("user"),
            subject_type=document["subject"]["type"],
            subject_id=document["subject"]["id"],
            members=tuple(document.get("members", ())),
            payload=document["payload"],
        )


def to_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00Z."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    moment = datetime(1970, 1, 1, tzinfo=UTC) + _us(time_us)
    return f"{moment.year:04d}-{moment.month:02d}"


def epoch_end_day(epoch: str) -> int:
    """The UTC day number of the last day of `epoch`."""
    year, month = (int(part) for part in epoch.split("-"))
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return to_us(following) // US_PER_DAY - 1


def _us(micros: int) -> timedelta:
    return timedelta(microseconds=micros)


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


class _Poster:
    """Builds one entry's transfers and writes them through the state as it goes."""

    def __init__(self, state: CreditState, entry: Entry, rules: Rules) -> None:
        self.state, self.entry, self.rules = state, entry, rules
        self.written: list[Transfer] = []

    def transfer(
        self,
        leg: str,
        *,
        debit: str,
        credit: str,
        amount: int,
        code: str,
        ref: str,
        pending: bool = False,
        unit: str = "CR",
        role: str = "",
    ) -> Transfer | None:
        if amount <= 0:
            return None
        if is_constrained(debit):
            available = self.state.balance(debit).spendable
            if available < amount:
                raise InsufficientCredit(debit, amount - available)
        transfer = Transfer(
            id=transfer_id(self.entry.leaf, self.rules.hash, leg),
            entry=self.entry.leaf,
            order=self.entry.order,
            leg=leg,
            flag=PENDING if pending else POSTED,
            debit=debit,
            credit=credit,
            amount=amount,
            unit=unit,
            code=code,
            ref=ref,
            rules=self.rules.hash,
            role=role,
        )
        self.state.add_transfer(transfer)
        self.written.append(transfer)
        return transfer

    def resolve(self, pending: Transfer, *, post: bool, code: str) -> Transfer:
        flag = POST_PENDING if post else VOID_PENDING
        transfer = replace(
            pending,
            id=transfer_id(self.entry.leaf, self.rules.hash, f"{flag}:{pending.id}"),
            entry=self.entry.leaf,
            order=self.entry.order,
            leg=f"{flag}:{pending.id}",
            flag=flag,
            code=code,
            rules=self.rules.hash,
            pending_id=pending.id,
        )
        self.state.add_transfer(transfer)
        self.written.append(transfer)
        return transfer


def group_of(state: CreditState, member: int) -> str:
    fact = state.member(member)
    return fact.group if fact is not None else default_group(member)


def apply_entry(state: CreditState, entry: Entry) -> list[Transfer]:
    """Apply one credit-relevant entry: record the facts it states and write the transfers it causes.

    Returns the transfers written (in leg order). Raises InsufficientCredit or CreditError when the
    rules refuse the entry; the caller's transaction must then roll back (the service refuses the action).
    """
    handler = _HANDLERS.get(entry.kind)
    if handler is None:
        raise CreditError(f"Entries of kind {entry.kind} carry no credit.")
    if entry.kind == "credit.rules_changed":
        _rules_changed(state, entry)
        return []
    rules = rules_in_force(state)
    if rules is None:
        _record_facts_only(state, entry)
        return []
    poster = _Poster(state, entry, rules)
    handler(poster)
    return poster.written


def _record_facts_only(state: CreditState, entry: Entry) -> None:
    """Before any rules exist credit is inactive, but the facts the rules will read still count."""
    if entry.kind in {"member.admitted", "member.affiliated", "dataset.registered", "dataset.version_added"}:
        _HANDLERS[entry.kind](_Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))
    elif entry.kind == "access.requested":
        _requested(_Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))


def _rules_changed(state: CreditState, entry: Entry) -> None:
    payload = entry.payload
    try:
        params = rules_module.validate_params(payload.get("params"))
    except rules_module.RulesError as exc:
        raise CreditError(str(exc)) from exc
    version = payload.get("version")
    if not isinstance(version, int) or rules_module.rules_hash(version, params) != payload.get("hash"):
        raise CreditError("The rules hash does not match the rules.")
    state.add_rules(Rules(version, payload["hash"], params))


def _epoch_opened(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    epoch = entry.payload.get("epoch")
    if not isinstance(epoch, str) or state.epoch(epoch) is not None:
        raise CreditError(f"Epoch {epoch} is already open or not named.")
    if state.current_epoch() is not None:
        raise CreditError("The open epoch must be settled before the next one opens.")
    newest = state.rules_published()[-1]  # a change takes effect from the next epoch: this one
    budget = newest.params["epoch_budget_mcr"]
    if entry.payload.get("budget") != budget or entry.payload.get("rules") != newest.hash:
        raise CreditError("The epoch's budget or rules hash is not the one the rules give.")
    state.put_epoch(EpochFact(epoch=epoch, budget=budget, rules=newest.hash, opened_order=entry.order))
    poster.rules = newest
    poster.transfer(
        "budget", debit=ISSUANCE, credit=POOL, amount=budget, code="epoch_budget", ref=f"epoch:{epoch}"
    )


def _member_admitted(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    member = int(entry.subject_id)
    known = state.member(member)
    if known is not None and known.admitted_us:
        return  # one allowance per member, ever
    group = known.group if known is not None else default_group(member)
    state.put_member(MemberFact(member=member, group=group, admitted_us=entry.time_us))
    if not poster.rules.hash:
        return
    # The pool pays allowances; when it cannot, the member gets what is left (never a negative pool).
    amount = min(poster.rules.params["admission_allowance_mcr"], max(state.balance(POOL).spendable, 0))
    poster.transfer(
        "allowance",
        debit=POOL,
        credit=member_allowance(member),
        amount=amount,
        code="allowance",
        ref=f"member:{member}",
    )


def _member_affiliated(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    member, group = entry.payload.get("member"), entry.payload.get("group")
    if not isinstance(member, int) or not isinstance(group, str) or not group:
        raise CreditError("An affiliation names a member and a group.")
    known = state.member(member)
    state.put_member(MemberFact(member=member, group=group, admitted_us=known.admitted_us if known else 0))


def _dataset_registered(poster: _Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    if owner is not None:
        poster.state.add_listing(group_of(poster.state, owner))


def _version_added(poster: _Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    sha = poster.entry.payload.get("sha256")
    if owner is not None and isinstance(sha, str) and poster.state.first_registrant(sha) is None:
        poster.state.register_version(sha, group_of(poster.state, owner))


def _requested(poster: _Poster) -> None:
    payload = poster.entry.payload
    poster.state.put_request(
        RequestFact(
            request=payload["request"],
            provider_member=payload["owner_member"],
            consumer_member=payload["requester_member"],
            tier=payload["tier"],
            requested_us=poster.entry.time_us,
        )
    )


def _request_fact(poster: _Poster) -> RequestFact:
    payload = poster.entry.payload
    fact = poster.state.request(payload["request"])
    if fact is None:  # a request from before credit was active
        fact = RequestFact(
            request=payload["request"],
            provider_member=payload["owner_member"],
            consumer_member=payload["requester_member"],
            tier=payload["tier"],
            requested_us=poster.entry.time_us,
        )
    return fact


def grant_fee(params: dict[str, int], tier: str, duration_days: int) -> int:
    """The fee of a grant in mCR: the tier's fee per started fee period."""
    periods = -(-max(duration_days, 1) // params["fee_period_days"])
    return params.get(f"fee_{tier}_mcr", 0) * periods


def _approved(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    fact = _request_fact(poster)
    if fact.first_approval_us:
        state.put_request(fact)
        return  # the officer's approval after the steward's: the fee is already held
    state.put_request(replace(fact, first_approval_us=entry.time_us))
    _charge_fee(poster, fact, entry.payload)


def _charge_fee(poster: _Poster, fact: RequestFact, payload: dict[str, Any]) -> None:
    consumer, provider = fact.consumer_member, fact.provider_member
    if group_of(poster.state, consumer) == group_of(poster.state, provider):
        return  # self-dealing: no fee
    fee = grant_fee(poster.rules.params, fact.tier, int(payload.get("duration_days", 0)))
    _hold_fee(poster, fee=fee, consumer=consumer, provider=provider, ref=f"request:{fact.request}")


def _hold_fee(poster: _Poster, *, fee: int, consumer: int, provider: int, ref: str) -> None:
    """Pending legs: the consumer pays (allowance first, then available) the provider and the fees account."""
    if fee <= 0:
        return
    state = poster.state
    allowance = state.balance(member_allowance(consumer)).spendable
    available = state.balance(member_available(consumer)).spendable
    if allowance + available < fee:
        raise InsufficientCredit(member_available(consumer), fee - allowance - available)
    consortium = fee * poster.rules.params["consortium_fee_bps"] // 10000
    sources = [(member_allowance(consumer), min(allowance, fee))]
    sources.append((member_available(consumer), fee - sources[0][1]))
    targets = [(FEES, consortium, "consortium"), (member_available(provider), fee - consortium, "provider")]
    # Match sources to targets in order, so each leg moves from one account to one account.
    source_index, target_index = 0, 0
    source_left, target_left = sources[0][1], targets[0][1]
    while source_index < len(sources) and target_index < len(targets):
        amount = min(source_left, target_left)
        if amount > 0:
            poster.transfer(
                f"fee:{source_index}:{target_index}",
                debit=sources[source_index][0],
                credit=targets[target_index][0],
                amount=amount,
                code="fee",
                ref=ref,
                pending=True,
                role=targets[target_index][2],
            )
        source_left -= amount
        target_left -= amount
        if source_left == 0:
            source_index += 1
            source_left = sources[source_index][1] if source_index < len(sources) else 0
        if target_left == 0:
            target_index += 1
            target_left = targets[target_index][1] if target_index < len(targets) else 0


def _granted(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    fact = _request_fact(poster)
    if not fact.first_approval_us:  # granted on the first decision (restricted) or at once (open)
        _charge_fee(poster, fact, entry.payload)
    grant = entry.payload.get("grant")
    state.put_request(
        replace(
            fact,
            first_approval_us=fact.first_approval_us or entry.time_us,
            granted_us=entry.time_us,
            grant=grant if isinstance(grant, int) else 0,
            granted_order=entry.order,
        )
    )
    for leg in state.unresolved(f"request:{fact.request}"):
        if leg.role == "consortium":
            poster.resolve(leg, post=True, code="fee_post")


def _closed_before_grant(poster: _Poster) -> None:
    entry = poster.entry
    if entry.subject_type != "access_request":
        return  # a grant's expiry: its fee stands
    for leg in poster.state.unresolved(f"request:{entry.payload['request']}"):
        poster.resolve(leg, post=False, code="fee_void")


def _revoked(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    fact = state.request_of_grant(int(entry.payload.get("grant", 0)))
    if fact is None or not fact.granted_us:
        return
    within = entry.time_us - fact.granted_us <= poster.rules.params["refund_on_revoke_days"] * US_PER_DAY
    if entry.actor_member != fact.provider_member or not within:
        return  # an officer's revocation, or the owner's after the window: the fee stands
    ref = f"request:{fact.request}"
    for leg in state.unresolved(ref):
        poster.resolve(leg, post=False, code="fee_void")
    for index, leg in enumerate(state.posted_consortium_legs(ref)):
        poster.transfer(
            f"refund:{index}", debit=FEES, credit=leg.debit, amount=leg.amount, code="fee_refund", ref=ref
        )


def _released(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    window = poster.rules.params["dispute_window_days"] * US_PER_DAY
    for leg in state.unresolved_provider_legs():
        fact = state.request(int(leg.ref.split(":")[1]))
        if fact is not None and fact.granted_us and entry.time_us - fact.granted_us >= window:
            poster.resolve(leg, post=True, code="fee_post")
    valid = poster.rules.params["allowance_valid_days"] * US_PER_DAY
    for member in state.allowances_due(entry.time_us - valid):
        left = state.balance(member_allowance(member.member)).spendable
        poster.transfer(
            f"allowance_expired:{member.member}",
            debit=member_allowance(member.member),
            credit=POOL,
            amount=left,
            code="allowance_expired",
            ref=f"member:{member.member}",
        )


def use_points(
    params: dict[str, int], *, tier: str, quality: int | None, k: int, age_days: int
) -> tuple[dict[str, int], int]:
    """u = BASE x T x Q x D_k x R with one floor, and the chain of factors (bps; R as age/ramp days)."""
    repeat = params.get(f"repeat_use_{k}_bps", 0)
    quality_bps = params["quality_base_bps"] + (quality or 0) * params["quality_step_bps"]
    ramp = params["trust_ramp_days"]
    age = min(age_days, ramp) if ramp else 1
    ramp_denominator = ramp if ramp else 1
    chain = {
        "base_mcr": params["base_use_mcr"],
        "tier_bps": params[f"tier_{tier}_bps"],
        "quality_bps": quality_bps,
        "repeat_bps": repeat,
        "k": k,
        "age_days": age,
        "ramp_days": ramp_denominator,
    }
    points = (
        chain["base_mcr"] * chain["tier_bps"] * quality_bps * repeat * age // (10000**3 * ramp_denominator)
    )
    return chain, points


def _downloaded(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    payload = entry.payload
    provider, consumer = payload["owner_member"], payload["grantee_member"]
    provider_group, consumer_group = group_of(state, provider), group_of(state, consumer)
    current = state.current_epoch()
    epoch = current.epoch if current is not None else ""
    day = entry.time_us // US_PER_DAY
    sha = payload.get("version_sha256", "")
    reason = ""
    if provider_group == consumer_group:
        reason = "self_dealing"
    elif state.first_registrant(sha) not in (None, provider_group):
        reason = "duplicate_listing"
    elif not epoch:
        reason = "no_epoch"
    k = state.use_count(epoch, payload["dataset"], consumer_group) + 1 if not reason else 0
    members = state.group_members(consumer_group)
    admitted = [fact.admitted_us for fact in members if fact.admitted_us]
    age_days = (entry.time_us - min(admitted)) // US_PER_DAY if admitted else 0
    chain, points = use_points(
        poster.rules.params, tier=payload["tier"], quality=None, k=max(k, 1), age_days=age_days
    )
    if reason:
        points = 0
    state.add_use(
        UseFact(
            order=entry.order,
            entry=entry.leaf,
            epoch=epoch,
            day=day,
            dataset=payload["dataset"],
            version_sha256=sha,
            provider_member=provider,
            provider_group=provider_group,
            consumer_member=consumer,
            consumer_group=consumer_group,
            k=k,
            chain=chain,
            points=points,
            credited=not reason,
            reason=reason,
        )
    )
    poster.transfer(
        "use",
        debit=POINTS_SOURCE,
        credit=member_points(provider),
        amount=points,
        code="use",
        ref=f"epoch:{epoch}",
        unit="PT",
    )


def settlement_input(state: CreditState, epoch: EpochFact, params: dict[str, int]) -> Any:
    """What settlement reads, gathered from the state (the epoch's uses, the window's, grants, groups)."""
    end_day = epoch_end_day(epoch.epoch)
    uses = [use for use in state.epoch_uses(epoch.epoch) if use.credited and use.points > 0]
    # A use recorded after the month ended but before the epoch is settled (the roll runs hourly, or
    # later) still belongs to the open epoch. settle() requires every epoch use among the window's, so
    # the window reads from the first epoch use to the last (else the epoch could never be settled).
    end_day = max([end_day, *(use.day for use in uses)])
    first_day = end_day - params["reciprocity_window_days"] + 1
    read_from = min([first_day, *(use.day for use in uses)])
    window = [use for use in state.uses_between(read_from, end_day) if use.credited and use.points > 0]
    grants = state.epoch_grants(epoch.epoch)
    group_names = {use.provider_group for use in window} | {use.consumer_group for use in window}
    grant_facts = []
    for grant in grants:
        provider_group = group_of(state, grant.provider_member)
        consumer_group = group_of(state, grant.consumer_member)
        group_names |= {provider_group, consumer_group}
        grant_facts.append(
            settlement_module.GrantFact(
                seq=grant.granted_order,
                granted_us=grant.granted_us,
                requested_us=grant.requested_us,
                first_approval_us=grant.first_approval_us,
                provider_group=provider_group,
                consumer_group=consumer_group,
                tier=grant.tier,
            )
        )
    groups = {}
    for name in sorted(group_names):
        admitted = [fact.admitted_us for fact in state.group_members(name) if fact.admitted_us]
        groups[name] = settlement_module.GroupFact(
            group=name,
            created_day=min(admitted) // US_PER_DAY if admitted else end_day,
            lists_anything=state.lists_anything(name),
        )

    def credited(use: UseFact) -> Any:
        return settlement_module.CreditedUse(
            seq=use.order,
            day=use.day,
            provider_member=use.provider_member,
            provider_group=use.provider_group,
            consumer_group=use.consumer_group,
            points=use.points,
        )

    return settlement_module.SettlementInput(
        epoch=epoch.epoch,
        end_day=end_day,
        budget=epoch.budget,
        params=params,
        uses=[credited(use) for use in uses],
        window_uses=[credited(use) for use in window],
        grants=grant_facts,
        groups=groups,
    )


def duplicate_listing_flags(state: CreditState, epoch: EpochFact) -> list[Any]:
    """One flag per (provider group, first registrant group) whose downloads earned nothing in the epoch
    because the file was first registered by another group; evidence: those downloads' credit orders."""
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for use in state.epoch_uncredited_uses(epoch.epoch, "duplicate_listing"):
        first = state.first_registrant(use.version_sha256) or ""
        found[(use.provider_group, first)].append(use.order)
    return [
        settlement_module.Flag(
            rule="duplicate_listing",
            groups=tuple(sorted({provider, first})),
            metrics={"uses": len(orders)},
            evidence=tuple(sorted(orders)),
            holds_mint=False,
            covers=(provider,),
        )
        for (provider, first), orders in sorted(found.items())
    ]


def settlement_summary(result: Any, root: bytes, total: int) -> dict[str, Any]:
    """What `epoch.settled` states about its settlement (integers and strings only)."""
    return {
        "minted": result.minted,
        "total_damped": result.total_damped,
        "rate_bps": result.rate_bps,
        "held": sum(mint.amount for mint in result.mints if mint.held),
        "flags": len(result.flags),
        "balance_root": root.hex(),
        "balance_total": total,
    }


def compute_settlement(state: CreditState, epoch: str) -> tuple[Any, dict[str, Any]]:
    """The settlement of `epoch` and the summary its entry must state. Raises CreditError if the epoch
    is not the open one. The balance root covers member balances after the mints."""
    fact = state.epoch(epoch)
    if fact is None or fact.settled_order >= 0:
        raise CreditError(f"Epoch {epoch} is not open.")
    rules = next(published for published in state.rules_published() if published.hash == fact.rules)
    try:
        result = settlement_module.settle(settlement_input(state, fact, rules.params))
    except settlement_module.SettlementError as exc:
        raise CreditError(f"The settlement cannot be computed: {exc}") from exc
    result = replace(result, flags=(*duplicate_listing_flags(state, fact), *result.flags))
    pool = state.balance(POOL).spendable
    balances = dict(state.member_accounts())
    for mint in result.mints:
        amount = min(mint.amount, max(pool, 0))
        pool -= amount
        if not mint.held and amount > 0:  # a mint the empty pool cannot pay writes no transfer, no account
            key = member_available(mint.member)
            balances[key] = balances.get(key, 0) + amount
    leaves = sorted(balances.items())
    root, total = sumtree.root(leaves)
    return result, settlement_summary(result, root, total)


def _settled(poster: _Poster) -> None:
    state, entry = poster.state, poster.entry
    epoch = entry.payload.get("epoch")
    if not isinstance(epoch, str):
        raise CreditError("epoch.settled names its epoch.")
    current = state.current_epoch()
    if current is None or current.epoch != epoch:
        raise CreditError(f"Epoch {epoch} is not the open epoch.")
    result, summary = compute_settlement(state, epoch)
    stated = {key: entry.payload.get(key) for key in summary}
    if stated != summary:
        raise CreditError(f"The settlement the entry states differs from the rules' ({summary}).")
    for mint in result.mints:
        amount = min(mint.amount, max(state.balance(POOL).spendable, 0))
        poster.transfer(
            f"mint:{mint.member}",
            debit=POOL,
            credit=member_available(mint.member),
            amount=amount,
            code="mint",
            ref=f"mint:{epoch}:{mint.member}",
            pending=mint.held,
        )
    points: dict[int, int] = defaultdict(int)
    for use in state.epoch_uses(epoch):
        points[use.provider_member] += use.points
    for member in sorted(points):
        poster.transfer(
            f"points_closed:{member}",
            debit=member_points(member),
            credit=POINTS_SOURCE,
            amount=points[member],
            code="points_closed",
            ref=f"epoch:{epoch}",
            unit="PT",
        )
    state.put_epoch(
        replace(
            current,
            settled_order=entry.order,
            settlement={**summary, "flags": [_flag_dict(flag) for flag in result.flags]},
        )
    )


def _flag_dict(flag: Any) -> dict[str, Any]:
    return {
        "rule": flag.rule,
        "groups": list(flag.groups),
        "covers": list(flag.covers),
        "metrics": dict(sorted(flag.metrics.items())),
        "evidence": list(flag.evidence),
        "holds_mint": flag.holds_mint,
    }


def _audit_resolved(poster: _Poster) -> None:
    payload = poster.entry.payload
    ref, decision = payload.get("mint"), payload.get("decision")
    if decision not in {"release", "forfeit"}:
        raise CreditError("An audit resolution releases or forfeits a held mint.")
    held = poster.state.unresolved(f"mint:{ref}")
    if not held:
        raise CreditError(f"No held mint {ref}.")
    for leg in held:
        poster.resolve(leg, post=decision == "release", code="mint_resolved")


def _adjusted(poster: _Poster) -> None:
    payload = poster.entry.payload
    approvers = payload.get("approvers")
    if not isinstance(approvers, list) or len(set(approvers)) < 2:
        raise CreditError("An adjustment needs two different approvers.")
    member, amount = payload.get("member"), payload.get("amount_mcr")
    if not isinstance(member, int) or not isinstance(amount, int) or amount == 0:
        raise CreditError("An adjustment names a member and a non-zero amount.")
    debit, credit = (POOL, member_available(member)) if amount > 0 else (member_available(member), POOL)
    poster.transfer(
        "adjustment",
        debit=debit,
        credit=credit,
        amount=abs(amount),
        code="adjustment",
        ref=f"member:{member}",
    )


_HANDLERS = {
    "credit.rules_changed": lambda poster: None,
    "epoch.opened": _epoch_opened,
    "epoch.settled": _settled,
    "credit.released": _released,
    "audit.resolved": _audit_resolved,
    "credit.adjusted": _adjusted,
    "member.admitted": _member_admitted,
    "member.affiliated": _member_affiliated,
    "dataset.registered": _dataset_registered,
    "dataset.version_added": _version_added,
    "access.requested": _requested,
    "access.approved": _approved,
    "access.granted": _granted,
    "access.rejected": _closed_before_grant,
    "access.withdrawn": _closed_before_grant,
    "access.expired": _closed_before_grant,
    "access.revoked": _revoked,
    "data.downloaded": _downloaded,
}
