"""What the anti-gaming flags and their metrics mean, in plain words, for the portal's credit pages (pure,
standard library only).

The words follow docs/credit.md and CREDIT.md "Anti-gaming"; the flags themselves are computed in
:mod:`ledger.credit.settlement.flags` (reciprocity, ring, fresh_cluster, concentration, rubber_stamp) and
:func:`ledger.credit.engine.duplicate_listing_flags`.

The rules are data (:mod:`ledger.credit.rules`) and a change takes effect from the next epoch, so the shares,
counts and windows in the words are not fixed here: each rule's words (:data:`RULE_WORDS`) name the rules
parameters they state as ``{parameter:kind}`` fields, and :func:`rule` / :func:`rules` fill them in from the
parameters passed in. The caller passes the parameters of the rules the shown epoch runs under (a statement's
or a leaderboard's epoch; a flag's own epoch for a flag), never the rules in force now, because that epoch's
flags were raised under its own rules. Text that is about no epoch (the API schema) passes rules v1 and says
so. The minimum amounts the rules set (which the demo rules lower) are still left out of the words: a flag's
metrics carry the values it was raised on.

Field kinds: ``days`` (``90 days``, ``a day``), ``seconds`` (the largest whole unit: ``a minute``,
``90 seconds``, ``24 hours``; days only from two days on), ``share`` (basis points as a percentage, nothing
rounded: ``60%``, ``60.25%``; 5000 reads ``half``), ``share_of`` (``60% of``, or ``half``), ``count``
(``three``; digits above ten) and ``count <noun>`` (``three consumers``, ``one consumer``). A rendered text
starts with a capital letter. A rule whose words name a parameter the given rules lack (a later rules
version) is shown by its label alone; an unknown rule name is shown as itself.

A metric is shown as ``(label, kind)``: kind ``points`` is an amount in mPT, ``bps`` basis points
(10000 = 100%), ``us`` microseconds, ``seconds`` and ``count`` are plain integers.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One anti-gaming rule: its name in words, what it detects and what it does to credit."""

    label: str
    detects: str
    effect: str


RULE_WORDS: dict[str, Rule] = {
    "duplicate_listing": Rule(
        "Duplicate listing",
        "A file (the same SHA-256) was first registered by another group: the copy's downloads earn no "
        "points.",
        "No points for those downloads; the flag is for the auditors.",
    ),
    "reciprocity": Rule(
        "Reciprocity",
        "Two groups used each other's data both ways within {reciprocity_window_days:days}, each side "
        "earning a sizeable and similar amount (the smaller at least {reciprocity_ratio_bps:share_of} the "
        "larger): possibly downloads swapped to farm credit.",
        "Their points from each other are damped at settlement; nothing is held.",
    ),
    "ring": Rule(
        "Ring",
        "{ring_min_size:count} or more groups earn mostly from each other in a loop (at least "
        "{ring_inside_share_bps:share} of their points from inside it) and have fewer than "
        "{ring_outside_consumers_below:count consumer} outside it.",
        "The mints of every member of these groups are held until an auditor releases or forfeits them.",
    ),
    "fresh_cluster": Rule(
        "Fresh cluster",
        "At least {fresh_share_bps:share} of a provider's points came from groups less than "
        "{fresh_group_age_days:days} old that list no data of their own: possibly members set up only to "
        "use its data.",
        "The provider's mint is held until an auditor releases or forfeits it.",
    ),
    "concentration": Rule(
        "Concentration",
        "One consumer group gave more than {concentration_share_bps:share} of a provider's points.",
        "None by itself; the flag is for the auditors.",
    ),
    "rubber_stamp": Rule(
        "Rubber stamp",
        "Approvals that look unreviewed: a restricted request approved less than "
        "{rubber_stamp_fast_seconds:seconds} after it was made, or {rubber_stamp_grants:count} or more "
        "grants from one provider to one consumer within {rubber_stamp_window_seconds:seconds}.",
        "None by itself; the flag is for the auditors.",
    ),
}
"""Every anti-gaming rule in the order settlement reports them, its words naming the rules parameters they
state as ``{parameter:kind}`` fields (see the module docstring); :func:`rule` fills them in."""

METRICS: dict[str, tuple[str, str]] = {
    "uses": ("downloads that earned nothing", "count"),
    "points_ab": ("points the first group earned from the second", "points"),
    "points_ba": ("points the second group earned from the first", "points"),
    "ratio_bps": ("the smaller direction as a share of the larger", "bps"),
    "size": ("groups in the ring", "count"),
    "inside_points": ("points the ring's groups earned from each other", "points"),
    "total_points": ("all points the provider group earned (a ring: its groups together)", "points"),
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


def rule(name: str, params: Mapping[str, int]) -> Rule:
    """The rule named `name` in words, its shares, counts and windows those of `params` (the parameters of
    the rules the shown epoch runs under). An unknown name (a later rules version) is shown as itself; a rule
    whose words name a parameter `params` lacks, by its label alone."""
    words = RULE_WORDS.get(name)
    if words is None:
        return Rule(name, "", "")
    if not (parameters(words.detects) | parameters(words.effect)) <= params.keys():
        return Rule(words.label, "", "")
    return Rule(words.label, _render(words.detects, params), _render(words.effect, params))


def rules(params: Mapping[str, int]) -> dict[str, Rule]:
    """Every anti-gaming rule in words under `params` (see :func:`rule`), in the order settlement reports
    them."""
    return {name: rule(name, params) for name in RULE_WORDS}


def parameters(words: str) -> set[str]:
    """The rules parameters a text of :data:`RULE_WORDS` names."""
    return {field for _, field, _, _ in string.Formatter().parse(words) if field}


def metric(name: str) -> tuple[str, str]:
    """``(label, kind)`` of a metric; an unknown one is labelled by its name, shown as a plain integer."""
    return METRICS.get(name, (name, "count"))


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# (seconds in the unit, its name, one of it); a day only from two on: "within 24 hours" reads better
_TIME_UNITS = (
    (86400, "day", "a day"),
    (3600, "hour", "an hour"),
    (60, "minute", "a minute"),
    (1, "second", "a second"),
)
_HALF_BPS = 5000


def count_text(count: int) -> str:
    """A count in words up to ten, in digits above: 3 -> three, 12 -> 12, 1200 -> 1,200."""
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else f"{count:,}"


def days_text(days: int) -> str:
    """A number of days: 90 -> 90 days, 1 -> a day."""
    return "a day" if days == 1 else f"{days:,} days"


def seconds_text(seconds: int) -> str:
    """A number of seconds in the largest unit that divides it exactly, days only from two days on:
    60 -> a minute, 90 -> 90 seconds, 3600 -> an hour, 86400 -> 24 hours, 172800 -> 2 days."""
    for size, unit, one in _TIME_UNITS:
        if seconds % size == 0 and seconds >= size * (2 if unit == "day" else 1):
            return one if seconds == size else f"{seconds // size:,} {unit}s"
    return f"{seconds:,} seconds"


def share_text(bps: int) -> str:
    """Basis points as a percentage, nothing rounded and no trailing zero: 6000 -> 60%, 6050 -> 60.5%,
    5 -> 0.05%; 5000 -> half."""
    if bps == _HALF_BPS:
        return "half"
    whole, hundredths = divmod(bps, 100)
    return f"{whole}%" if not hundredths else f"{whole}.{hundredths:02d}".rstrip("0") + "%"


def _share_of(bps: int) -> str:
    text = share_text(bps)
    return text if text == "half" else f"{text} of"  # "half the larger", "60% of the larger"


_KINDS: dict[str, Callable[[int], str]] = {
    "days": days_text,
    "seconds": seconds_text,
    "share": share_text,
    "share_of": _share_of,
    "count": count_text,
}


class _Words(string.Formatter):
    """Fills a ``{parameter:kind}`` field with the parameter's value in words (``count <noun>`` adds the
    noun, plural but for one)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        kind, _, noun = format_spec.partition(" ")
        text = _KINDS[kind](int(value))
        if noun:
            text = f"{text} {noun}{'' if value == 1 else 's'}"
        return text


def _render(words: str, params: Mapping[str, int]) -> str:
    text = _Words().vformat(words, (), params)
    return text[:1].upper() + text[1:]


def bps_text(value: int) -> str:
    """Basis points as a percentage with two decimals, nothing rounded: 8571 -> 85.71%."""
    whole, hundredths = divmod(abs(int(value)), 100)
    return f"{'-' if value < 0 else ''}{whole}.{hundredths:02d}%"


def duration_text(microseconds: int) -> str:
    """A duration in microseconds as seconds with three decimals (12244000 -> 12.244 s); finer than a
    millisecond is dropped."""
    whole, milli = divmod(abs(int(microseconds)) // 1000, 1000)
    return f"{'-' if microseconds < 0 else ''}{whole:,}.{milli:03d} s"
