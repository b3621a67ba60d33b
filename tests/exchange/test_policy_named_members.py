"""A policy's allow and deny lists name only members its owner may name: active members other than the
owner (what the portal's form offers), and those the policy names already. A member the owner's people
may not see (an application, a declined, suspended or withdrawn firm: 404 in the directory) is refused
as `unknown_member` exactly as an id that names no member is, so setting a policy is no way to learn which
ids exist, and the API takes no member the portal's form would refuse. A member named while active and
suspended since stays on the lists when the policy is set again, in both faces."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consortium.models import Member, MemberStatus
from exchange.models import AccessPolicy
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import as_user, published
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NO_SUCH_MEMBER = 987_654
POLICY = {"tier": "restricted", "purposes": ["research"], "terms": "Use for research only."}


def _put(client, dataset, **lists):
    return client.put(f"/api/v1/datasets/{dataset.pk}/policy/", {**POLICY, **lists}, format="json")


def _unseen(status: str) -> Member:
    return MemberFactory(status=status)


@pytest.mark.parametrize("field", ["allow_list", "deny_list"])
@pytest.mark.parametrize(
    "status", [MemberStatus.APPLIED, MemberStatus.DECLINED, MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN]
)
def test_a_member_the_owner_may_not_see_is_as_unknown_as_no_member(
    client_for, data_steward, field, status
) -> None:
    dataset = published(data_steward, tier="restricted")
    hidden = _unseen(status)
    client = client_for(data_steward)
    assert client.get(f"/api/v1/members/{hidden.pk}/").status_code == 404
    before = (AccessPolicy.objects.values().get(dataset=dataset), LedgerEntry.objects.count())

    refusals = [
        assert_problem(_put(client, dataset, **{field: [pk]}), 400, "unknown_member")
        for pk in (hidden.pk, NO_SUCH_MEMBER)
    ]
    assert [body["detail"] for body in refusals] == [
        f"Unknown member: {hidden.pk}.",
        f"Unknown member: {NO_SUCH_MEMBER}.",
    ]
    assert (AccessPolicy.objects.values().get(dataset=dataset), LedgerEntry.objects.count()) == before


def test_an_active_member_is_named_and_stays_named_once_suspended(
    client_for, data_steward, other_member
) -> None:
    dataset = published(data_steward, tier="restricted")
    client = client_for(data_steward)
    assert _put(client, dataset, deny_list=[other_member.pk]).status_code == 200
    Member.objects.filter(pk=other_member.pk).update(status=MemberStatus.SUSPENDED)

    # Set again through the API with the same list, and through the portal's form as the page fills it.
    response = _put(client, dataset, deny_list=[other_member.pk], price_credits=5)
    assert response.status_code == 200, response.content
    assert response.json()["deny_list"] == [other_member.pk]
    form = {**POLICY, "price_credits": 6, "deny_list": [other_member.pk]}
    page = as_user(data_steward).post(reverse("portal:dataset-policy", args=[dataset.pk]), form)
    assert page.status_code == 302, page.content.decode()
    policy = AccessPolicy.objects.get(dataset=dataset)
    assert (policy.deny_list, policy.price_credits) == ([other_member.pk], 6)

    # Named again once dropped, it is a member the owner may not see.
    assert _put(client, dataset).status_code == 200
    assert_problem(_put(client, dataset, deny_list=[other_member.pk]), 400, "unknown_member")
