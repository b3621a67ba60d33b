"""A refused download or request says what the partner can do next.

The partner walkthrough got "The grant is revoked." (no time, no reason, though the grantee reads both on
the grant), "The grant is expired." (nothing about requesting again), "All 10 downloads of this grant are
used." (not that a new request is refused until the grant ends) and a duplicate_request without the
request's id.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from exchange import services
from exchange.models import Grant
from ledger.canonical import format_time
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access

pytestmark = pytest.mark.django_db

REQUEST = {"purpose": "research", "justification": "Again.", "duration_days": 30, "accepted_terms_version": 1}


def _open_grant(owner, requester, **policy) -> Grant:
    return Grant.objects.get(request=request_access(requester, published(owner, tier="open", **policy)))


def _download(client, grant: Grant):
    return client.post(f"/api/v1/grants/{grant.pk}/download/")


def _request_again(client, grant: Grant):
    return client.post("/api/v1/access-requests/", {"dataset": grant.dataset_id, **REQUEST}, format="json")


def test_a_revoked_grant_gives_the_revocations_time_and_reason(
    client_for, data_steward, other_analyst
) -> None:
    grant = _open_grant(data_steward, other_analyst)
    services.grant_revoke(actor=data_steward, grant=grant, reason="The contract ended.")
    grant.refresh_from_db()
    client = client_for(other_analyst)
    body = assert_problem(_download(client, grant), 409, "grant_revoked")
    at = format_time(grant.revoked_at)
    assert body["revoked_at"] == at and body["revoked_reason"] == "The contract ended."
    assert at in body["detail"] and "The contract ended." in body["detail"]
    assert "request access to the dataset again" in body["detail"]
    assert _request_again(client, grant).status_code == 201  # what the detail says holds


def test_a_revocation_reason_without_a_full_stop_still_ends_its_sentence(
    client_for, data_steward, other_analyst
) -> None:
    grant = _open_grant(data_steward, other_analyst)
    services.grant_revoke(actor=data_steward, grant=grant, reason="Contract ended")
    body = assert_problem(_download(client_for(other_analyst), grant), 409, "grant_revoked")
    assert "for this reason: Contract ended. Your member may request access" in body["detail"]
    assert body["revoked_reason"] == "Contract ended"  # the reason itself as recorded


def test_an_expired_grant_says_to_request_again(client_for, data_steward, other_analyst) -> None:
    grant = _open_grant(data_steward, other_analyst)
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1)
    )
    grant.refresh_from_db()
    client = client_for(other_analyst)
    body = assert_problem(_download(client, grant), 409, "grant_expired")
    assert body["valid_until"] == format_time(grant.valid_until)
    assert (
        body["detail"]
        == f"The grant expired at {body['valid_until']}. Request access to the dataset again to use it."
    )
    assert _request_again(client, grant).status_code == 201


def test_a_grant_not_started_says_when_it_starts(client_for, data_steward, other_analyst) -> None:
    grant = _open_grant(data_steward, other_analyst)
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=2)
    )
    grant.refresh_from_db()
    body = assert_problem(_download(client_for(other_analyst), grant), 409, "grant_not_started")
    assert body["valid_from"] == format_time(grant.valid_from) and body["valid_from"] in body["detail"]


def test_an_exhausted_quota_says_no_new_request_until_the_grant_ends(
    client_for, data_steward, other_analyst
) -> None:
    grant = _open_grant(data_steward, other_analyst, download_quota=1)
    client = client_for(other_analyst)
    assert _download(client, grant).status_code == 200
    body = assert_problem(_download(client, grant), 409, "quota_exhausted")
    until = format_time(grant.valid_until)
    assert body["valid_until"] == until and body["grant"] == grant.pk
    assert f"cannot request this dataset again while the grant lasts: until {until}" in body["detail"]
    # The rule the detail states: the used-up grant still blocks a new request until it ends.
    refused = assert_problem(_request_again(client, grant), 409, "already_granted")
    assert refused["grant"] == grant.pk and until in refused["detail"]


def test_a_duplicate_request_names_the_request(client_for, data_steward, other_analyst) -> None:
    first = request_access(other_analyst, published(data_steward, tier="restricted"))
    response = client_for(other_analyst).post(
        "/api/v1/access-requests/", {"dataset": first.dataset_id, **REQUEST}, format="json"
    )
    body = assert_problem(response, 409, "duplicate_request")
    assert body["request"] == first.pk and f"request {first.pk}" in body["detail"]
    assert body["current_state"] == "pending"


def test_a_duplicate_of_a_steward_approved_request_gives_its_state(
    client_for, data_steward, other_analyst
) -> None:
    first = request_access(other_analyst, published(data_steward, tier="confidential"))
    services.access_request_approve(actor=data_steward, request=first, reason="ok")
    response = client_for(other_analyst).post(
        "/api/v1/access-requests/", {"dataset": first.dataset_id, **REQUEST}, format="json"
    )
    body = assert_problem(response, 409, "duplicate_request")
    assert body["request"] == first.pk and body["current_state"] == "steward_approved"
