"""Epoch settlement, CREDIT.md rules v1: pair damping, members' mints, the rate (pure, standard library only).

:func:`settle` is a pure function of a :class:`SettlementInput`: no clock, no randomness, no I/O. Units,
rounding and the notation are those of :mod:`ledger.credit.settlement.records`; the flags are those of
:mod:`ledger.credit.settlement.flags`.

Settlement (CREDIT.md "Settlement"):

* pair damping, per ordered group pair: ``m = min(P[I][J], P[J][I])``, ``M = damping_m_mcr``,
  ``P'[I][J] = min(pair_cap_mcr, floor(P[I][J] * M / (M + m)))``;
* distribution to members: ``P'(x) = sum_J floor(P'[I][J] * p(I, J, x) / P[I][J])`` (pairs with
  ``P[I][J] = 0`` give nothing); what the floors drop stays unminted;
* ``S = sum_x P'(x)``, ``B = budget``, ``cap = floor(B * member_mint_cap_bps / 10000)``;
  ``mint(x) = min(floor(P'(x) * B / S) if S > B else P'(x), cap)``. What the cap cuts stays in the pool
  (it is not redistributed), so ``sum mint <= min(B, S)``;
* ``rate_bps = min(10000, floor(B * 10000 / S))`` (10000 when ``S = 0``), for display only.

Members: a member's ``group`` is the provider group of its latest use (highest ``seq``); ``flag_rules`` lists,
in rule order, the rules of flags covering any group the member earned under in the epoch; ``held`` is true
when one of those flags holds mints. A held mint is still computed, so it can be posted pending.

Input is refused with :class:`SettlementError` (a ``ValueError``) when: a parameter is missing or not a
non-negative integer; the budget is negative; a use has negative points or the same provider and consumer
group (self-dealing is never credited); a seq repeats within ``uses``, ``window_uses`` or ``grants`` (a use in
both lists must be the same record); a use is missing from ``window_uses``; or a consumer group is absent
from ``groups``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import pairwise

from ledger.credit.settlement.flags import FLAG_RULES, anti_gaming_flags
from ledger.credit.settlement.records import (
    BPS,
    CreditedUse,
    GroupFact,
    MemberMint,
    Pair,
    Settlement,
    SettlementError,
    SettlementInput,
    points_by_pair,
)

_PARAMS = (
    "damping_m_mcr",
    "pair_cap_mcr",
    "member_mint_cap_bps",
    "reciprocity_window_days",
    "reciprocity_min_mcr",
    "reciprocity_ratio_bps",
    "ring_edge_min_mcr",
    "ring_min_size",
    "ring_inside_share_bps",
    "ring_outside_consumers_below",
    "fresh_group_age_days",
    "fresh_share_bps",
    "fresh_min_mcr",
    "concentration_share_bps",
    "concentration_min_mcr",
    "rubber_stamp_grants",
    "rubber_stamp_window_seconds",
    "rubber_stamp_fast_seconds",
)


def _check_params(params: Mapping[str, int]) -> dict[str, int]:
    """The parameters settlement reads, each a non-negative int; raises SettlementError naming a bad one."""
    checked: dict[str, int] = {}
    for name in _PARAMS:
        if name not in params:
            raise SettlementError(f"Missing rules parameter: {name}.")
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettlementError(f"Rules parameter {name} must be a non-negative integer.")
        checked[name] = value
    return checked


def _ordered_uses(uses: Iterable[CreditedUse], what: str) -> list[CreditedUse]:
    """Uses sorted by seq after checking seqs are unique, points non-negative and no self-dealing."""
    ordered = sorted(uses, key=lambda u: u.seq)
    for previous, use in pairwise(ordered):
        if previous.seq == use.seq:
            raise SettlementError(f"{what}: seq {use.seq} appears twice.")
    for use in ordered:
        if use.points < 0:
            raise SettlementError(f"{what}: use {use.seq} has negative points.")
        if use.provider_group == use.consumer_group:
            raise SettlementError(f"{what}: use {use.seq} is within group {use.provider_group!r}.")
    return ordered


def _window(data: SettlementInput, uses: list[CreditedUse], window_days: int) -> list[CreditedUse]:
    """The reciprocity window's uses, after checking every epoch use is among them, identically."""
    window = _ordered_uses(data.window_uses, "window_uses")
    by_seq = {use.seq: use for use in window}
    for use in uses:
        if by_seq.get(use.seq) != use:
            raise SettlementError(f"use {use.seq} is not the same record in window_uses.")
    first_day = data.end_day - window_days + 1
    return [use for use in window if first_day <= use.day <= data.end_day]


def _check_groups(uses: Iterable[CreditedUse], groups: Mapping[str, GroupFact]) -> None:
    for use in uses:
        if use.consumer_group not in groups:
            raise SettlementError(f"use {use.seq}: consumer group {use.consumer_group!r} is not in groups.")


# --- settlement ---------------------------------------------------------------------------------------------


def damped_pair_points(points_ij: int, points_ji: int, damping_m: int, pair_cap: int) -> int:
    """``min(pair_cap, floor(P_ij * M / (M + min(P_ij, P_ji))))``; 0 when both M and m are 0."""
    denominator = damping_m + min(points_ij, points_ji)
    if denominator == 0:
        return 0
    return min(pair_cap, points_ij * damping_m // denominator)


def _damped_members(uses: list[CreditedUse], params: Mapping[str, int]) -> dict[int, int]:
    """``P'(x)`` for every provider member: each pair's damped points shared pro rata, each share floored."""
    pair_points = points_by_pair(uses)
    member_pair_points: dict[Pair, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for use in uses:
        member_pair_points[(use.provider_group, use.consumer_group)][use.provider_member] += use.points
    damped: dict[int, int] = defaultdict(int)
    for pair in sorted(pair_points):
        provider, consumer = pair
        raw = pair_points[pair]
        if raw == 0:
            continue
        pair_damped = damped_pair_points(
            raw, pair_points.get((consumer, provider), 0), params["damping_m_mcr"], params["pair_cap_mcr"]
        )
        for member, member_raw in sorted(member_pair_points[pair].items()):
            damped[member] += pair_damped * member_raw // raw
    return dict(damped)


def mint_amount(damped: int, total_damped: int, budget: int, member_cap: int) -> int:
    """``min(floor(P' * B / S) if S > B else P', member_cap)``, one floor."""
    scaled = damped * budget // total_damped if total_damped > budget else damped
    return min(scaled, member_cap)


def rate_bps(budget: int, total_damped: int) -> int:
    """``min(10000, floor(B * 10000 / S))``, 10000 when ``S = 0``: the display rate."""
    if total_damped == 0:
        return BPS
    return min(BPS, budget * BPS // total_damped)


# --- entry point --------------------------------------------------------------------------------------------


def settle(data: SettlementInput) -> Settlement:
    """Settle one epoch: damped points, mints and flags, exactly as this module and `flags` pin them.

    Guarantees: a pure function of ``data`` (equal inputs in any order give an equal result);
    ``minted <= budget``; for every member ``amount <= damped_points <= raw_points`` and
    ``amount <= floor(budget * member_mint_cap_bps / 10000)``. Raises :class:`SettlementError` on input
    that breaks the contract listed in the module docstring.
    """
    params = _check_params(data.params)
    if data.budget < 0:
        raise SettlementError("The budget must not be negative.")
    uses = _ordered_uses(data.uses, "uses")
    window = _window(data, uses, params["reciprocity_window_days"])
    _check_groups(uses, data.groups)

    flags = anti_gaming_flags(
        uses=uses, window=window, grants=data.grants, groups=data.groups, end_day=data.end_day, params=params
    )

    raw: dict[int, int] = defaultdict(int)
    member_groups: dict[int, set[str]] = defaultdict(set)
    latest_group: dict[int, str] = {}
    for use in uses:  # seq order: the last one seen is the latest
        raw[use.provider_member] += use.points
        member_groups[use.provider_member].add(use.provider_group)
        latest_group[use.provider_member] = use.provider_group
    damped = _damped_members(uses, params)
    total_damped = sum(damped.values())
    member_cap = data.budget * params["member_mint_cap_bps"] // BPS

    mints = []
    for member in sorted(raw):
        if raw[member] == 0:
            continue
        covering = [flag for flag in flags if member_groups[member].intersection(flag.covers)]
        member_damped = damped.get(member, 0)
        mints.append(
            MemberMint(
                member=member,
                group=latest_group[member],
                raw_points=raw[member],
                damped_points=member_damped,
                amount=mint_amount(member_damped, total_damped, data.budget, member_cap),
                held=any(flag.holds_mint for flag in covering),
                flag_rules=tuple(rule for rule in FLAG_RULES if any(f.rule == rule for f in covering)),
            )
        )
    return Settlement(
        epoch=data.epoch,
        budget=data.budget,
        total_damped=total_damped,
        rate_bps=rate_bps(data.budget, total_damped),
        mints=tuple(mints),
        flags=tuple(flags),
        minted=sum(m.amount for m in mints),
    )
