"""A suspended (or withdrawn) member offers nothing new: its datasets take no request and no approval, in
the API and the portal alike (409 requests_paused, nothing written), so an open request is not granted at
once and earns the suspended owner no credit. The refusal does not say why: a member's status is not other
members' business. Grants it gave before stay usable; once reinstated it takes requests again."""

from __future__ import annotations

import pytest

from consortium import services as members
from exchange.models import AccessRequest, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user, post_request, published

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int]:
    return AccessRequest.objects.count(), Grant.objects.count(), LedgerEntry.objects.count()


def test_a_suspended_owners_dataset_takes_no_request_until_reinstated(
    client_for, data_steward, member, other_analyst, officer
) -> None:
    dataset = published(data_steward, tier="open")
    members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    requester = client_for(other_analyst)
    before = _state()

    body = assert_problem(post_request(requester, dataset), 409, "requests_paused")
    assert "suspended" not in str(body)
    assert _state() == before
    page = as_user(other_analyst).get(f"/catalog/{dataset.pk}/")  # the portal says so before any form
    assert page.status_code == 200
    assert "The dataset takes no new requests for the moment" in page.content.decode()
    assert "is suspended" not in page.content.decode()
    assert 'name="justification"' not in page.content.decode()

    members.member_reinstate(member=member, actor=officer, reason="Audit passed.")
    assert post_request(requester, dataset).status_code == 201


def test_a_request_waiting_for_the_security_officer_is_not_approved_once_the_owner_is_suspended(
    client_for, data_steward, member, other_analyst, officer, security_officer
) -> None:
    dataset = published(data_steward, tier="confidential")
    request_id = post_request(client_for(other_analyst), dataset).json()["request"]["id"]
    approve = {"reason": "Fine."}
    steward = client_for(data_steward)
    assert (
        steward.post(f"/api/v1/access-requests/{request_id}/approve/", approve, format="json").status_code
        == 200
    )
    members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    before = _state()
    response = client_for(security_officer).post(
        f"/api/v1/access-requests/{request_id}/approve/", approve, format="json"
    )
    assert_problem(response, 409, "requests_paused")
    assert _state() == before


def test_a_grant_given_before_the_suspension_stays_usable(
    client_for, data_steward, member, other_analyst, officer
) -> None:
    dataset = published(data_steward, tier="open", download_quota=2)
    requester = client_for(other_analyst)
    grant_id = post_request(requester, dataset).json()["request"]["grant"]
    members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    download = requester.post(f"/api/v1/grants/{grant_id}/download/")
    assert download.status_code == 200, download.content
