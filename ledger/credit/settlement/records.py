"""What epoch settlement reads and returns, and the point sums it is built on (pure, standard library only).

Every quantity is an integer: amounts in milli-credits (mCR), points in milli-points (mPT, same scale:
1 CR = 1 PT = 1000), multipliers in basis points (10000 = 1.0). Each formula is computed on exact integers
and floored once at its end; rounding dust stays in the pool (unminted). Inputs are put in ledger order
(``seq``) first, so any permutation of the input sequences gives an equal :class:`Settlement`.

Notation: ``P[I][J]`` is what provider group ``I`` earned from consumer group ``J`` in the epoch (sum of the
``points`` of ``uses`` with that provider and consumer group); ``P[I] = sum_J P[I][J]``; ``p(I, J, x)``
is what member ``x`` of ``I`` earned from ``J``. Parameters are the ``RULES_V1`` keys of ``params``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

BPS = 10000


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
    """One ``access.granted`` since the previous settlement (for rubber-stamp detection)."""

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
    grants: Sequence[GrantFact]  # the grants since the previous settlement
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


# --- point sums (the mint and the flags read them) ----------------------------------------------------------

Pair = tuple[str, str]  # (provider group, consumer group)


def points_by_pair(uses: Iterable[CreditedUse]) -> dict[Pair, int]:
    """``P[(I, J)]``: points provider group I earned from consumer group J."""
    points: dict[Pair, int] = defaultdict(int)
    for use in uses:
        points[(use.provider_group, use.consumer_group)] += use.points
    return dict(points)


def points_by_provider(pair_points: Mapping[Pair, int]) -> dict[str, int]:
    """``P[I]``: all the points provider group I earned."""
    totals: dict[str, int] = defaultdict(int)
    for (provider, _consumer), points in pair_points.items():
        totals[provider] += points
    return dict(totals)


def seqs_of_pairs(uses: Iterable[CreditedUse], keep: Iterable[Pair]) -> tuple[int, ...]:
    """Sorted seqs of the uses whose (provider group, consumer group) is in ``keep``."""
    wanted = set(keep)
    return tuple(sorted(u.seq for u in uses if (u.provider_group, u.consumer_group) in wanted))
