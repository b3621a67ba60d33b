"""The portal's policy form says what the API says of a policy's duration, download quota and price out of
range: the policy rules' reasons, in their words. The form had caps of its own (1 to 36500 days, 0 to
2**31 - 1 downloads and credits) with Django's generic messages, and a negative price never reached the
rules. Nothing is written on refusal."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.urls import reverse

from exchange.models import AccessPolicy
from ledger.models import LedgerEntry
from tests.exchange.support import as_user, register

pytestmark = pytest.mark.django_db

POLICY = {"purposes": ["research"], "terms": "T", "price_credits": 0}


def _api_messages(response: Any) -> list[str]:
    """What the API's refusal says: its reasons' messages, or its field errors'."""
    assert response.status_code == 400, response.content
    body = response.json()
    return [reason["message"] for reason in body.get("reasons", [])] or [
        message for messages in body["errors"].values() for message in messages
    ]


@pytest.mark.parametrize(
    ("tier", "field", "value"),
    [
        ("restricted", "max_duration_days", 0),
        ("restricted", "max_duration_days", 36_501),
        ("restricted", "download_quota", -1),
        ("restricted", "download_quota", 2**31),
        ("confidential", "download_quota", -1),
        ("restricted", "price_credits", -1),
        ("restricted", "price_credits", 2**31),
        ("restricted", "price_credits", 10**20),  # no integer column's: the API's field refuses it
    ],
)
def test_a_policy_number_out_of_range_is_refused_in_the_apis_words(
    client_for, data_steward, tier, field, value
) -> None:
    dataset = register(data_steward, grade=2 if tier == "confidential" else 1)
    entries = LedgerEntry.objects.count()
    body = {**POLICY, "tier": tier, field: value}
    said = _api_messages(
        client_for(data_steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", body, format="json")
    )
    page = as_user(data_steward).post(reverse("portal:dataset-policy", args=[dataset.pk]), body)
    assert page.status_code == 400
    shown = html.unescape(page.content.decode())
    assert said and all(message in shown for message in said), (said, field)
    assert not AccessPolicy.objects.exists()
    assert LedgerEntry.objects.count() == entries


def test_the_ends_of_the_ranges_are_taken(data_steward) -> None:
    dataset = register(data_steward, grade=1)
    body = {**POLICY, "tier": "restricted", "max_duration_days": 1, "download_quota": 10_000}
    response = as_user(data_steward).post(
        reverse("portal:dataset-policy", args=[dataset.pk]), {**body, "price_credits": 1_000_000}
    )
    assert response.status_code == 302, response.content
    policy = AccessPolicy.objects.get()
    assert (policy.max_duration_days, policy.download_quota, policy.price_credits) == (1, 10_000, 1_000_000)
