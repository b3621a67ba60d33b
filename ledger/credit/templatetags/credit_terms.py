"""Anti-gaming flags and their metrics in words on the portal's credit pages (see ledger.credit.glossary).

`{{ flag.rule|flag_rule:rules_params }}` gives the rule's label, what it detects and its effect, its shares,
counts and windows those of `rules_params`, the parameters of the rules the page's epoch runs under (the view
puts them in the context); `{% metric name value %}` shows one metric in words with its value in its unit
(points as PT, shares as percentages, durations in the largest whole unit or in seconds to the millisecond),
the exact integer kept in a <data> element's value as the JSON has it;
`{% flag_glossary rules_params epoch %}` lists every rule under those parameters;
`{{ use.reason|uncredited }}` says why a use earned nothing; `{{ line.ref|ref_request }}` is the access
request a grant fee's transfer belongs to, for a link to its page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from consortium.numbers import whole_number
from ledger.credit import glossary
from ledger.credit.templatetags.credit_units import milli_text

register = template.Library()


@register.filter
def flag_rule(name: str, params: Mapping[str, int] | None) -> glossary.Rule:
    """The rule named `name` in words (label, detects, effect) under the rules parameters `params` (None, no
    rules known: the label alone)."""
    return glossary.rule(name, params or {})


@register.filter
def ref_request(ref: str) -> int | None:
    """The access request a transfer's `ref` names ("request:17" -> 17: a grant fee's legs), else None."""
    kind, _, number = str(ref).partition(":")
    return whole_number(number) if kind == "request" else None


@register.filter
def uncredited(reason: str) -> str:
    """Why a use with this `reason` earned nothing, in words ("" for an unknown reason)."""
    return glossary.UNCREDITED.get(reason, "")


def _value_text(value: int, kind: str) -> str:
    if kind == "points":
        return f"{milli_text(value)} PT"
    if kind == "bps":
        return glossary.bps_text(value)
    if kind == "us":
        # A threshold is a whole number of seconds (the rules set it so) and reads as the rules' words do;
        # a measured time keeps its milliseconds.
        seconds, fraction = divmod(int(value), 1_000_000)
        if seconds > 0 and not fraction:
            return glossary.seconds_text(seconds)
        return glossary.duration_text(value)
    if kind == "seconds":
        return glossary.seconds_text(int(value))
    return f"{int(value):,}"


@register.simple_tag
def metric(name: str, value: int) -> SafeString:
    """One metric: its meaning, then its value in its unit; the name and exact integer on hover."""
    label, kind = glossary.metric(name)
    return format_html(
        '{}: <data data-metric="{}" value="{}" title="{} = {}">{}</data>',
        label,
        name,
        int(value),
        name,
        int(value),
        _value_text(value, kind),
    )


@register.inclusion_tag("credit/includes/flag_glossary.html")
def flag_glossary(params: Mapping[str, int] | None, epoch: str) -> dict[str, Any]:
    """Every anti-gaming rule in words, in the order settlement reports them, under the parameters `params`
    of the rules `epoch` runs under."""
    return {"rules": list(glossary.rules(params or {}).items()), "epoch": epoch}
