"""The anti-gaming flags of an epoch, CREDIT.md rules v1 (pure, standard library only).

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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from ledger.credit.settlement.records import (
    BPS,
    CreditedUse,
    Flag,
    GrantFact,
    GroupFact,
    Pair,
    SettlementError,
    points_by_pair,
    points_by_provider,
    seqs_of_pairs,
)

FLAG_RULES: tuple[str, ...] = ("reciprocity", "ring", "fresh_cluster", "concentration", "rubber_stamp")
"""The rules computed here, in the order flags are reported."""
APPROVAL_TIERS: frozenset[str] = frozenset({"restricted", "confidential"})
"""Tiers whose grants need a human approval, so they can be rubber-stamped."""
US_PER_SECOND = 1_000_000


def _reciprocity_flags(window: list[CreditedUse], params: Mapping[str, int]) -> list[Flag]:
    """Pairs trading both ways in the window, each side above the minimum and balanced within the ratio."""
    points = points_by_pair(window)
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
                evidence=seqs_of_pairs(window, [(a, b), (b, a)]),
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
    points = points_by_pair(uses)
    totals = points_by_provider(points)
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
                evidence=seqs_of_pairs(uses, [(i, j) for i in component for j in component if i != j]),
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
    points = points_by_pair(uses)
    totals = points_by_provider(points)
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
                evidence=seqs_of_pairs(uses, [(provider, j) for j in fresh_consumers]),
                holds_mint=True,
                covers=(provider,),
            )
        )
    return flags


def _concentration_flags(uses: list[CreditedUse], params: Mapping[str, int]) -> list[Flag]:
    """Providers earning most of their points from one consumer group."""
    points = points_by_pair(uses)
    totals = points_by_provider(points)
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
                evidence=seqs_of_pairs(uses, [(provider, consumer)]),
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


def anti_gaming_flags(
    *,
    uses: list[CreditedUse],
    window: list[CreditedUse],
    grants: Sequence[GrantFact],
    groups: Mapping[str, GroupFact],
    end_day: int,
    params: Mapping[str, int],
) -> list[Flag]:
    """Every flag of the epoch, in the order the module docstring pins: the epoch's checked ``uses``, the
    reciprocity ``window``'s uses, the ``grants`` (checked here), the ``groups`` of every consumer group.
    Raises SettlementError when a grant's seq repeats."""
    return sorted(
        [
            *_reciprocity_flags(window, params),
            *_ring_flags(uses, params),
            *_fresh_cluster_flags(uses, groups, end_day, params),
            *_concentration_flags(uses, params),
            *_rubber_stamp_flags(grants, params),
        ],
        key=_flag_order,
    )
