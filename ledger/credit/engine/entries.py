"""Credit rules v1 applied to ledger entries: which transfers each entry causes (pure, standard library only).

One function, :func:`apply_entry`, turns one credit-relevant ledger entry into transfers and fact updates
against a :class:`CreditState`. The service runs it inside the appending transaction against the database
(`ledger.credit.store.DatabaseState`); the auditor and the offline verifier run it over the whole ledger
against :class:`MemoryState`. Same code, same order, so replay gives exactly the stored transfers (I8).

Order: every credit-relevant entry carries ``payload["credit"]["order"]``, a gap-free counter taken under
one database lock by the appending transaction. Transactions that touch credit therefore run one at a
time, in that order, and replay walks entries in that order, so every balance, diminishing-returns count
and allowance split it sees is the one the service saw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from ledger.credit import rules as rules_module
from ledger.credit.engine.posting import Poster
from ledger.credit.engine.settling import compute_settlement, flag_as_dict
from ledger.credit.engine.state import (
    FEES,
    ISSUANCE,
    POINTS_SOURCE,
    POOL,
    US_PER_DAY,
    CreditError,
    CreditState,
    Entry,
    EpochFact,
    InsufficientCredit,
    MemberFact,
    RequestFact,
    Rules,
    Transfer,
    UseFact,
    default_group,
    group_of,
    member_allowance,
    member_available,
    member_points,
    rules_in_force,
)


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
    poster = Poster(state, entry, rules)
    handler(poster)
    return poster.written


def _record_facts_only(state: CreditState, entry: Entry) -> None:
    """Before any rules exist credit is inactive, but the facts the rules will read still count."""
    if entry.kind in {"member.admitted", "member.affiliated", "dataset.registered", "dataset.version_added"}:
        _HANDLERS[entry.kind](Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))
    elif entry.kind == "access.requested":
        _requested(Poster(state, entry, Rules(0, "", dict(rules_module.RULES_V1))))


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


def _epoch_opened(poster: Poster) -> None:
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


def _member_admitted(poster: Poster) -> None:
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


def _member_affiliated(poster: Poster) -> None:
    state, entry = poster.state, poster.entry
    member, group = entry.payload.get("member"), entry.payload.get("group")
    if not isinstance(member, int) or not isinstance(group, str) or not group:
        raise CreditError("An affiliation names a member and a group.")
    known = state.member(member)
    old = known.group if known is not None else default_group(member)
    movers = [member]
    if old == default_group(member):  # it heads its own group: the members affiliated to it follow it
        movers += sorted(fact.member for fact in state.group_members(old) if fact.member != member)
    for mover in movers:
        fact = state.member(mover)
        state.put_member(MemberFact(member=mover, group=group, admitted_us=fact.admitted_us if fact else 0))
    if state.lists_anything(old):
        state.add_listing(group)


def _dataset_registered(poster: Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    if owner is not None:
        poster.state.add_listing(group_of(poster.state, owner))


def _version_added(poster: Poster) -> None:
    owner = poster.entry.members[0] if poster.entry.members else poster.entry.actor_member
    sha = poster.entry.payload.get("sha256")
    if owner is not None and isinstance(sha, str) and poster.state.first_registrant(sha) is None:
        poster.state.register_version(sha, group_of(poster.state, owner))


def _requested(poster: Poster) -> None:
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


def _request_fact(poster: Poster) -> RequestFact:
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


def _approved(poster: Poster) -> None:
    state, entry = poster.state, poster.entry
    fact = _request_fact(poster)
    if fact.first_approval_us:
        state.put_request(fact)
        return  # the officer's approval after the steward's: the fee is already held
    state.put_request(replace(fact, first_approval_us=entry.time_us))
    _charge_fee(poster, fact, entry.payload)


def fee_due(
    state: CreditState, params: dict[str, int], *, consumer: int, provider: int, tier: str, duration_days: int
) -> tuple[int, int]:
    """(fee, what the consumer's allowance can pay of it) for a grant: no fee between members of one
    affiliation group. Raises InsufficientCredit with the shortfall and the fee."""
    if group_of(state, consumer) == group_of(state, provider):
        return 0, 0  # self-dealing: no fee
    fee = grant_fee(params, tier, duration_days)
    allowance = state.balance(member_allowance(consumer)).spendable
    available = state.balance(member_available(consumer)).spendable
    if allowance + available < fee:
        raise InsufficientCredit(member_available(consumer), fee - allowance - available, required=fee)
    return fee, allowance


def _charge_fee(poster: Poster, fact: RequestFact, payload: dict[str, Any]) -> None:
    consumer, provider = fact.consumer_member, fact.provider_member
    fee, allowance = fee_due(
        poster.state,
        poster.rules.params,
        consumer=consumer,
        provider=provider,
        tier=fact.tier,
        duration_days=int(payload.get("duration_days", 0)),
    )
    _hold_fee(
        poster,
        fee=fee,
        allowance=allowance,
        consumer=consumer,
        provider=provider,
        ref=f"request:{fact.request}",
    )


def _hold_fee(poster: Poster, *, fee: int, allowance: int, consumer: int, provider: int, ref: str) -> None:
    """Pending legs: the consumer pays (allowance first, then available) the provider and the fees account."""
    if fee <= 0:
        return
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


def _granted(poster: Poster) -> None:
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


def _closed_before_grant(poster: Poster) -> None:
    entry = poster.entry
    if entry.subject_type != "access_request":
        return  # a grant's expiry: its fee stands
    for leg in poster.state.unresolved(f"request:{entry.payload['request']}"):
        poster.resolve(leg, post=False, code="fee_void")


def _revoked(poster: Poster) -> None:
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


def _released(poster: Poster) -> None:
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


def _downloaded(poster: Poster) -> None:
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


def _settled(poster: Poster) -> None:
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
            settlement={
                **summary,
                "flags": [flag_as_dict(flag) for flag in result.flags],
                # each provider's points as settled, for statements and the leaderboard
                "members": [
                    {
                        "member": mint.member,
                        "group": mint.group,
                        "raw_points": mint.raw_points,
                        "damped_points": mint.damped_points,
                    }
                    for mint in result.mints
                ],
            },
        )
    )


def _audit_resolved(poster: Poster) -> None:
    payload = poster.entry.payload
    ref, decision = payload.get("mint"), payload.get("decision")
    if decision not in {"release", "forfeit"}:
        raise CreditError("An audit resolution releases or forfeits a held mint.")
    held = poster.state.unresolved(f"mint:{ref}")
    if not held:
        raise CreditError(f"No held mint {ref}.")
    for leg in held:
        poster.resolve(leg, post=decision == "release", code="mint_resolved")


def _adjusted(poster: Poster) -> None:
    payload = poster.entry.payload
    approvers, reason = payload.get("approvers"), payload.get("reason")
    # users are named by id: [7, "7"] or [7, None] is one approver, not two
    if (
        not isinstance(approvers, list)
        or any(type(approver) is not int for approver in approvers)
        or len(set(approvers)) < 2
    ):
        raise CreditError("An adjustment needs two different approvers.")
    if not isinstance(reason, str) or not reason.strip():
        raise CreditError("An adjustment needs a reason.")
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
