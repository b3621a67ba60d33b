"""The people of a member that is not active (suspended, withdrawn) are told so: what they may still see,
their own member's grants and requests, answers 403 `member_not_active` to a download or a withdrawal, and
asking for access answers the same before any dataset is looked at. What they may not see (another
member's grant) stays 404: visibility first, then state. Nothing is written on a refusal."""

from __future__ import annotations

import pytest

from consortium import services as members
from exchange.models import AccessRequest, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import post_request, published
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int, list[int]]:
    remaining = list(Grant.objects.order_by("pk").values_list("downloads_remaining", flat=True))
    return AccessRequest.objects.count(), Grant.objects.count(), LedgerEntry.objects.count(), remaining


def _close(member, officer, how: str) -> None:
    if how == "suspended":
        members.member_suspend(member=member, actor=officer, reason="Audit pending.")
    else:
        members.member_withdraw(member=member, actor=officer, reason="Left the consortium.")


def _asked_before_closing(client, dataset, member, officer, how: str = "suspended") -> dict:
    """`client`'s request for `dataset` (the API's `request` object), then `member` closed as `how`."""
    asked = post_request(client, dataset).json()["request"]
    _close(member, officer, how)
    return asked


@pytest.mark.parametrize("how", ["suspended", "withdrawn"])
def test_a_download_under_the_members_own_grant_is_refused_as_member_not_active(
    client_for, data_steward, other_analyst, other_member, officer, how
) -> None:
    dataset = published(data_steward, tier="open", download_quota=3)
    requester = client_for(other_analyst)
    grant_id = _asked_before_closing(requester, dataset, other_member, officer, how)["grant"]
    before = _state()

    assert requester.get(f"/api/v1/grants/{grant_id}/").status_code == 200  # still theirs to read
    assert [row["id"] for row in requester.get("/api/v1/grants/").json()["results"]] == [grant_id]
    body = assert_problem(requester.post(f"/api/v1/grants/{grant_id}/download/"), 403, "member_not_active")
    assert body["current_state"] == how
    assert _state() == before

    if how == "suspended":  # once reinstated, the grant is used as before
        members.member_reinstate(member=other_member, actor=officer, reason="Audit passed.")
        assert requester.post(f"/api/v1/grants/{grant_id}/download/").status_code == 200


def test_a_request_for_access_is_refused_as_member_not_active_before_the_body_is_read(
    client_for, data_steward, other_analyst, other_member, officer
) -> None:
    dataset = published(data_steward, tier="open")
    _close(other_member, officer, "suspended")
    requester = client_for(other_analyst)
    before = _state()

    body = assert_problem(post_request(requester, dataset), 403, "member_not_active")
    assert body["current_state"] == "suspended"
    # no dataset is looked at: an unknown one and a broken body get the same answer
    unknown = {"dataset": 999999, "purpose": "research", "duration_days": 30, "accepted_terms_version": 1}
    assert_problem(
        requester.post("/api/v1/access-requests/", unknown, format="json"), 403, "member_not_active"
    )
    response = requester.post("/api/v1/access-requests/", {"purpose": ["x"]}, format="json")
    assert_problem(response, 403, "member_not_active")
    assert _state() == before


def test_withdrawing_the_members_own_request_is_refused_as_member_not_active(
    client_for, data_steward, other_analyst, other_member, officer
) -> None:
    dataset = published(data_steward, tier="restricted")
    requester = client_for(other_analyst)
    request_id = _asked_before_closing(requester, dataset, other_member, officer)["id"]
    before = _state()

    assert requester.get(f"/api/v1/access-requests/{request_id}/").json()["state"] == "pending"
    response = requester.post(f"/api/v1/access-requests/{request_id}/withdraw/", {}, format="json")
    assert_problem(response, 403, "member_not_active")
    assert _state() == before


def test_what_they_may_not_see_stays_not_found(
    client_for, data_steward, other_analyst, other_member, officer
) -> None:
    # A grant of a third member: not theirs, so not there, whatever their member's status.
    dataset = published(data_steward, tier="open")
    stranger = UserFactory(member=MemberFactory(), member_role="analyst", username="third-analyst")
    grant_id = _asked_before_closing(client_for(stranger), dataset, other_member, officer)["grant"]
    requester = client_for(other_analyst)

    assert_problem(requester.get(f"/api/v1/grants/{grant_id}/"), 404, "not_found")
    assert_problem(requester.post(f"/api/v1/grants/{grant_id}/download/"), 404, "not_found")
    assert_problem(requester.get(f"/api/v1/datasets/{dataset.pk}/"), 404, "not_found")  # no catalog
    assert requester.get("/api/v1/grants/").json()["results"] == []


@pytest.mark.parametrize(("status", "answer"), [("suspended", 201), ("applied", 201), ("withdrawn", 409)])
def test_people_are_added_to_a_member_unless_it_is_withdrawn_or_declined(
    client_for, officer, status, answer
) -> None:
    # As docs/api-errors.md says of member_not_active: a suspended member keeps taking people (an officer
    # adds them; they act once it is reinstated), a withdrawn or declined one takes none.
    member = MemberFactory(status=status)
    new = {"member": member.pk, "username": "newcomer", "email": "newcomer@firm.example", "role": "analyst"}
    response = client_for(officer).post("/api/v1/users/", new, format="json")
    if answer == 201:
        assert response.status_code == 201, response.content
    else:
        assert assert_problem(response, 409, "member_not_active")["current_state"] == status
