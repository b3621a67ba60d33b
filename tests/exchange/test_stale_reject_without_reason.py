"""A reject sent without a reason from a stale tab (the request was decided meanwhile) is told the request
is already decided (409 illegal_transition), not that a reason is required: no reason could make it
rejectable."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.urls import reverse

from exchange import services
from exchange.models import AccessRequest, RequestState
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user, published, request_access

pytestmark = pytest.mark.django_db


def _decided(steward: Any, requester: Any, *, tier: str) -> AccessRequest:
    """A request of `requester`'s the owner's steward has already rejected (in another tab)."""
    access_request = request_access(requester, published(steward, tier=tier))
    services.access_request_reject(actor=steward, request=access_request, reason="Competitor.")
    access_request.refresh_from_db()
    return access_request


def test_the_api_says_a_decided_request_is_decided_before_asking_for_a_reason(
    client_for: Any, data_steward: Any, other_analyst: Any
) -> None:
    access_request = _decided(data_steward, other_analyst, tier="restricted")
    entries = LedgerEntry.objects.count()
    body = assert_problem(
        client_for(data_steward).post(f"/api/v1/access-requests/{access_request.pk}/reject/"),
        409,
        "illegal_transition",
    )
    assert body["current_state"] == "rejected"
    assert LedgerEntry.objects.count() == entries


def test_a_security_officers_stale_reject_without_reason_is_told_the_request_is_decided(
    client_for: Any, data_steward: Any, other_analyst: Any, security_officer: Any
) -> None:
    access_request = request_access(other_analyst, published(data_steward, tier="confidential"))
    services.access_request_approve(actor=data_steward, request=access_request, reason="Fine.")
    services.access_request_approve(actor=security_officer, request=access_request, reason="Fine.")
    body = assert_problem(
        client_for(security_officer).post(
            f"/api/v1/access-requests/{access_request.pk}/reject/", {"reason": ""}, format="json"
        ),
        409,
        "illegal_transition",
    )
    assert body["current_state"] == "granted"


def test_the_portal_shows_the_request_as_decided_not_a_missing_reason(
    data_steward: Any, other_analyst: Any
) -> None:
    access_request = _decided(data_steward, other_analyst, tier="restricted")
    url = reverse("portal:request-detail", args=[access_request.pk])
    response = as_user(data_steward).post(url, {"action": "reject", "reason": ""}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    page = html.unescape(response.content.decode())
    assert "Cannot reject a request that is rejected." in page
    assert "A reason is required" not in page
    access_request.refresh_from_db()
    assert access_request.state == RequestState.REJECTED


def test_an_undecided_request_still_needs_a_reason(
    client_for: Any, data_steward: Any, other_analyst: Any
) -> None:
    access_request = request_access(other_analyst, published(data_steward, tier="restricted"))
    assert_problem(
        client_for(data_steward).post(f"/api/v1/access-requests/{access_request.pk}/reject/"),
        400,
        "reason_required",
    )
    access_request.refresh_from_db()
    assert access_request.state == RequestState.PENDING
