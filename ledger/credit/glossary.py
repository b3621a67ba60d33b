"""What the anti-gaming flags and their metrics mean, in plain words, for the portal's credit pages (pure,
standard library only).

The words follow docs/credit.md and CREDIT.md "Anti-gaming"; the flags themselves are computed in
:mod:`ledger.credit.settlement.flags` (reciprocity, ring, fresh_cluster, concentration, rubber_stamp) and
:func:`ledger.credit.engine.duplicate_listing_flags`. Thresholds that the rules in force set (minimum amounts,
which the demo rules lower) are left out of the words: a flag's metrics carry the values it was raised on.

A metric is shown as ``(label, kind)``: kind ``points`` is an amount in mPT, ``bps`` basis points
(10000 = 100%), ``us`` microseconds, ``seconds`` and ``count`` are plain integers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One anti-gaming rule: its name in words, what it detects and what it does to credit."""

    label: str
    detects: str
    effect: str


RULES: dict[str, Rule] = {
    "duplicate_listing": Rule(
        "Duplicate listing",
        "A file (the same SHA-256) was first registered by another group: the copy's downloads earn no "
        "points.",
        "No points for those downloads; the flag is for the auditors.",
    ),
    "reciprocity": Rule(
        "Reciprocity",
        "Two groups used each other's data both ways within 90 days, each side earning a sizeable and "
        "similar amount (the smaller at least half the larger): possibly downloads swapped to farm credit.",
        "Their points from each other are damped at settlement; nothing is held.",
    ),
    "ring": Rule(
        "Ring",
        "Three or more groups earn mostly from each other in a loop (at least 60% of their points from "
        "inside it) and have fewer than three consumers outside it.",
        "The mints of every member of these groups are held until an auditor releases or forfeits them.",
    ),
    "fresh_cluster": Rule(
        "Fresh cluster",
        "At least half of a provider's points came from groups less than 90 days old that list no data of "
        "their own: possibly members set up only to use its data.",
        "The provider's mint is held until an auditor releases or forfeits it.",
    ),
    "concentration": Rule(
        "Concentration",
        "One consumer group gave more than 60% of a provider's points.",
        "None by itself; the flag is for the auditors.",
    ),
    "rubber_stamp": Rule(
        "Rubber stamp",
        "Approvals that look unreviewed: a restricted request approved less than a minute after it was "
        "made, or three or more grants from one provider to one consumer within 24 hours.",
        "None by itself; the flag is for the auditors.",
    ),
}

METRICS: dict[str, tuple[str, str]] = {
    "uses": ("downloads that earned nothing", "count"),
    "points_ab": ("points the first group earned from the second", "points"),
    "points_ba": ("points the second group earned from the first", "points"),
    "ratio_bps": ("the smaller direction as a share of the larger", "bps"),
    "size": ("groups in the ring", "count"),
    "inside_points": ("points the ring's groups earned from each other", "points"),
    "total_points": ("all points of the groups concerned", "points"),
    "inside_share_bps": ("share of their points earned inside the ring", "bps"),
    "outside_consumers": ("consumer groups outside the ring", "count"),
    "fresh_points": ("points from fresh groups", "points"),
    "fresh_share_bps": ("share of the provider's points from fresh groups", "bps"),
    "fresh_groups": ("fresh consumer groups", "count"),
    "points": ("points from the one consumer group", "points"),
    "share_bps": ("that consumer's share of the provider's points", "bps"),
    "max_grants_in_window": ("most grants to the consumer within the window", "count"),
    "window_seconds": ("the window", "seconds"),
    "approval_delay_us": ("time from request to approval", "us"),
    "fast_limit_us": ("approvals faster than this are flagged", "us"),
}

UNCREDITED: dict[str, str] = {
    "self_dealing": "Self-dealing: provider and consumer are in the same affiliation group, so the use "
    "earns nothing.",
    "duplicate_listing": "Duplicate listing: another group registered this file first, so the use earns "
    "nothing.",
    "no_epoch": "No epoch was open when the use was recorded, so it earns nothing.",
}
"""Why a use earned nothing (a use's ``reason``), in words."""


def rule(name: str) -> Rule:
    """The rule named `name`; an unknown name (a later rules version) is shown as itself."""
    return RULES.get(name) or Rule(name, "", "")


def metric(name: str) -> tuple[str, str]:
    """``(label, kind)`` of a metric; an unknown one is labelled by its name, shown as a plain integer."""
    return METRICS.get(name, (name, "count"))


def bps_text(value: int) -> str:
    """Basis points as a percentage with two decimals, nothing rounded: 8571 -> 85.71%."""
    whole, hundredths = divmod(abs(int(value)), 100)
    return f"{'-' if value < 0 else ''}{whole}.{hundredths:02d}%"


def duration_text(microseconds: int) -> str:
    """A duration in microseconds as seconds with three decimals (12244000 -> 12.244 s); finer than a
    millisecond is dropped."""
    whole, milli = divmod(abs(int(microseconds)) // 1000, 1000)
    return f"{'-' if microseconds < 0 else ''}{whole:,}.{milli:03d} s"
