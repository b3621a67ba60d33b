"""A policy the owner narrows after a grant or a request was made: a download under the grant, or the
approval of the request, that the policy in force refuses for the request's purpose or duration answers
409 `policy_changed` (nobody's input is at fault now), never 400 as if the download or approval sent bad
input; nothing is written."""

from __future__ import annotations

import pytest

from exchange.models import AccessRequest, Grant, RequestState
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import post_request, published, set_policy

pytestmark = pytest.mark.django_db

TERMS = "Use for the declared purpose only."


@pytest.mark.parametrize(
    ("narrowed", "reason"),
    [
        ({"max_duration_days": 10, "purposes": ["research"]}, "duration_over_max"),
        ({"purposes": ["quality_benchmarking"]}, "purpose_not_allowed"),
    ],
)
def test_download_under_a_grant_the_narrowed_policy_refuses_is_a_conflict(
    client_for, data_steward, other_analyst, narrowed, reason
) -> None:
    dataset = published(data_steward, tier="open")
    granted = post_request(client_for(other_analyst), dataset)
    assert granted.status_code == 201, granted.content
    grant = Grant.objects.get(request_id=granted.json()["request"]["id"])
    set_policy(data_steward, dataset, tier="open", terms=TERMS, **narrowed)
    entries = LedgerEntry.objects.count()

    response = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")

    body = assert_problem(response, 409, "policy_changed")
    assert body["current_state"] == "active"
    assert [r["code"] for r in body["reasons"]] == [reason]
    assert LedgerEntry.objects.count() == entries
    grant.refresh_from_db()
    assert grant.downloads_remaining == grant.download_quota


def test_approving_a_request_the_narrowed_policy_refuses_is_a_conflict(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted")
    submitted = post_request(client_for(other_analyst), dataset)
    assert submitted.status_code == 201, submitted.content
    request_id = submitted.json()["request"]["id"]
    set_policy(data_steward, dataset, tier="restricted", terms=TERMS, max_duration_days=10)
    entries = LedgerEntry.objects.count()

    response = client_for(data_steward).post(
        f"/api/v1/access-requests/{request_id}/approve/", {}, format="json"
    )

    body = assert_problem(response, 409, "policy_changed")
    assert body["current_state"] == "pending"
    assert [r["code"] for r in body["reasons"]] == ["duration_over_max"]
    assert LedgerEntry.objects.count() == entries
    assert AccessRequest.objects.get(pk=request_id).state == RequestState.PENDING
    assert not Grant.objects.filter(request_id=request_id).exists()
