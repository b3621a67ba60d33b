"""Access requests' fees (held, posted, voided, refunded), and the daily release of fees and allowances."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ledger.credit.engine.posting import Poster
from ledger.credit.engine.state import (
    FEES,
    POOL,
    US_PER_DAY,
    CreditState,
    InsufficientCredit,
    RequestFact,
    group_of,
    member_allowance,
    member_available,
)


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
