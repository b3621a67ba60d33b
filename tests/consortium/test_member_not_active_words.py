"""member_not_active says what is true of the member's status: only a suspended member is reinstated, an
applicant is admitted, and a withdrawn member or a declined application never comes back (a declined firm
may only apply again). Every refusal said "until the officers reinstate" it, or nothing at all, and the
catalogue's advice was "Nothing to retry until the officers reinstate the member." whatever the status.

The words are pinned per status at each place that refuses: the role check (an access request), an API
key, a password link, adding a person, the policy engine, the catalogue (docs/api-errors.md) and the
portal's notice on the member's grants.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consortium import services
from consortium.api.problem_codes import GROUPS
from consortium.errors import Conflict
from exchange import policies
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user, published, request_access
from tests.factories import MemberFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

# How long each status withholds what the member's people and keys may do, as each refusal ends.
HOW_LONG = {
    "applied": "until the consortium's officers admit its application.",
    "suspended": "until the consortium's officers reinstate it.",
    "withdrawn": "any more. A withdrawn member is never reinstated, and its credit code cannot apply again.",
    "declined": "any more. A declined application is never admitted; the firm may apply again, and the "
    "officers decide the new application afresh.",
}
STATUSES = list(HOW_LONG)


def _person_of(status: str, role: str = "analyst"):
    return UserFactory(member=MemberFactory(status=status), member_role=role, username=f"{status}-{role}")


@pytest.mark.parametrize("status", STATUSES)
def test_a_persons_refusal_says_how_long_the_status_lasts(client_for, data_steward, status) -> None:
    dataset = published(data_steward, tier="open")
    asked = {"dataset": dataset.pk, "purpose": "research", "duration_days": 30, "accepted_terms_version": 1}
    response = client_for(_person_of(status)).post("/api/v1/access-requests/", asked, format="json")
    body = assert_problem(response, 403, "member_not_active")
    assert body["current_state"] == status
    assert (
        body["detail"]
        == f"Your member is {status}, not active: its people may not do this {HOW_LONG[status]}"
    )


@pytest.mark.parametrize("status", STATUSES)
def test_a_keys_refusal_says_how_long_the_status_lasts(member_admin, member, status) -> None:
    _, raw = make_api_key(admin=member_admin, scopes=["read"])
    member.status = status
    member.save(update_fields=["status"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    body = assert_problem(client.get("/api/v1/me/"), 401, "member_not_active")
    assert body["detail"] == (
        f"The key's member is {status}, not active: its keys do not authenticate {HOW_LONG[status]}"
    )


@pytest.mark.parametrize("status", STATUSES)
def test_a_password_links_refusal_says_how_long_the_status_lasts(officer, status) -> None:
    person = _person_of(status)
    with pytest.raises(Conflict) as refused:
        services.user_send_password_link(actor=officer, user=person)
    assert refused.value.code == "member_not_active"
    assert refused.value.extra["current_state"] == status
    expected = f"The member is {status}, not active: its people are sent no password link {HOW_LONG[status]}"
    assert refused.value.detail == expected


@pytest.mark.parametrize("status", ["withdrawn", "declined"])
def test_adding_a_person_says_the_member_does_not_come_back(client_for, officer, status) -> None:
    member = MemberFactory(status=status)
    new = {"member": member.pk, "username": "newcomer", "email": "newcomer@firm.example", "role": "analyst"}
    body = assert_problem(
        client_for(officer).post("/api/v1/users/", new, format="json"), 409, "member_not_active"
    )
    assert (
        body["detail"] == f"The member is {status}, not active: no person is added to it {HOW_LONG[status]}"
    )


@pytest.mark.parametrize("status", STATUSES)
def test_the_policy_engine_says_how_long_the_status_lasts(data_steward, status) -> None:
    dataset = published(data_steward, tier="open")
    member = MemberFactory(status=status)
    eligibility = policies.eligibility(member=member, policy=dataset.policy, owner=dataset.owner)
    assert eligibility.reasons[0].message == (
        f"Your member is {status}, not active: its people may not request data {HOW_LONG[status]}"
    )
    decision = policies.evaluate(
        member=member,
        dataset=dataset,
        policy=dataset.policy,
        purpose="research",
        duration_days=30,
        now=timezone.now(),
    )
    assert decision.reasons[0].message == (
        f"The requesting member is {status}, not active: it may not request or use data {HOW_LONG[status]}"
    )


def test_the_catalogue_advises_each_status_as_it_is() -> None:
    (entry,) = [entry for _, entries in GROUPS for entry in entries if entry.code == "member_not_active"]
    assert "reinstate the member." not in entry.action  # said of every status before
    assert "Applied: until the consortium's officers admit its application." in entry.action
    assert "Suspended: until the consortium's officers reinstate it." in entry.action
    assert "Withdrawn: for good. A withdrawn member is never reinstated" in entry.action
    assert "Declined: for good. A declined application is never admitted; the firm may apply again" in (
        entry.action
    )
    assert entry.action in (Path(settings.BASE_DIR) / "docs" / "api-errors.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("status", ["suspended", "withdrawn"])
def test_the_portal_notice_says_how_long_the_status_lasts(
    data_steward, other_analyst, other_member, officer, status
) -> None:
    request_access(other_analyst, published(data_steward, tier="open"))
    if status == "suspended":
        services.member_suspend(member=other_member, actor=officer, reason="Audit pending.")
    else:
        services.member_withdraw(member=other_member, actor=officer, reason="Left the consortium.")
    page = html.unescape(as_user(other_analyst).get(reverse("portal:grant-list")).content.decode())
    assert (
        f"While your member is {status}, its datasets, grants and requests are shown for reference only: "
        f"nothing is registered, changed, requested, withdrawn or downloaded {HOW_LONG[status]}"
    ) in page
