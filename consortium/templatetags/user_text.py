"""Template filters that show user-supplied text (names, titles, file names) inside other text without
letting its direction reorder that text (consortium.text): `bdi` in HTML content, `isolate` where no markup
can go (a page's <title>, an attribute, a plain-text e-mail)."""

from __future__ import annotations

from typing import Any

from django import template

from consortium import text

register = template.Library()


@register.filter(is_safe=True)
def bdi(value: Any) -> str:
    """`value` in a <bdi> element, escaped and balanced (consortium.text.bdi)."""
    return text.bdi(value)


@register.filter(is_safe=True)
def isolate(value: Any) -> str:
    """`value` between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE, balanced
    (consortium.text.isolated); escaped by the template as any value is."""
    return text.isolated(value)
