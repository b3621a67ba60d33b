"""PUT of a dataset's policy is idempotent: sending the policy in force again (a partner's nightly sync)
answers 200 with it unchanged, and writes nothing: no new revision, salt or hash, no ledger entry."""

from __future__ import annotations

import pytest

from exchange.models import AccessPolicy
from ledger.models import LedgerEntry
from tests.exchange.support import published

pytestmark = pytest.mark.django_db

POLICY = {
    "tier": "restricted",
    "purposes": ["research", "quality_benchmarking"],
    "max_duration_days": 60,
    "download_quota": 4,
    "terms": "Use for the declared purpose only.",
}


def test_the_same_policy_put_again_changes_nothing(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="restricted")
    client = client_for(data_steward)
    first = client.put(f"/api/v1/datasets/{dataset.pk}/policy/", POLICY, format="json")
    assert first.status_code == 200, first.content
    kept = AccessPolicy.objects.get(dataset=dataset)
    entries = LedgerEntry.objects.count()

    again = client.put(f"/api/v1/datasets/{dataset.pk}/policy/", POLICY, format="json")

    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert "Ledger-Receipts" not in again
    assert LedgerEntry.objects.count() == entries
    now = AccessPolicy.objects.get(dataset=dataset)
    assert (now.revision, now.salt, now.updated_at) == (kept.revision, kept.salt, kept.updated_at)


def test_a_changed_policy_put_is_a_new_revision(client_for, data_steward) -> None:
    dataset = published(data_steward, tier="restricted")
    client = client_for(data_steward)
    first = client.put(f"/api/v1/datasets/{dataset.pk}/policy/", POLICY, format="json").json()
    entries = LedgerEntry.objects.count()

    changed = client.put(
        f"/api/v1/datasets/{dataset.pk}/policy/", {**POLICY, "download_quota": 5}, format="json"
    )

    assert changed.status_code == 200, changed.content
    assert changed.json()["revision"] == first["revision"] + 1
    assert changed.json()["terms_version"] == first["terms_version"]
    assert LedgerEntry.objects.count() == entries + 1
