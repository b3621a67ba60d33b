"""Rules that keep a grant worth what its policy says: one live grant per member and dataset, approval only
under the terms and price the requester accepted, a download counted only once its file is open, the allow
and deny lists kept from other members, a stream that stops when its grant or dataset goes."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from exchange import services
from exchange.models import AccessRequest, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access, set_policy
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TERMS = "Use for the declared purpose only."


def _state() -> tuple[int, int, int]:
    return AccessRequest.objects.count(), Grant.objects.count(), LedgerEntry.objects.count()


def _request(client, dataset, terms_version: int = 1):
    body = {
        "dataset": dataset.pk,
        "purpose": "research",
        "justification": "Benchmark our bearings against the cluster's.",
        "duration_days": 30,
        "accepted_terms_version": terms_version,
    }
    return client.post("/api/v1/access-requests/", body, format="json")


def _approve(client, request_id: int):
    return client.post(f"/api/v1/access-requests/{request_id}/approve/", {"reason": "Fine."}, format="json")


# --- 1. One live grant per member and dataset -------------------------------------------------------------


def test_requesting_an_open_dataset_again_while_granted_is_refused(
    client_for, data_steward, other_analyst, other_member
) -> None:
    dataset = published(data_steward, tier="open", download_quota=2)
    requester = client_for(other_analyst)
    first = _request(requester, dataset)
    assert first.status_code == 201, first.content
    grant_id = first.json()["request"]["grant"]
    before = _state()

    body = assert_problem(_request(requester, dataset), 409, "already_granted")
    assert body["current_state"] == "active"
    assert body["grant"] == grant_id
    assert _state() == before
    # Another person of the same member is the same member: refused too.
    colleague = UserFactory(username="colleague", member=other_member, member_role="analyst")
    assert_problem(_request(client_for(colleague), dataset), 409, "already_granted")
    assert _state() == before
    assert Grant.objects.filter(grantee=other_member, dataset=dataset).count() == 1


@pytest.mark.parametrize("ending", ["revoked", "expired", "window_over"])
def test_a_new_request_is_accepted_once_the_grant_has_ended(
    client_for, data_steward, other_analyst, ending
) -> None:
    dataset = published(data_steward, tier="open")
    requester = client_for(other_analyst)
    grant = Grant.objects.get(pk=_request(requester, dataset).json()["request"]["grant"])
    if ending == "revoked":
        services.grant_revoke(actor=data_steward, grant=grant, reason="Contract ended.")
    elif ending == "expired":
        assert services.grant_expire_due(now=grant.valid_until + timedelta(seconds=1)) == 1
        Grant.objects.filter(pk=grant.pk).update(valid_until=timezone.now() + timedelta(days=1))
    else:  # past its window, the beat task not yet run
        now = timezone.now()
        Grant.objects.filter(pk=grant.pk).update(
            valid_from=now - timedelta(days=31), valid_until=now - timedelta(seconds=1)
        )

    response = _request(requester, dataset)
    assert response.status_code == 201, response.content
    assert response.json()["request"]["state"] == "granted"


def test_a_restricted_request_while_granted_is_refused(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted")
    requester = client_for(other_analyst)
    request_id = _request(requester, dataset).json()["request"]["id"]
    assert _approve(client_for(data_steward), request_id).status_code == 200
    before = _state()
    assert_problem(_request(requester, dataset), 409, "already_granted")
    assert _state() == before


# --- 2. Approval only under what the requester accepted ---------------------------------------------------


def _pending(client_for, data_steward, other_analyst, tier: str = "restricted", **policy):
    dataset = published(data_steward, tier=tier, **policy)
    response = _request(client_for(other_analyst), dataset)
    assert response.status_code == 201, response.content
    return dataset, response.json()["request"]["id"]


def test_approval_after_the_terms_changed_is_refused(client_for, data_steward, other_analyst) -> None:
    dataset, request_id = _pending(client_for, data_steward, other_analyst)
    set_policy(data_steward, dataset, tier="restricted", terms="New terms: no redistribution.")
    before = _state()

    body = assert_problem(_approve(client_for(data_steward), request_id), 409, "terms_changed")
    assert body["current_state"] == "pending"
    assert (body["accepted_terms_version"], body["terms_version"]) == (1, 2)
    assert _state() == before
    assert AccessRequest.objects.get(pk=request_id).state == "pending"

    # The requester withdraws and asks again under version 2: that one may be approved.
    requester = client_for(other_analyst)
    assert (
        requester.post(f"/api/v1/access-requests/{request_id}/withdraw/", {}, format="json").status_code
        == 200
    )
    again = _request(requester, dataset, terms_version=2).json()["request"]["id"]
    assert _approve(client_for(data_steward), again).status_code == 200


def test_approval_after_the_price_rose_is_refused_and_after_it_fell_is_not(
    client_for, data_steward, other_analyst
) -> None:
    dataset, request_id = _pending(client_for, data_steward, other_analyst, price_credits=10)
    assert AccessRequest.objects.get(pk=request_id).accepted_price_credits == 10
    set_policy(data_steward, dataset, tier="restricted", price_credits=11)
    before = _state()
    assert_problem(_approve(client_for(data_steward), request_id), 409, "terms_changed")
    assert _state() == before

    set_policy(data_steward, dataset, tier="restricted", price_credits=5)
    response = _approve(client_for(data_steward), request_id)
    assert response.status_code == 200, response.content
    assert response.json()["request"]["state"] == "granted"


def test_security_officer_cannot_approve_under_changed_terms(
    client_for, data_steward, other_analyst, security_officer
) -> None:
    dataset, request_id = _pending(client_for, data_steward, other_analyst, tier="confidential")
    assert _approve(client_for(data_steward), request_id).status_code == 200
    set_policy(data_steward, dataset, tier="confidential", download_quota=0, terms="Stricter terms.")
    before = _state()
    body = assert_problem(_approve(client_for(security_officer), request_id), 409, "terms_changed")
    assert body["current_state"] == "steward_approved"
    assert _state() == before


def test_a_request_from_before_prices_were_kept_compares_the_policy_hash(
    client_for, data_steward, other_analyst
) -> None:
    dataset, request_id = _pending(client_for, data_steward, other_analyst, price_credits=10)
    AccessRequest.objects.filter(pk=request_id).update(accepted_price_credits=None)
    set_policy(data_steward, dataset, tier="restricted", price_credits=20)
    assert_problem(_approve(client_for(data_steward), request_id), 409, "terms_changed")


# --- 3. A download is counted only once its file is open --------------------------------------------------


def test_a_missing_file_is_refused_without_counting_the_download(
    client_for, data_steward, other_analyst
) -> None:
    dataset = published(data_steward, tier="open", download_quota=2)
    requester = client_for(other_analyst)
    grant_id = _request(requester, dataset).json()["request"]["grant"]
    version = dataset.versions.get()
    version.file.storage.delete(version.file.name)
    entries = LedgerEntry.objects.count()

    assert_problem(requester.post(f"/api/v1/grants/{grant_id}/download/"), 409, "file_unavailable")
    assert Grant.objects.get(pk=grant_id).downloads_remaining == 2
    assert LedgerEntry.objects.count() == entries
    assert not LedgerEntry.objects.filter(kind="data.downloaded").exists()


def test_a_download_hands_over_the_open_file_and_the_stream_closes_it(data_steward, other_analyst) -> None:
    from exchange.selectors import version_stream

    dataset = published(data_steward, tier="open")
    request = request_access(other_analyst, dataset, duration_days=5)
    grant, version, _, handle = services.grant_download(actor=other_analyst, grant=request.grant)
    stream = version_stream(grant_id=grant.pk, handle=handle)
    stream.close()  # what the response does when the client goes away before reading
    assert handle.closed
    assert list(stream) == []
    assert version.sha256


# --- 4. Allow and deny lists stay with the owner ----------------------------------------------------------


@pytest.fixture
def listed(data_steward, other_member):
    named, denied = MemberFactory(legal_name="Named"), MemberFactory(legal_name="Denied")
    dataset = published(
        data_steward, tier="restricted", deny_list=[denied.pk], eligible_size_classes=["medium", "small"]
    )
    return dataset, named, denied


def test_other_members_read_the_policy_without_the_lists(client_for, other_analyst, listed) -> None:
    dataset, _, _ = listed
    response = client_for(other_analyst).get(f"/api/v1/datasets/{dataset.pk}/policy/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert "allow_list" not in body and "deny_list" not in body
    assert body["tier"] == "restricted"
    assert body["eligible_size_classes"] == ["medium", "small"]
    assert {
        "purposes",
        "max_duration_days",
        "download_quota",
        "price_credits",
        "terms",
        "terms_version",
    } <= set(body)
    assert body["eligibility"] == {"eligible": True, "reasons": []}


def test_a_denied_member_learns_it_is_not_eligible_but_not_the_list(client_for, listed) -> None:
    dataset, _, denied = listed
    person = UserFactory(username="denied-analyst", member=denied, member_role="analyst")
    body = client_for(person).get(f"/api/v1/datasets/{dataset.pk}/policy/").json()
    assert "deny_list" not in body
    assert body["eligibility"]["eligible"] is False
    assert [reason["code"] for reason in body["eligibility"]["reasons"]] == ["member_denied"]


@pytest.mark.parametrize("reader", ["data_steward", "analyst", "officer", "security_officer", "auditor"])
def test_the_owner_and_consortium_staff_read_the_lists(request, client_for, listed, reader) -> None:
    dataset, _, denied = listed
    body = client_for(request.getfixturevalue(reader)).get(f"/api/v1/datasets/{dataset.pk}/policy/").json()
    assert body["deny_list"] == [denied.pk]
    assert body["allow_list"] == []
    assert "eligibility" not in body


# --- 5. A stream stops when its grant or its dataset goes -------------------------------------------------

BIG = b"0123456789abcdef" * (256 * 1024)  # 4 MiB: 64 chunks of 64 KiB, re-checked every 16


@pytest.mark.parametrize("stop", ["revoke", "withdraw_dataset"])
def test_a_stream_stops_between_chunks(client_for, data_steward, other_analyst, stop) -> None:
    dataset = published(data_steward, tier="open", content=BIG)
    requester = client_for(other_analyst)
    grant_id = _request(requester, dataset).json()["request"]["grant"]
    response = requester.post(f"/api/v1/grants/{grant_id}/download/")
    assert response.status_code == 200, response.content
    digest = base64.b64encode(hashlib.sha256(BIG).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    chunks = iter(response.streaming_content)
    received = len(next(chunks))

    owner = client_for(data_steward)
    if stop == "revoke":
        revoked = owner.post(f"/api/v1/grants/{grant_id}/revoke/", {"reason": "Stop."}, format="json")
        assert revoked.status_code == 200, revoked.content
    else:
        withdrawn = owner.post(f"/api/v1/datasets/{dataset.pk}/withdraw/", {"reason": "Gone."}, format="json")
        assert withdrawn.status_code == 200, withdrawn.content
    received += sum(len(chunk) for chunk in chunks)
    assert 0 < received <= 16 * 64 * 1024 < len(BIG)
