"""Auditors' lists of credit transfers, held mints and adjustments; affiliation claims."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet

from consortium.errors import NotFound
from consortium.roles import Capability, can
from ledger.credit import statements
from ledger.credit.models import AffiliationClaim, CreditAdjustment, CreditEpoch, CreditTransfer
from ledger.credit.selectors.common import OPEN_END, require_auditor


def transfer_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditTransfer]:
    """Every transfer by credit order and leg, with its ledger sequence number (`seq`), for auditors;
    NotFound for others."""
    require_auditor(user, api_key, "transfers")
    return CreditTransfer.objects.annotate(seq=F("entry__leaf__seq")).order_by("order", "leg")


def epoch_order_range(epoch: str) -> tuple[int, int]:
    """The credit orders an epoch spans: from its opening to its settlement (open end while open)."""
    row = CreditEpoch.objects.filter(epoch=epoch).values("opened_order", "settled_order").first()
    if row is None:
        return 0, -1
    return row["opened_order"], row["settled_order"] if row["settled_order"] >= 0 else OPEN_END


def held_mint_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditTransfer]:
    """Mints still held (pending, neither released nor forfeited), for auditors; NotFound for others."""
    require_auditor(user, api_key, "held mints")
    resolved = CreditTransfer.objects.filter(code="mint_resolved").values("pending_id")
    return (
        CreditTransfer.objects.filter(code="mint", flag=statements.PENDING)
        .exclude(id__in=resolved)
        .annotate(seq=F("entry__leaf__seq"))
        .order_by("order", "leg")
    )


def adjustment_list_for(*, user: Any, api_key: Any = None) -> QuerySet[CreditAdjustment]:
    """Proposed and approved adjustments, newest first, for auditors; NotFound for others."""
    require_auditor(user, api_key, "adjustments")
    return CreditAdjustment.objects.select_related("proposed_by", "approved_by", "withdrawn_by").order_by(
        "-proposed_at", "-id"
    )


def adjustment_get_for(*, user: Any, pk: int, api_key: Any = None) -> CreditAdjustment:
    """One adjustment; NotFound when absent or for anyone but auditors."""
    found = adjustment_list_for(user=user, api_key=api_key).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No adjustment {pk}.")
    return found


def affiliation_claim_list_for(*, user: Any, api_key: Any = None) -> QuerySet[AffiliationClaim]:
    """Declarations made by the caller's member or naming it as parent, newest first; officers see all."""
    claims = AffiliationClaim.objects.order_by("-declared_at", "-id")
    if can(user, Capability.DECIDE_MEMBERSHIP, api_key):
        return claims
    member_id = getattr(user, "member_id", None)
    if member_id is None or not can(user, Capability.VIEW_OWN_MEMBER, api_key):
        return claims.none()
    return claims.filter(Q(member=member_id) | Q(parent=member_id))


def affiliation_claim_get_for(*, user: Any, pk: int, api_key: Any = None) -> AffiliationClaim:
    """One declaration the caller may see; NotFound otherwise."""
    found = affiliation_claim_list_for(user=user, api_key=api_key).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No affiliation claim {pk}.")
    return found
