"""The exchange's demo data, loaded through the services so the ledger records every step.

`seed_exchange_demo` runs after the demo consortium (consortium's `seed_demo` calls it) and is idempotent:
a dataset is known by its owner and title, a scenario by its requesting member and dataset, so a second
run creates nothing. It shows every tier (open, restricted, confidential), every grade (Level 3 as
metadata only, without a policy or a file) and every request state: pending, steward-approved (waiting for
the security officer), granted (an open grant with downloads used, a confidential one), rejected,
withdrawn, expired, and a revoked grant; and a withdrawn version (replaced by a corrected one).
"""

from __future__ import annotations

import hashlib
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.test.utils import override_settings

from consortium.models import Member, User
from exchange import services
from exchange.models import UNDECIDED_STATES, AccessRequest, Dataset, Grade, RequestState, Tier

TERMS = "Use only for the declared purpose, within the grant's window; do not pass the data on."

# (key, owner, title, grade, tier or None for metadata only, purposes, sector, domain, keywords, sources)
DATASETS: list[dict[str, Any]] = [
    {
        "key": "spindle",
        "owner": "huaxin",
        "title": "CNC spindle vibration, 2025",
        "grade": Grade.LEVEL_1,
        "tier": Tier.OPEN,
        "purposes": ["research", "quality_benchmarking", "ai_training"],
        "sector": "C",
        "data_domain": "production",
        "keywords": ["vibration", "cnc", "predictive maintenance"],
    },
    {
        "key": "inspection",
        "owner": "huaxin",
        "title": "Machined part inspection records",
        "grade": Grade.LEVEL_2,
        "tier": Tier.RESTRICTED,
        "purposes": ["quality_benchmarking", "product_development"],
        "sector": "C",
        "data_domain": "production",
        "keywords": ["inspection", "tolerances", "quality"],
    },
    {
        "key": "smt-yield",
        "owner": "xinpeng",
        "title": "SMT line yield and defect images index",
        "grade": Grade.LEVEL_2,
        "tier": Tier.CONFIDENTIAL,
        "purposes": ["ai_training", "quality_benchmarking"],
        "sector": "C",
        "data_domain": "production",
        "keywords": ["smt", "yield", "defects"],
    },
    {
        "key": "recipes",
        "owner": "xinpeng",
        "title": "Reflow soldering process recipes",
        "grade": Grade.LEVEL_3,
        "tier": None,
        "purposes": [],
        "sector": "C",
        "data_domain": "rnd",
        "keywords": ["reflow", "process", "core"],
    },
    {
        "key": "usage",
        "owner": "jinglan",
        "title": "Industrial software feature usage",
        "grade": Grade.LEVEL_1,
        "tier": Tier.RESTRICTED,
        "purposes": ["product_development", "research"],
        "sector": "I",
        "data_domain": "operations",
        "keywords": ["telemetry", "mes", "usage"],
    },
    {
        "key": "spindle-features",
        "owner": "jinglan",
        "title": "Spindle vibration features (derived)",
        "grade": None,  # takes its source's grade
        "tier": Tier.OPEN,
        "purposes": ["research", "ai_training"],
        "sector": "C",
        "data_domain": "rnd",
        "keywords": ["vibration", "features"],
        "sources": ["spindle"],
    },
    {
        "key": "mould-temps",
        "owner": "yuxing",
        "title": "Injection mould temperature logs",
        "grade": Grade.LEVEL_2,
        "tier": Tier.RESTRICTED,
        "purposes": ["operations_optimisation", "research"],
        "sector": "C",
        "data_domain": "operations",
        "keywords": ["moulding", "temperature"],
        # Version 1 is withdrawn (a ledger entry; the file stays) once version 2 corrects it.
        "withdrawn_first_version": "Demo: thermocouple 3 was miscalibrated; version 2 corrects it.",
    },
]

# (requester username, dataset key, purpose, final state); "revoked" is granted, downloaded, revoked.
# The expired one comes first: expiring it expires every undecided request, and none other exists yet.
SCENARIOS: list[tuple[str, str, str, str]] = [
    ("lingxi-analyst", "usage", "research", RequestState.EXPIRED),
    ("jinglan-analyst", "spindle", "ai_training", RequestState.GRANTED),
    ("lingxi-analyst", "inspection", "quality_benchmarking", RequestState.PENDING),
    ("jinglan-analyst", "smt-yield", "ai_training", RequestState.STEWARD_APPROVED),
    ("lingxi-analyst", "smt-yield", "quality_benchmarking", "granted_confidential"),
    ("xinpeng-analyst", "inspection", "product_development", "revoked"),
    ("haitong-analyst", "usage", "product_development", RequestState.REJECTED),
    ("huaxin-analyst", "mould-temps", "operations_optimisation", RequestState.WITHDRAWN),
]


def demo_csv(title: str, rows: int = 120) -> bytes:
    """A few KB of deterministic CSV for a dataset: the same title always gives the same bytes."""
    seed = int(hashlib.sha256(title.encode()).hexdigest()[:8], 16)
    lines = ["timestamp,machine,reading,unit"]
    for i in range(rows):
        value = (seed >> (i % 24)) % 1000 / 10
        lines.append(f"2025-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,M{1 + i % 7:02d},{value:.1f},mm/s")
    return ("\n".join(lines) + "\n").encode()


def _upload(content: bytes, name: str) -> ContentFile:
    return ContentFile(content, name=name)


def _add_version(steward: User, dataset: Dataset, key: str, content: bytes) -> None:
    services.dataset_version_add(
        actor=steward,
        dataset=dataset,
        file=_upload(content, f"{key}.csv"),
        filename=f"{key}.csv",
        media_type="text/csv",
        declared_sha256=hashlib.sha256(content).hexdigest(),
    )


def _user(username: str) -> User:
    return User.objects.get(username=username)


def seed_exchange_demo(stdout: Any = None) -> int:
    """Load the exchange demo through the services; returns how many records it created (0 if loaded).

    Needs the demo consortium (members and people from consortium's seed_demo). Writes one summary line
    to `stdout` when given.
    """
    created = 0
    datasets: dict[str, Dataset] = {}
    for spec in DATASETS:
        owner = Member.objects.get(users__username=f"{spec['owner']}-steward")
        steward = _user(f"{spec['owner']}-steward")
        dataset = Dataset.objects.filter(owner=owner, title=spec["title"]).first()
        if dataset is None:
            dataset = services.dataset_register(
                actor=steward,
                title=spec["title"],
                description=f"{spec['title']}: demo data of {owner.legal_name}.",
                keywords=spec["keywords"],
                sector=spec["sector"],
                data_domain=spec["data_domain"],
                licence="CC-BY-4.0" if spec["tier"] == Tier.OPEN else "Consortium data licence v1",
                contact_name=f"{spec['owner'].title()} data office",
                contact_email=f"data@{spec['owner']}.example.cn",
                grade=spec["grade"],
                spatial_coverage="China",
                update_frequency="monthly",
                source_ids=[datasets[key].pk for key in spec.get("sources", [])],
            )
            created += 1
        if spec["tier"] is not None:
            if not hasattr(dataset, "policy"):
                services.policy_set(
                    actor=steward,
                    dataset=dataset,
                    tier=spec["tier"],
                    purposes=spec["purposes"],
                    terms=TERMS,
                    price_credits=0 if spec["tier"] == Tier.OPEN else 10,
                )
                created += 1
            if not dataset.versions.exists():
                _add_version(steward, dataset, spec["key"], demo_csv(spec["title"]))
                created += 1
            if spec.get("withdrawn_first_version") and dataset.versions.count() == 1:
                _add_version(steward, dataset, spec["key"], demo_csv(spec["title"], rows=121))
                services.dataset_version_withdraw(
                    actor=steward,
                    version=dataset.versions.get(number=1),
                    reason=spec["withdrawn_first_version"],
                )
                created += 2
        datasets[spec["key"]] = Dataset.objects.get(pk=dataset.pk)
    for username, key, purpose, outcome in SCENARIOS:
        # All or nothing per scenario: a request left half-way would be skipped, in the wrong state, next run.
        with transaction.atomic():
            created += _scenario(_user(username), datasets[key], purpose, outcome)
    created += import_module("exchange.demo_credit").seed_credit_demo()  # it builds on the above
    if stdout is not None:
        states = sorted(set(AccessRequest.objects.values_list("state", flat=True)))
        stdout.write(
            f"Demo exchange: {created} new record(s); {len(datasets)} datasets, "
            f"{AccessRequest.objects.count()} requests ({', '.join(states)})."
            if created
            else "Demo exchange already loaded."
        )
    return created


def _expire_now(request: AccessRequest) -> int:
    """Expire `request` through the beat task's service, as if the expiry age were zero, so its times stay
    true. Skipped (it stays pending) when any other request is undecided: those must not expire with it."""
    if AccessRequest.objects.filter(state__in=UNDECIDED_STATES).exclude(pk=request.pk).exists():
        return 0
    with override_settings(EXCHANGE={**getattr(settings, "EXCHANGE", {}), "REQUEST_EXPIRY_DAYS": 0}):
        return services.access_request_expire_due()


def _scenario(requester: User, dataset: Dataset, purpose: str, outcome: str) -> int:
    """One request walked to `outcome`; 0 if this member already asked for this dataset."""
    if AccessRequest.objects.filter(dataset=dataset, requester_member_id=requester.member_id).exists():
        return 0
    assert requester.member is not None  # the demo's requesters are members' people
    policy = dataset.policy
    request, _ = services.access_request_submit(
        actor=requester,
        dataset=dataset,
        purpose=purpose,
        justification=f"Demo: {requester.member.legal_name} wants it for {purpose.replace('_', ' ')}.",
        duration_days=min(30, policy.max_duration_days),
        accepted_terms_version=policy.terms_version,
    )
    steward = User.objects.get(member_id=dataset.owner_id, member_role="data_steward")
    security = User.objects.get(username="security")
    count = 1
    if outcome == RequestState.EXPIRED:
        count += _expire_now(request)
    elif outcome == RequestState.GRANTED:
        grant = AccessRequest.objects.get(pk=request.pk).grant
        for _ in range(2):
            services.grant_download(actor=requester, grant=grant)[3].close()
            count += 1
    elif outcome == RequestState.STEWARD_APPROVED:
        services.access_request_approve(
            actor=steward, request=request, reason="Purpose fits; over to security."
        )
        count += 1
    elif outcome == "granted_confidential":
        request, _ = services.access_request_approve(actor=steward, request=request, reason="Purpose fits.")
        services.access_request_approve(actor=security, request=request, reason="On-platform use only.")
        count += 2
    elif outcome == "revoked":
        request, _ = services.access_request_approve(actor=steward, request=request, reason="Approved.")
        grant = AccessRequest.objects.get(pk=request.pk).grant
        services.grant_download(actor=requester, grant=grant)[3].close()
        services.grant_revoke(actor=steward, grant=grant, reason="Demo: the partnership ended.")
        count += 3
    elif outcome == RequestState.REJECTED:
        services.access_request_reject(
            actor=steward, request=request, reason="Our usage data is shared with software vendors only."
        )
        count += 1
    elif outcome == RequestState.WITHDRAWN:
        services.access_request_withdraw(actor=requester, request=request, reason="Found another source.")
        count += 1
    return count
