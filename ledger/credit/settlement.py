"""Epoch settlement and anti-gaming flags, CREDIT.md rules v1 (pure, standard library only, no Django).

:func:`settle` is a pure function of a :class:`SettlementInput`: no clock, no randomness, no I/O. Every
quantity is an integer: amounts in milli-credits (mCR), points in milli-points (mPT, same scale:
1 CR = 1 PT = 1000), multipliers in basis points (10000 = 1.0). Each formula is computed on exact integers
and floored once at its end; rounding dust stays in the pool (unminted). Inputs are put in ledger order
(``seq``) first, so any permutation of the input sequences gives an equal :class:`Settlement`.

Notation: ``P[I][J]`` is what provider group ``I`` earned from consumer group ``J`` in the epoch (sum of the
``points`` of ``uses`` with that provider and consumer group); ``P[I] = sum_J P[I][J]``; ``p(I, J, x)``
is what member ``x`` of ``I`` earned from ``J``. Parameters are the ``RULES_V1`` keys of ``params``.

Settlement (CREDIT.md "Settlement"):

* pair damping, per ordered group pair: ``m = min(P[I][J], P[J][I])``, ``M = damping_m_mcr``,
  ``P'[I][J] = min(pair_cap_mcr, floor(P[I][J] * M / (M + m)))``;
* distribution to members: ``P'(x) = sum_J floor(P'[I][J] * p(I, J, x) / P[I][J])`` (pairs with
  ``P[I][J] = 0`` give nothing); what the floors drop stays unminted;
* ``S = sum_x P'(x)``, ``B = budget``, ``cap = floor(B * member_mint_cap_bps / 10000)``;
  ``mint(x) = min(floor(P'(x) * B / S) if S > B else P'(x), cap)``. What the cap cuts stays in the pool
  (it is not redistributed), so ``sum mint <= min(B, S)``;
* ``rate_bps = min(10000, floor(B * 10000 / S))`` (10000 when ``S = 0``), for display only.

Flags (CREDIT.md "Anti-gaming"), in this order, from the input only. ``groups`` are all the groups involved;
``covers`` (an added field) are the groups whose members' mints the flag concerns; a holding flag sets
``held`` on every member of a covered group. ``evidence`` are sorted seqs of uses (grants for rubber_stamp).

1. ``reciprocity`` (no hold), per unordered pair ``{A, B}``, ``A < B``, over ``window_uses`` restricted to the
   days ``end_day - reciprocity_window_days + 1 .. end_day``: ``points_ab = W[A][B]`` and ``points_ba =
   W[B][A]`` both ``>= reciprocity_min_mcr`` and ``min * 10000 >= reciprocity_ratio_bps * max``. Metrics
   ``points_ab, points_ba, ratio_bps = floor(min * 10000 / max)``. Covers both groups.
2. ``ring`` (holds): a graph of groups with an edge consumer ``J`` -> provider ``I`` where
   ``P[I][J] >= ring_edge_min_mcr`` (edge direction does not change the components). For each strongly
   connected component ``C`` with ``|C| >= ring_min_size``: ``inside = sum_{I, J in C} P[I][J]`` (all epoch
   points between members of ``C``, not only edges), ``total = sum_{I in C} P[I]``, ``outside`` = number of
   distinct consumer groups not in ``C`` that gave any member of ``C`` positive points. Flag when
   ``inside * 10000 >= ring_inside_share_bps * total`` and ``outside < ring_outside_consumers_below``.
   Metrics ``size, inside_points, total_points, inside_share_bps, outside_consumers``. Covers ``C``.
3. ``fresh_cluster`` (holds), per provider group ``I``: a consumer group ``J`` is fresh when
   ``end_day - created_day < fresh_group_age_days`` and it lists nothing; ``fresh = sum over fresh J of
   P[I][J]``. Flag when ``fresh * 10000 >= fresh_share_bps * P[I]`` and ``fresh >= fresh_min_mcr``.
   Groups ``I`` and its fresh consumers; covers ``I``. Metrics ``fresh_points, total_points,
   fresh_share_bps, fresh_groups``.
4. ``concentration`` (no hold), per provider ``I`` and consumer ``J``: ``P[I][J] * 10000 >
   concentration_share_bps * P[I]`` and ``P[I][J] > concentration_min_mcr``. Groups ``I, J``; covers ``I``.
   Metrics ``points, total_points, share_bps``.
5. ``rubber_stamp`` (no hold), per ordered (provider group, consumer group) pair of different groups, over
   grants of the approval tiers (restricted, confidential: an open-tier grant is automatic, nobody
   approved it, so it cannot be rubber-stamped):

   * burst: ``rubber_stamp_grants`` grants whose ``granted_us`` span less than
     ``rubber_stamp_window_seconds`` (strictly, ``last - first < window``). One flag per pair; evidence
     every grant in any such run; metrics ``max_grants_in_window, window_seconds``;
   * fast: a restricted grant with ``first_approval_us - requested_us < rubber_stamp_fast_seconds * 10**6``.
     One flag per grant; metrics ``approval_delay_us, fast_limit_us``.

   Covers the provider group (its members approved).

Flags sort by (rule order above, groups, evidence, metrics items).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = [
    "APPROVAL_TIERS",
    "FLAG_RULES",
    "HOLDING_RULES",
    "CreditedUse",
    "Flag",
    "GrantFact",
    "GroupFact",
    "MemberMint",
    "Settlement",
    "SettlementError",
    "SettlementInput",
    "damped_pair_points",
    "mint_amount",
    "rate_bps",
    "settle",
    "strongly_connected_components",
]

FLAG_RULES: tuple[str, ...] = ("reciprocity", "ring", "fresh_cluster", "concentration", "rubber_stamp")
"""The rules computed here, in the order flags are reported."""
HOLDING_RULES: frozenset[str] = frozenset({"ring", "fresh_cluster"})
"""Rules whose flags hold the mints of the covered groups' members."""
APPROVAL_TIERS: frozenset[str] = frozenset({"restricted", "confidential"})
"""Tiers whose grants need a human approval, so they can be rubber-stamped."""
BPS = 10000
US_PER_SECOND = 1_000_000

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


class SettlementError(ValueError):
    """The settlement input breaks its contract; the message says which record or parameter."""


# --- input --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditedUse:
    """One credited use: points posted to a provider member for a download."""

    seq: int  # ledger ordering key of the entry (evidence)
    day: int  # UTC day number of the entry (days since 1970-01-01)
    provider_member: int
    provider_group: str  # affiliation group id of the provider
    consumer_group: str
    points: int  # mPT, already including D_k etc.


@dataclass(frozen=True)
class GrantFact:
    """One ``access.granted`` in the epoch (for rubber-stamp detection)."""

    seq: int
    granted_us: int  # microseconds since the Unix epoch of the grant
    requested_us: int  # of the request
    first_approval_us: int  # of the first approval (== granted_us for open tier auto grants)
    provider_group: str
    consumer_group: str
    tier: str  # "open" | "restricted" | "confidential"


@dataclass(frozen=True)
class GroupFact:
    """What the fresh-cluster rule needs to know about an affiliation group."""

    group: str
    created_day: int  # UTC day number the group's oldest member was admitted
    lists_anything: bool  # the group has listed at least one dataset by the epoch's end


@dataclass(frozen=True)
class SettlementInput:
    """Everything :func:`settle` reads; built from ledger entries only."""

    epoch: str  # "2026-11"
    end_day: int  # UTC day number of the last day of the epoch
    budget: int  # B, mCR
    params: Mapping[str, int]  # rules params (RULES_V1 keys)
    uses: Sequence[CreditedUse]  # the epoch's credited uses
    window_uses: Sequence[CreditedUse]  # credited uses in the reciprocity window, a superset of `uses`
    grants: Sequence[GrantFact]  # the epoch's grants
    groups: Mapping[str, GroupFact]  # every group that appears


# --- output -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One anti-gaming finding: the rule, the values it compared and the entries behind it."""

    rule: str  # one of FLAG_RULES
    groups: tuple[str, ...]  # the groups involved, sorted
    metrics: dict[str, int]  # the metric values the rule compared
    evidence: tuple[int, ...]  # sorted ledger seqs of the entries that gave rise to it
    holds_mint: bool  # ring and fresh_cluster hold mints; others do not
    covers: tuple[str, ...] = field(default=())  # sorted groups whose members' mints the flag concerns


@dataclass(frozen=True)
class MemberMint:
    """One provider member's result for the epoch."""

    member: int
    group: str  # provider group of the member's latest use in the epoch
    raw_points: int  # sum of the member's points in the epoch
    damped_points: int  # P'_member after pair damping/cap
    amount: int  # mCR minted
    held: bool  # True if any holding flag covers the member's group
    flag_rules: tuple[str, ...]  # rules of the flags covering the member's groups, in FLAG_RULES order


@dataclass(frozen=True)
class Settlement:
    """The epoch's mints and flags."""

    epoch: str
    budget: int
    total_damped: int  # sum of P'
    rate_bps: int  # min(10000, floor(B*10000/sum P')) (10000 when the sum is 0); display only
    mints: tuple[MemberMint, ...]  # sorted by member id; members with zero raw points omitted
    flags: tuple[Flag, ...]  # sorted by (rule order, groups, evidence, metrics)
    minted: int  # sum of amounts


# --- validation and aggregation -----------------------------------------------------------------------------

Pair = tuple[str, str]  # (provider group, consumer group)


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


def _pair_points(uses: Iterable[CreditedUse]) -> dict[Pair, int]:
    """``P[(I, J)]``: points provider group I earned from consumer group J."""
    points: dict[Pair, int] = defaultdict(int)
    for use in uses:
        points[(use.provider_group, use.consumer_group)] += use.points
    return dict(points)


def _group_totals(pair_points: Mapping[Pair, int]) -> dict[str, int]:
    """``P[I]``: all the points provider group I earned."""
    totals: dict[str, int] = defaultdict(int)
    for (provider, _consumer), points in pair_points.items():
        totals[provider] += points
    return dict(totals)


def _seqs(uses: Iterable[CreditedUse], keep: Iterable[Pair]) -> tuple[int, ...]:
    """Sorted seqs of the uses whose (provider group, consumer group) is in ``keep``."""
    wanted = set(keep)
    return tuple(sorted(u.seq for u in uses if (u.provider_group, u.consumer_group) in wanted))


# --- settlement ---------------------------------------------------------------------------------------------


def damped_pair_points(points_ij: int, points_ji: int, damping_m: int, pair_cap: int) -> int:
    """``min(pair_cap, floor(P_ij * M / (M + min(P_ij, P_ji))))``; 0 when both M and m are 0."""
    denominator = damping_m + min(points_ij, points_ji)
    if denominator == 0:
        return 0
    return min(pair_cap, points_ij * damping_m // denominator)


def _damped_members(uses: list[CreditedUse], params: Mapping[str, int]) -> dict[int, int]:
    """``P'(x)`` for every provider member: each pair's damped points shared pro rata, each share floored."""
    pair_points = _pair_points(uses)
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


# --- flags --------------------------------------------------------------------------------------------------


def _reciprocity_flags(window: list[CreditedUse], params: Mapping[str, int]) -> list[Flag]:
    """Pairs trading both ways in the window, each side above the minimum and balanced within the ratio."""
    points = _pair_points(window)
    flags = []
    for a, b in sorted({tuple(sorted(pair)) for pair in points}):
        ab, ba = points.get((a, b), 0), points.get((b, a), 0)
        low, high = min(ab, ba), max(ab, ba)
        if low < params["reciprocity_min_mcr"] or high == 0:
            continue
        if low * BPS < params["reciprocity_ratio_bps"] * high:
            continue
        flags.append(
            Flag(
                rule="reciprocity",
                groups=(a, b),
                metrics={"points_ab": ab, "points_ba": ba, "ratio_bps": low * BPS // high},
                evidence=_seqs(window, [(a, b), (b, a)]),
                holds_mint=False,
                covers=(a, b),
            )
        )
    return flags


def strongly_connected_components(
    nodes: Iterable[str], edges: Mapping[str, Iterable[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative; nodes and successors visited in sorted order.

    Returns every component as a sorted list, the components sorted. Deterministic for equal inputs.
    """
    successors = {node: sorted(set(edges.get(node, ()))) for node in sorted(set(nodes))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in successors:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components)


def _ring_flags(uses: list[CreditedUse], params: Mapping[str, int]) -> list[Flag]:
    """Closed circles of groups trading mostly among themselves with few outside consumers."""
    points = _pair_points(uses)
    totals = _group_totals(points)
    edges: dict[str, set[str]] = defaultdict(set)
    nodes: set[str] = set()
    for (provider, consumer), value in points.items():
        nodes.update((provider, consumer))
        if value >= params["ring_edge_min_mcr"]:
            edges[consumer].add(provider)
    flags = []
    for component in strongly_connected_components(nodes, edges):
        if len(component) < params["ring_min_size"]:
            continue
        inside_set = set(component)
        inside = sum(v for (i, j), v in points.items() if i in inside_set and j in inside_set)
        total = sum(totals.get(group, 0) for group in component)
        outside = {j for (i, j), v in points.items() if i in inside_set and j not in inside_set and v > 0}
        if inside * BPS < params["ring_inside_share_bps"] * total:
            continue
        if len(outside) >= params["ring_outside_consumers_below"]:
            continue
        groups = tuple(component)
        flags.append(
            Flag(
                rule="ring",
                groups=groups,
                metrics={
                    "size": len(component),
                    "inside_points": inside,
                    "total_points": total,
                    "inside_share_bps": inside * BPS // total if total else BPS,
                    "outside_consumers": len(outside),
                },
                evidence=_seqs(uses, [(i, j) for i in component for j in component if i != j]),
                holds_mint=True,
                covers=groups,
            )
        )
    return flags


def _is_fresh(fact: GroupFact, end_day: int, age_days: int) -> bool:
    """A group younger than ``age_days`` at ``end_day`` that lists nothing."""
    return end_day - fact.created_day < age_days and not fact.lists_anything


def _fresh_cluster_flags(
    uses: list[CreditedUse], groups: Mapping[str, GroupFact], end_day: int, params: Mapping[str, int]
) -> list[Flag]:
    """Providers earning most of their points from young groups that list nothing."""
    points = _pair_points(uses)
    totals = _group_totals(points)
    flags = []
    for provider in sorted(totals):
        fresh_consumers = sorted(
            j
            for (i, j) in points
            if i == provider and _is_fresh(groups[j], end_day, params["fresh_group_age_days"])
        )
        fresh = sum(points[(provider, j)] for j in fresh_consumers)
        total = totals[provider]
        if fresh < params["fresh_min_mcr"] or fresh * BPS < params["fresh_share_bps"] * total:
            continue
        flags.append(
            Flag(
                rule="fresh_cluster",
                groups=tuple(sorted([provider, *fresh_consumers])),
                metrics={
                    "fresh_points": fresh,
                    "total_points": total,
                    "fresh_share_bps": fresh * BPS // total if total else BPS,
                    "fresh_groups": len(fresh_consumers),
                },
                evidence=_seqs(uses, [(provider, j) for j in fresh_consumers]),
                holds_mint=True,
                covers=(provider,),
            )
        )
    return flags


def _concentration_flags(uses: list[CreditedUse], params: Mapping[str, int]) -> list[Flag]:
    """Providers earning most of their points from one consumer group."""
    points = _pair_points(uses)
    totals = _group_totals(points)
    flags = []
    for provider, consumer in sorted(points):
        value, total = points[(provider, consumer)], totals[provider]
        if (
            value <= params["concentration_min_mcr"]
            or value * BPS <= params["concentration_share_bps"] * total
        ):
            continue
        flags.append(
            Flag(
                rule="concentration",
                groups=tuple(sorted((provider, consumer))),
                metrics={"points": value, "total_points": total, "share_bps": value * BPS // total},
                evidence=_seqs(uses, [(provider, consumer)]),
                holds_mint=False,
                covers=(provider,),
            )
        )
    return flags


def _burst_grants(grants: list[GrantFact], count: int, window_us: int) -> tuple[int, list[GrantFact]]:
    """The largest number of grants within one window, and every grant in a run of ``count`` within one."""
    if count == 0:
        return len(grants), list(grants)
    timeline = sorted(grants, key=lambda g: (g.granted_us, g.seq))
    busiest = 0
    in_burst: dict[int, GrantFact] = {}
    start = 0
    for end, grant in enumerate(timeline):
        while start <= end and grant.granted_us - timeline[start].granted_us >= window_us:
            start += 1
        busiest = max(busiest, end - start + 1)
        if end - start + 1 >= count:
            for member in timeline[end - count + 1 : end + 1]:
                in_burst[member.seq] = member
    return busiest, list(in_burst.values())


def _rubber_stamp_flags(grants: Sequence[GrantFact], params: Mapping[str, int]) -> list[Flag]:
    """Pairs granting in bursts, and restricted grants approved within seconds of the request."""
    ordered = sorted(grants, key=lambda g: g.seq)
    for previous, grant in pairwise(ordered):
        if previous.seq == grant.seq:
            raise SettlementError(f"grants: seq {grant.seq} appears twice.")
    by_pair: dict[Pair, list[GrantFact]] = defaultdict(list)
    for grant in ordered:
        if grant.tier in APPROVAL_TIERS and grant.provider_group != grant.consumer_group:
            by_pair[(grant.provider_group, grant.consumer_group)].append(grant)
    window_seconds = params["rubber_stamp_window_seconds"]
    fast_limit_us = params["rubber_stamp_fast_seconds"] * US_PER_SECOND
    flags = []
    for provider, consumer in sorted(by_pair):
        pair_grants = by_pair[(provider, consumer)]
        groups = tuple(sorted((provider, consumer)))
        busiest, burst = _burst_grants(
            pair_grants, params["rubber_stamp_grants"], window_seconds * US_PER_SECOND
        )
        if burst:
            flags.append(
                Flag(
                    rule="rubber_stamp",
                    groups=groups,
                    metrics={"max_grants_in_window": busiest, "window_seconds": window_seconds},
                    evidence=tuple(sorted(g.seq for g in burst)),
                    holds_mint=False,
                    covers=(provider,),
                )
            )
        for grant in pair_grants:
            delay = grant.first_approval_us - grant.requested_us
            if grant.tier == "restricted" and delay < fast_limit_us:
                flags.append(
                    Flag(
                        rule="rubber_stamp",
                        groups=groups,
                        metrics={"approval_delay_us": delay, "fast_limit_us": fast_limit_us},
                        evidence=(grant.seq,),
                        holds_mint=False,
                        covers=(provider,),
                    )
                )
    return flags


def _flag_order(flag: Flag) -> tuple[int, tuple[str, ...], tuple[int, ...], tuple[tuple[str, int], ...]]:
    return FLAG_RULES.index(flag.rule), flag.groups, flag.evidence, tuple(sorted(flag.metrics.items()))


def _check_groups(uses: Iterable[CreditedUse], groups: Mapping[str, GroupFact]) -> None:
    for use in uses:
        if use.consumer_group not in groups:
            raise SettlementError(f"use {use.seq}: consumer group {use.consumer_group!r} is not in groups.")


# --- entry point --------------------------------------------------------------------------------------------


def settle(data: SettlementInput) -> Settlement:
    """Settle one epoch: damped points, mints and flags, exactly as the module docstring pins them.

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

    flags = sorted(
        [
            *_reciprocity_flags(window, params),
            *_ring_flags(uses, params),
            *_fresh_cluster_flags(uses, data.groups, data.end_day, params),
            *_concentration_flags(uses, params),
            *_rubber_stamp_flags(data.grants, params),
        ],
        key=_flag_order,
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
