"""Credit amounts on portal pages: the ledger counts integer milli-units (mCR, mPT); people read credits and
points. `{% cr amount "field" %}` shows 34728 as "34.728 CR" in a <data> element whose value, and hover
title, keep the exact integer (1 CR = 1000 mCR, so the three decimals lose nothing)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

UNITS = {"CR": "mCR", "PT": "mPT"}

ACCOUNT_KINDS = {
    "available": "Available credit",
    "allowance": "Allowance (not transferable)",
}


def milli_text(amount: int) -> str:
    """`amount` thousandths with three decimals and thousands separators: -1234567 -> -1,234.567."""
    whole, milli = divmod(abs(int(amount)), 1000)
    return f"{'-' if amount < 0 else ''}{whole:,}.{milli:03d}"


def _amount(amount: int | None, unit: str, field: str) -> SafeString | str:
    if amount is None:
        return "\N{EN DASH}"  # as the template shows a missing figure
    return format_html(
        '<data{} value="{}" title="{} {}">{} {}</data>',
        format_html(' data-field="{}"', field) if field else "",
        int(amount),
        int(amount),
        UNITS[unit],
        milli_text(amount),
        unit,
    )


@register.simple_tag
def cr(amount: int | None, field: str = "") -> SafeString | str:
    """An mCR amount as credits, the exact mCR kept in the element's value and title."""
    return _amount(amount, "CR", field)


@register.simple_tag
def pt(amount: int | None, field: str = "") -> SafeString | str:
    """An mPT amount as points, the exact mPT kept in the element's value and title."""
    return _amount(amount, "PT", field)


@register.simple_tag
def amount(value: int | None, unit: str, field: str = "") -> SafeString | str:
    """An amount in the unit its row names (CR or PT), as `cr` or `pt` shows it."""
    return _amount(value, unit, field)


@register.filter
def account_label(account: str) -> str:
    """What a member's account holds (CR:member:7:available -> Available credit); others as named."""
    if account.startswith("PT:"):
        return "Usage points"
    return ACCOUNT_KINDS.get(account.rsplit(":", 1)[-1], account)
