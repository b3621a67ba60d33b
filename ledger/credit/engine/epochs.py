"""Epochs and the points downloads earn in them: the budget, each use's points, the settlement."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from ledger.credit.engine.posting import Poster
from ledger.credit.engine.settling import compute_settlement, flag_as_dict
from ledger.credit.engine.state import (
    ISSUANCE,
    POINTS_SOURCE,
    POOL,
    US_PER_DAY,
    CreditError,
    EpochFact,
    UseFact,
    group_of,
    member_available,
    member_points,
)


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
