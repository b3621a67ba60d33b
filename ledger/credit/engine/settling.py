"""An epoch's settlement from a CreditState: settle()'s input, duplicate listings, `epoch.settled`'s summary.

Pure, standard library only. :func:`compute_settlement` is what both the service (to write the entry) and the
rules (to check the entry) run; ``ledger.credit.settlement.settle`` does the arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from ledger.credit import settlement as settlement_module
from ledger.credit import sumtree
from ledger.credit.engine.state import (
    POOL,
    US_PER_DAY,
    CreditError,
    CreditState,
    EpochFact,
    epoch_end_day,
    group_of,
    member_available,
)


def settles(use: Any) -> bool:
    """Whether settlement reads a use (a UseFact or a CreditUse row): credited, with points. The groups a
    member earned under in an epoch, whose flags hold its mint, are the provider groups of these uses."""
    return bool(use.credited and use.points > 0)


def settlement_input(state: CreditState, epoch: EpochFact, params: dict[str, int]) -> Any:
    """What settlement reads, gathered from the state (the epoch's uses, the window's, grants, groups)."""
    end_day = epoch_end_day(epoch.epoch)
    uses = [use for use in state.epoch_uses(epoch.epoch) if settles(use)]
    # A use recorded after the month ended but before the epoch is settled (the roll runs hourly, or
    # later) still belongs to the open epoch. settle() requires every epoch use among the window's, so
    # the window reads from the first epoch use to the last (else the epoch could never be settled).
    end_day = max([end_day, *(use.day for use in uses)])
    first_day = end_day - params["reciprocity_window_days"] + 1
    read_from = min([first_day, *(use.day for use in uses)])
    window = [use for use in state.uses_between(read_from, end_day) if settles(use)]
    # Grants from just after the previous settlement, as the statement's period: after an early settlement
    # the rest of that calendar month is checked by the next one, and no grant is read by two settlements.
    grants = state.grants_after(state.last_settled_order())
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

    return settlement_module.SettlementInput(
        epoch=epoch.epoch,
        end_day=end_day,
        budget=epoch.budget,
        params=params,
        uses=[credited_use(use) for use in uses],
        window_uses=[credited_use(use) for use in window],
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


def flag_as_dict(flag: Any) -> dict[str, Any]:
    """A settlement flag as `CreditEpoch.settlement["flags"]` keeps it (JSON: lists, sorted metrics)."""
    return {
        "rule": flag.rule,
        "groups": list(flag.groups),
        "covers": list(flag.covers),
        "metrics": dict(sorted(flag.metrics.items())),
        "evidence": list(flag.evidence),
        "holds_mint": flag.holds_mint,
    }


def credited_use(use: Any) -> settlement_module.CreditedUse:
    """What settlement reads of a credited use (a UseFact, or a CreditUse row: the same attributes)."""
    return settlement_module.CreditedUse(
        seq=use.order,
        day=use.day,
        provider_member=use.provider_member,
        provider_group=use.provider_group,
        consumer_group=use.consumer_group,
        points=use.points,
    )
