"""A settled epoch to read statements from: one provider, one consumer, a restricted grant and downloads."""

from __future__ import annotations

from typing import Any

from exchange import services as exchange
from exchange.models import AccessRequest
from ledger.credit import services
from ledger.credit.models import CreditEpoch
from ledger.services import ledger_append, ledger_sequence
from tests.exchange.support import published
from tests.ledger.credit.support import activate, admit


def grant_and_download(steward: Any, analyst: Any, *, downloads: int = 3, tier: str = "restricted") -> Any:
    """`analyst` gets a grant on a new dataset of `steward`'s member and downloads it `downloads` times."""
    dataset = published(steward, tier=tier, download_quota=max(downloads, 1))
    request, _ = exchange.access_request_submit(
        actor=analyst,
        dataset=dataset,
        purpose="research",
        justification="Benchmark our spindles.",
        duration_days=30,
        accepted_terms_version=dataset.policy.terms_version,
    )
    if tier != "open":
        exchange.access_request_approve(actor=steward, request=request)
    grant = AccessRequest.objects.get(pk=request.pk).grant
    for _ in range(downloads):
        _, _, _, handle = exchange.grant_download(actor=analyst, grant=grant)
        handle.close()
    return dataset


def settled_epoch(*, provider: Any, consumer: Any, members: list[Any], downloads: int = 3) -> str:
    """Credit on, `members` admitted, one grant with downloads from `consumer` of `provider`'s dataset, the
    epoch settled early. Returns the epoch's name."""
    activate()
    admit(*members)
    grant_and_download(provider, consumer, downloads=downloads)
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    return epoch


def use_of(*, provider: int, consumer: int, dataset: int, tier: str = "open") -> None:
    """A `data.downloaded` entry straight into the ledger (many uses without building grants)."""
    ledger_append(
        kind="data.downloaded",
        actor=None,
        subject_type="grant",
        subject_id=dataset,
        members=[consumer, provider],
        payload={
            "owner_member": provider,
            "grantee_member": consumer,
            "dataset": dataset,
            "tier": tier,
            "version_sha256": f"{dataset:064x}",
        },
    )


def settled_with_held_mint() -> tuple[str, Any]:
    """A settled epoch whose only provider's mint is held (a fresh cluster): 14 confidential first uses,
    210 CR, all from groups under 90 days. Returns (epoch, provider)."""
    from tests.factories import MemberFactory

    provider, *fresh = MemberFactory.create_batch(3)
    activate()
    admit(provider, *fresh)
    for dataset in range(1, 15):
        use_of(provider=provider.pk, consumer=fresh[dataset % 2].pk, dataset=dataset, tier="confidential")
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    return epoch, provider


def settled_with_mint_held_twice() -> tuple[str, Any]:
    """A settled epoch whose provider's mint is held by two flags, a ring and a fresh cluster. Confidential
    first uses of 15 CR: the provider earns 60 CR from b and 210 CR from two fresh groups, b earns 60 + 150
    CR from c, c 60 CR from the provider (a ring a <- b <- c <- a with 330 of its 540 CR inside, two outside
    consumers). Returns (epoch, provider)."""
    from tests.factories import MemberFactory

    provider, b, c, *fresh = MemberFactory.create_batch(5)
    activate()
    admit(provider, b, c, *fresh)
    datasets = iter(range(1, 100))
    for earner, payer, uses in ((provider, b, 4), (c, provider, 4), (b, c, 14)):
        for _ in range(uses):
            use_of(provider=earner.pk, consumer=payer.pk, dataset=next(datasets), tier="confidential")
    for index in range(14):
        use_of(
            provider=provider.pk, consumer=fresh[index % 2].pk, dataset=next(datasets), tier="confidential"
        )
    epoch = CreditEpoch.objects.get().epoch
    services.credit_epoch_settle(epoch=epoch, early=True)
    ledger_sequence()
    return epoch, provider
