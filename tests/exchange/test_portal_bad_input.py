"""Portal forms given ids no id column can hold: once a 500 on SQLite (OverflowError binding the integer in
Django's `pk__in` lookup); now the form shows an invalid choice and nothing is written."""

from __future__ import annotations

import pytest
from django.urls import reverse

from exchange.models import AccessPolicy, AccessRequest, Dataset
from ledger.models import LedgerEntry
from tests.exchange.support import REGISTRATION_FORM, as_user, published

pytestmark = pytest.mark.django_db

TOO_BIG = [str(10**30), str(2**63)]


@pytest.mark.parametrize("value", TOO_BIG)
def test_registering_with_a_source_id_past_64_bits_is_an_invalid_choice(data_steward, value) -> None:
    before = Dataset.objects.count(), LedgerEntry.objects.count()
    response = as_user(data_steward).post(
        reverse("portal:my-datasets"),
        {**REGISTRATION_FORM, "sources": [value]},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert (Dataset.objects.count(), LedgerEntry.objects.count()) == before


def _refused_policy(steward, **fields) -> str:
    """The page of a restricted dataset's policy form sent with `fields`, once it is checked to be a 400 that
    changed neither the policy nor the ledger."""
    dataset = published(steward, tier="restricted")
    policy_before = AccessPolicy.objects.values().get(dataset=dataset)
    entries = LedgerEntry.objects.count()
    response = as_user(steward).post(
        reverse("portal:dataset-policy", args=[dataset.pk]),
        {"tier": "restricted", "purposes": ["research"], "price_credits": 0, "terms": "T", **fields},
    )
    assert response.status_code == 400
    assert AccessPolicy.objects.values().get(dataset=dataset) == policy_before
    assert LedgerEntry.objects.count() == entries
    return response.content.decode()


@pytest.mark.parametrize("field", ["allow_list", "deny_list"])
@pytest.mark.parametrize("value", TOO_BIG)
def test_a_policy_naming_a_member_id_past_64_bits_is_an_invalid_choice(data_steward, field, value) -> None:
    assert "Select a valid choice" in _refused_policy(data_steward, **{field: [value]})


# int() behind Django's IntegerField read these as 30 (and the API's fields refuse them since 44f12dc)
NOT_ASCII_DIGITS = ["\u0663\u0660", "30.0", " 30", "+30"]


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_a_request_duration_is_ascii_digits(data_steward, other_analyst, value) -> None:
    dataset = published(data_steward, tier="open")
    ask = {
        "purpose": "research",
        "justification": "Benchmarks.",
        "accept_terms": "on",
        "terms_version": dataset.policy.terms_version,
    }
    url = reverse("portal:dataset-detail", args=[dataset.pk])
    assert as_user(other_analyst).post(url, {**ask, "duration_days": value}).status_code == 400
    assert not AccessRequest.objects.exists()
    assert as_user(other_analyst).post(url, {**ask, "duration_days": "030"}).status_code == 302
    assert AccessRequest.objects.get().duration_days == 30


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_a_policy_price_is_ascii_digits(data_steward, value) -> None:
    _refused_policy(data_steward, price_credits=value)


@pytest.mark.parametrize("field", ["allow_list", "deny_list"])
@pytest.mark.parametrize("written", ["other scripts", "spaced"])
def test_a_policy_names_members_in_ascii_digits(data_steward, other_analyst, field, written) -> None:
    pk = str(other_analyst.member_id)
    value = "".join(chr(0x660 + int(digit)) for digit in pk) if written == "other scripts" else f" {pk}"
    assert "is not a valid value" in _refused_policy(data_steward, **{field: [value]})
