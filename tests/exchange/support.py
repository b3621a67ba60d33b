"""Building blocks for exchange tests: datasets with policies and versions made through the services."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.base import ContentFile
from django.test import Client

from exchange import services
from exchange.models import AccessRequest, Dataset

CONTENT = b"sensor,value\n" + b"line,1\n" * 5000


# A dataset's catalogue record, as the services and the API's POST /api/v1/datasets/ take it.
DATASET_RECORD = {
    "title": "Spindle vibration 2025",
    "description": "Vibration readings of CNC spindles, one row per second.",
    "keywords": ["vibration", "cnc"],
    "sector": "C",
    "data_domain": "production",
    "licence": "CC-BY-4.0",
    "contact_name": "Zhang San",
    "contact_email": "data@own.example",
}


def register(steward: Any, *, grade: int = 1, title: str = "Spindle vibration 2025", **extra: Any) -> Dataset:
    values = {**DATASET_RECORD, "title": title, "grade": grade, **extra}
    return services.dataset_register(actor=steward, **values)


def set_policy(steward: Any, dataset: Dataset, **extra: Any):
    values = {"purposes": ["research", "quality_benchmarking"], "terms": "Use for the declared purpose only."}
    values.update(extra)
    return services.policy_set(actor=steward, dataset=dataset, **values)


def add_version(steward: Any, dataset: Dataset, content: bytes = CONTENT):
    return services.dataset_version_add(
        actor=steward,
        dataset=dataset,
        file=ContentFile(content, name="readings.csv"),
        filename="readings.csv",
        media_type="text/csv",
        declared_sha256=hashlib.sha256(content).hexdigest(),
    )


def published(steward: Any, *, tier: str, grade: int | None = None, content: bytes = CONTENT, **policy: Any):
    """A listed dataset with one version under a policy of `tier` (grade 1, or 2 for confidential)."""
    grade = grade or (2 if tier == "confidential" else 1)
    dataset = register(steward, grade=grade)
    if tier == "confidential":
        policy.setdefault("download_quota", 0)
    set_policy(steward, dataset, tier=tier, **policy)
    add_version(steward, dataset, content)
    return Dataset.objects.get(pk=dataset.pk)


# What a request asks by default, in the service and the API: research for 30 days under terms 1.
REQUEST_TERMS = {
    "purpose": "research",
    "justification": "Benchmark our bearings.",
    "duration_days": 30,
    "accepted_terms_version": 1,
}


def request_access(requester: Any, dataset: Dataset, **extra: Any) -> AccessRequest:
    """`requester`'s request for `dataset` through the service (REQUEST_TERMS, `extra` on top)."""
    request, _ = services.access_request_submit(
        actor=requester, dataset=dataset, **{**REQUEST_TERMS, **extra}
    )
    return request


def post_request(client: Any, dataset: Dataset, **extra: Any) -> Any:
    """`client`'s POST /api/v1/access-requests/ for `dataset` (REQUEST_TERMS, `extra` on top); the
    response."""
    body = {"dataset": dataset.pk, **REQUEST_TERMS, **extra}
    return client.post("/api/v1/access-requests/", body, format="json")


def as_user(user: Any) -> Client:
    """A portal client logged in as `user`."""
    client = Client()
    client.force_login(user)
    return client


# The portal's dataset registration form, filled in (Level 1, no sources).
REGISTRATION_FORM = {
    "title": "Coolant temperatures",
    "description": "Per-minute coolant temperatures.",
    "keywords": "coolant, temperature",
    "sector": "C",
    "data_domain": "production",
    "update_frequency": "daily",
    "licence": "CC-BY-4.0",
    "rights": "use",
    "contact_name": "Zhang San",
    "contact_email": "data@own.example",
    "grade": "1",
}
