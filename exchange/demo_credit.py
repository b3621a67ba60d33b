"""The credit part of the exchange demo: usage that earns credit and trips every anti-gaming flag, settled.

Runs after `exchange.demo.seed_exchange_demo` (which calls it), through the services only, and is
idempotent like it. The demo rules (`ledger.credit.rules.DEMO_RULES`) trust every founder at once and
scale the anti-gaming thresholds to demo volumes. What it sets up, each with three downloads:

* a ring huaxin -> jinglan -> yuxing -> huaxin (each uses the next one's data, few outsiders): mints held;
* a reciprocal pair xinpeng <-> haitong, xinpeng's only consumer being haitong: reciprocity, concentration;
* haitong's data used mostly by fresh members that list nothing (lingxi, ruitai): fresh cluster, held;
* yuxing re-listing huaxin's spindle file: its downloads earn nothing, duplicate listing;
* every restricted approval given within a minute of the request: rubber stamp.

Then it settles the month early, so the leaderboard, statements, held mints and flags are there to see.
Downloads made in the demo afterwards earn points from the next epoch on.
"""

from __future__ import annotations

import logging

from django.db import transaction

from consortium.errors import Conflict
from consortium.management.commands.seed_demo import DEMO_PASSWORD
from consortium.models import Member, User
from consortium.services import user_create
from exchange import services
from exchange.demo import TERMS, _add_version, demo_csv
from exchange.models import AccessRequest, Dataset, Tier
from ledger.credit.models import CreditEpoch
from ledger.credit.services import credit_epoch_settle

logger = logging.getLogger(__name__)

# key: (owner, title, tier, file content title)
LISTINGS: dict[str, tuple[str, str, str, str]] = {
    "oee": ("xinpeng", "SMT line OEE summaries", Tier.RESTRICTED, "SMT line OEE summaries"),
    "cold-chain": ("haitong", "Cold-chain logistics lead times", Tier.RESTRICTED, "Cold-chain logistics"),
    "spindle-copy": ("yuxing", "Spindle vibration (re-listed)", Tier.OPEN, "CNC spindle vibration, 2025"),
}
# (requester username, (owner, title) of the dataset)
USES: list[tuple[str, tuple[str, str]]] = [
    ("huaxin-analyst", ("jinglan", "Industrial software feature usage")),
    ("jinglan-analyst", ("yuxing", "Injection mould temperature logs")),
    ("yuxing-steward", ("huaxin", "Machined part inspection records")),
    ("xinpeng-analyst", ("haitong", "Cold-chain logistics lead times")),
    ("haitong-analyst", ("xinpeng", "SMT line OEE summaries")),
    ("lingxi-analyst", ("haitong", "Cold-chain logistics lead times")),
    ("ruitai-admin", ("haitong", "Cold-chain logistics lead times")),
    ("haitong-analyst", ("yuxing", "Spindle vibration (re-listed)")),
]
DOWNLOADS_PER_USE = 3


def seed_credit_demo() -> int:
    """Create the credit demo's listings, uses and settlement; returns how many records it created."""
    created = _haitong_steward()
    for owner, title, tier, content_title in LISTINGS.values():
        created += _listing(owner, title, tier, content_title)
    for username, (owner, title) in USES:
        dataset = Dataset.objects.get(owner__users__username=f"{owner}-steward", title=title)
        with transaction.atomic():
            created += _use(User.objects.get(username=username), dataset)
    current = CreditEpoch.objects.filter(settled_order=-1).first()
    if current is not None and not CreditEpoch.objects.filter(settled_order__gte=0).exists():
        credit_epoch_settle(epoch=current.epoch, early=True)
        created += 1
    return created


def _haitong_steward() -> int:
    if User.objects.filter(username="haitong-steward").exists():
        return 0
    user_create(
        actor=User.objects.get(username="officer"),
        member=Member.objects.get(users__username="haitong-admin"),
        username="haitong-steward",
        email="haitong-steward@haitong.example.cn",
        role="data_steward",
        password=DEMO_PASSWORD,
    )
    return 1


def _listing(owner: str, title: str, tier: str, content_title: str) -> int:
    steward = User.objects.get(username=f"{owner}-steward")
    dataset = Dataset.objects.filter(owner_id=steward.member_id, title=title).first()
    created = 0
    if dataset is None:
        dataset = services.dataset_register(
            actor=steward,
            title=title,
            description=f"{title}: demo data.",
            keywords=["demo", "credit"],
            sector="C",
            data_domain="operations",
            licence="Consortium data licence v1",
            contact_name=f"{owner.title()} data office",
            contact_email=f"data@{owner}.example.cn",
            grade=1,
        )
        services.policy_set(
            actor=steward,
            dataset=dataset,
            tier=tier,
            purposes=["research", "quality_benchmarking"],
            terms=TERMS,
        )
        created += 2
    if not dataset.versions.exists():
        _add_version(steward, dataset, title, demo_csv(content_title))
        created += 1
    return created


def _use(requester: User, dataset: Dataset) -> int:
    """A request approved at once by the owner's steward, then DOWNLOADS_PER_USE downloads."""
    if AccessRequest.objects.filter(dataset=dataset, requester_member_id=requester.member_id).exists():
        return 0
    assert requester.member is not None  # the demo's requesters are members' people
    policy = dataset.policy
    try:
        request, _ = services.access_request_submit(
            actor=requester,
            dataset=dataset,
            purpose=policy.purposes[0],
            justification=f"Demo: {requester.member.legal_name} benchmarks with it.",
            duration_days=min(30, policy.max_duration_days),
            accepted_terms_version=policy.terms_version,
        )
    except Conflict as refused:
        if refused.code != "insufficient_credit":
            raise
        # A demo database from before credit existed: its founders were admitted without an allowance.
        logger.warning("Demo credit: %s cannot pay for %s; skipped.", requester.member, dataset.title)
        return 0
    if policy.tier != Tier.OPEN:
        steward = User.objects.filter(member_id=dataset.owner_id, member_role="data_steward").first()
        if steward is None:
            raise LookupError(f"demo: member {dataset.owner_id} has no data steward to approve requests")
        services.access_request_approve(actor=steward, request=request, reason="Fits the purpose.")
    grant = AccessRequest.objects.get(pk=request.pk).grant
    for _ in range(DOWNLOADS_PER_USE):
        services.grant_download(actor=requester, grant=grant)[3].close()
    return 1 + DOWNLOADS_PER_USE
