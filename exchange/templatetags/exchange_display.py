"""Template filters that show the exchange's stored codes as people read them: a policy's purposes, size
classes and sectors by their labels, and a request's ledger entries by what happened."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from consortium.models import Sector, SizeClass
from exchange.models import Purpose

register = template.Library()

VOCABULARIES = {"purpose": Purpose, "size_class": SizeClass, "sector": Sector}

# The entries a request's page lists (its own and its grant's), in words.
ENTRY_KINDS = {
    "access.requested": "Request submitted",
    "access.approved": "Approved",
    "access.rejected": "Rejected",
    "access.withdrawn": "Withdrawn by the requester",
    "access.expired": "Expired",
    "access.granted": "Grant issued",
    "access.revoked": "Grant revoked",
    "data.downloaded": "File downloaded",
}


@register.filter
def choice_labels(codes: Iterable[str], vocabulary: str) -> str:
    """The labels of `codes` in the named vocabulary, comma-separated; an unknown code stays as it is."""
    labels = dict(VOCABULARIES[vocabulary].choices)
    return ", ".join(str(labels.get(code, code)) for code in codes)


@register.filter
def entry_label(kind: str) -> str:
    """What a ledger entry of `kind` records, in words; the kind itself when it has no label here."""
    return ENTRY_KINDS.get(kind, kind)
