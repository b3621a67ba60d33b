"""Credit through the services: fees held, posted, voided and refunded; usage points; allowances."""

from __future__ import annotations

import pytest

from consortium.errors import Conflict
from exchange import services as exchange
from exchange.models import AccessRequest
from ledger.credit import engine
from ledger.credit.models import CreditTransfer, CreditUse
from ledger.models import LedgerEntry
from tests.exchange.support import published, request_access
from tests.ledger.credit.support import activate, admit, balance, pending

pytestmark = pytest.mark.django_db

FEE = 20_000  # restricted, up to 30 days


def _request(analyst, dataset, *, days=30, purpose="research"):
    request = request_access(
        analyst,
        dataset,
        purpose=purpose,
        duration_days=days,
        accepted_terms_version=dataset.policy.terms_version,
    )
    return request


@pytest.fixture
def credit_on(member, other_member):
    activate()
    admit(member, other_member)


def test_restricted_grant_charges_the_fee_from_the_allowance_and_holds_the_provider_leg(
    credit_on, data_steward, member, other_member, other_analyst
):
    dataset = published(data_steward, tier="restricted")
    request = _request(other_analyst, dataset, days=45)  # two started periods
    exchange.access_request_approve(actor=data_steward, request=request)

    fee = 2 * FEE
    assert balance(engine.member_allowance(other_member.pk)) == 500_000 - fee // 10
    assert pending(engine.member_allowance(other_member.pk)) == (fee - fee // 10, 0)
    assert balance(engine.FEES) == fee // 10
    assert pending(engine.member_available(member.pk)) == (0, fee - fee // 10)
    legs = CreditTransfer.objects.filter(ref=f"request:{request.pk}")
    assert {(leg.flag, leg.code) for leg in legs} == {("pending", "fee"), ("post_pending", "fee_post")}


def test_an_approval_the_consumer_can_no_longer_pay_for_is_refused_with_the_shortfall(
    credit_on, data_steward, other_member, other_analyst
):
    # Two requests of 13 periods (260 CR each): each fits the 500 CR allowance when submitted.
    first, second = (published(data_steward, tier="restricted", max_duration_days=390) for _ in (1, 2))
    requests = [_request(other_analyst, dataset, days=390) for dataset in (first, second)]
    exchange.access_request_approve(actor=data_steward, request=requests[0])
    before = CreditTransfer.objects.count()
    with pytest.raises(Conflict) as refused:
        exchange.access_request_approve(actor=data_steward, request=requests[1])
    assert refused.value.code == "insufficient_credit"
    assert refused.value.extra["shortfall_mcr"] == 20_000
    assert CreditTransfer.objects.count() == before
    assert AccessRequest.objects.get(pk=requests[1].pk).state == "pending"


def test_an_approval_the_consumer_can_no_longer_pay_for_is_a_409_through_the_api(
    credit_on, client_for, data_steward, other_member, other_analyst
):
    first, second = (published(data_steward, tier="restricted", max_duration_days=390) for _ in (1, 2))
    requests = [_request(other_analyst, dataset, days=390) for dataset in (first, second)]
    exchange.access_request_approve(actor=data_steward, request=requests[0])
    entries, transfers = LedgerEntry.objects.count(), CreditTransfer.objects.count()
    response = client_for(data_steward).post(
        f"/api/v1/access-requests/{requests[1].pk}/approve/", {"reason": "Fine."}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_credit" and body["shortfall_mcr"] == 20_000
    assert (LedgerEntry.objects.count(), CreditTransfer.objects.count()) == (entries, transfers)
    assert AccessRequest.objects.get(pk=requests[1].pk).state == "pending"
    assert balance(engine.member_allowance(other_member.pk)) == 500_000 - 26_000  # the first fee's 10%


def test_a_rejection_voids_the_held_fee(
    credit_on, data_steward, security_officer, other_member, other_analyst
):
    dataset = published(data_steward, tier="confidential")
    request = _request(other_analyst, dataset)
    exchange.access_request_approve(actor=data_steward, request=request)
    assert pending(engine.member_allowance(other_member.pk))[0] == 50_000
    exchange.access_request_reject(actor=security_officer, request=request, reason="Not now.")
    assert pending(engine.member_allowance(other_member.pk)) == (0, 0)
    assert balance(engine.member_allowance(other_member.pk)) == 500_000
    assert CreditTransfer.objects.filter(code="fee_void").count() == 2


def test_a_download_earns_the_provider_usage_points_with_diminishing_returns(
    credit_on, data_steward, member, other_analyst
):
    dataset = published(data_steward, tier="restricted", download_quota=6)
    request = _request(other_analyst, dataset)
    exchange.access_request_approve(actor=data_steward, request=request)
    grant = AccessRequest.objects.get(pk=request.pk).grant
    for _ in range(6):
        _, _, _, handle = exchange.grant_download(actor=other_analyst, grant=grant)
        handle.close()
    # restricted, no quality report (Q = 0.5), trusted: 10 x 2.0 x 0.5 = 10 CR, then 5, 2.5, 1.25, 0, 0
    assert [use.points for use in CreditUse.objects.order_by("order")] == [10_000, 5_000, 2_500, 1_250, 0, 0]
    assert balance(engine.member_points(member.pk)) == 18_750


def test_owner_revocation_within_the_window_returns_the_whole_fee(
    credit_on, data_steward, member, other_member, other_analyst
):
    dataset = published(data_steward, tier="restricted")
    request = _request(other_analyst, dataset)
    exchange.access_request_approve(actor=data_steward, request=request)
    grant = AccessRequest.objects.get(pk=request.pk).grant
    exchange.grant_revoke(actor=data_steward, grant=grant, reason="Wrong dataset shared.")
    assert balance(engine.member_allowance(other_member.pk)) == 500_000
    assert pending(engine.member_allowance(other_member.pk)) == (0, 0)
    assert pending(engine.member_available(member.pk)) == (0, 0)
    assert balance(engine.FEES) == 0


def test_self_dealing_inside_an_affiliation_group_pays_no_fee_and_earns_nothing(
    credit_on, officer, data_steward, member, other_member, other_analyst
):
    from ledger.credit.services import affiliation_link

    affiliation_link(actor=officer, member=other_member, parent=member)
    dataset = published(data_steward, tier="restricted")
    request = _request(other_analyst, dataset)
    exchange.access_request_approve(actor=data_steward, request=request)
    grant = AccessRequest.objects.get(pk=request.pk).grant
    _, _, _, handle = exchange.grant_download(actor=other_analyst, grant=grant)
    handle.close()
    assert not CreditTransfer.objects.filter(code__in=["fee", "use"]).exists()
    assert CreditUse.objects.get().reason == "self_dealing"


def test_a_request_the_member_cannot_pay_for_is_refused_with_the_shortfall_through_the_api(
    client_for, data_steward, member, other_member, other_analyst
):
    activate()
    admit(member)  # the consumer is never admitted: no allowance, nothing available
    dataset = published(data_steward, tier="restricted")
    response = client_for(other_analyst).post(
        "/api/v1/access-requests/",
        {
            "dataset": dataset.pk,
            "purpose": "research",
            "justification": "Benchmark.",
            "duration_days": 30,
            "accepted_terms_version": dataset.policy.terms_version,
        },
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_credit"
    assert response.json()["shortfall_mcr"] == FEE
    assert response.json()["fee_mcr"] == FEE
    assert not AccessRequest.objects.exists()


def test_a_group_moves_with_its_head_when_the_head_is_linked_elsewhere(
    credit_on, officer, member, other_member
):
    from ledger.credit.models import CreditMember
    from ledger.credit.services import affiliation_link
    from tests.factories import MemberFactory

    parent = MemberFactory()
    affiliation_link(actor=officer, member=other_member, parent=member)  # other joins m<member>
    affiliation_link(actor=officer, member=member, parent=parent)  # member's whole group follows it
    groups = dict(CreditMember.objects.values_list("member", "group"))
    assert groups[member.pk] == groups[other_member.pk] == f"m{parent.pk}"


def test_an_adjustment_beyond_what_an_entry_can_hold_is_refused_with_400(client_for, auditor, member):
    response = client_for(auditor).post(
        "/api/v1/credit/adjustments/",
        {"member": member.pk, "amount_mcr": 2**53, "reason": "Too much."},
        format="json",
    )
    assert response.status_code == 400 and "amount_mcr" in response.json()["errors"]
    huge = client_for(auditor).post(
        "/api/v1/credit/adjustments/",
        {"member": member.pk, "amount_mcr": 10**30, "reason": "Far too much."},
        format="json",
    )
    assert huge.status_code == 400
