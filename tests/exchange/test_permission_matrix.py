"""The exchange permission matrix: every role x every action x every situation, exact status codes.

The actor belongs to member M (consortium staff and anonymous visitors belong to none). Situations:

* ``own``: a dataset of M. Member X has a pending request on it, member Y an active grant.
* ``none``: a dataset of member O, on which M has no grant; T has a pending request and an active grant.
* ``active`` / ``expired`` / ``revoked``: a dataset of O on which M holds a grant in that state (expired
  through the beat service, revoked by O's steward).

Each action targets the situation's record: the dataset (its policy read and set, a version uploaded,
version 1 withdrawn, the dataset withdrawn); for approve/reject the pending request (``own``, ``none``) or
the request that made M's grant (the others); for revoke/download the grant; for receipts the signed
receipts of the request that made the grant, its ``access.granted`` decision among them. Every case runs
twice: on restricted data, and on confidential data (granted by the steward and then a security officer;
its grants allow no download, and security officers see its requests and grants). Codes: 404 for
what the actor may not see (for the catalog list: answered 200 without the dataset), 403 for seen but
not allowed, 409 for the wrong state, 401 for anonymous visitors. A refusal appends no ledger entry.

Besides, guardian's object permissions on every dataset are exactly those of the active grants, before
and after every action: `use_dataset` for each member with an active grant, `download_dataset` when that
grant allows downloads.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from consortium.models import Member
from exchange import services
from exchange.models import AccessRequest, Dataset, DatasetGroupObjectPermission, Grant
from ledger.models import LedgerEntry
from tests.exchange.support import post_request, published, request_access
from tests.factories import MemberFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

SITUATIONS = ["own", "none", "active", "expired", "revoked"]
ACTIONS = [
    "list",
    "view",
    "versions",
    "policy_read",
    "policy_set",
    "version_upload",
    "version_withdraw",
    "dataset_withdraw",
    "request",
    "approve",
    "reject",
    "revoke",
    "download",
    "receipts",
]
TIERS = ["restricted", "confidential"]


def _row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(SITUATIONS)
    return dict(zip(SITUATIONS, codes, strict=True))


ALL_200 = _row(200, 200, 200, 200, 200)
ALL_404 = _row(404, 404, 404, 404, 404)
ALL_403 = _row(403, 403, 403, 403, 403)
ALL_401 = _row(401, 401, 401, 401, 401)
ALL_409 = _row(409, 409, 409, 409, 409)
OWN_ONLY = _row(200, 403, 403, 403, 403)  # the owner's stewards (or manage keys) change its dataset

# Member people of M: everything listed is visible; they request others' data, decide nothing of others.
_PERSON = {
    "list": ALL_200,
    "view": ALL_200,
    "versions": ALL_200,
    "policy_read": ALL_200,
    "policy_set": ALL_403,
    "version_upload": ALL_403,
    "version_withdraw": ALL_403,
    "dataset_withdraw": ALL_403,
    "request": _row(400, 201, 409, 201, 201),  # own: own_dataset; active: already_granted
    "approve": _row(403, 404, 403, 403, 403),
    "reject": _row(403, 404, 403, 403, 403),
    "revoke": _row(403, 404, 403, 403, 403),
    "download": _row(403, 404, 200, 409, 409),
    "receipts": _row(200, 404, 200, 200, 200),
}
# What the owner's stewards, and keys with the manage scope, may do with their own dataset.
_MANAGER = {
    "policy_set": OWN_ONLY,
    "version_upload": _row(201, 403, 403, 403, 403),
    "version_withdraw": OWN_ONLY,
    "dataset_withdraw": OWN_ONLY,
    "approve": _row(200, 404, 403, 403, 403),
    "reject": _row(200, 404, 403, 403, 403),
    "revoke": _row(200, 404, 403, 403, 403),
}
# Staff who see every request and grant (officers, auditors) but request and download nothing.
_STAFF_SEEING_ALL = {
    "list": ALL_200,
    "view": ALL_200,
    "versions": ALL_200,
    "policy_read": ALL_200,
    "policy_set": ALL_403,
    "version_upload": ALL_403,
    "version_withdraw": ALL_403,
    "dataset_withdraw": ALL_403,
    "request": ALL_403,
    "approve": ALL_403,
    "reject": ALL_403,
    "revoke": ALL_403,
    "download": ALL_403,
    "receipts": ALL_200,
}

EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "member_admin": _PERSON,
    "analyst": _PERSON,
    "data_steward": {**_PERSON, **_MANAGER},
    "key:read": {
        **_PERSON,
        "request": ALL_403,  # sees the dataset; requesting needs the request scope
        "download": _row(403, 404, 403, 403, 403),
    },
    # Requesting or managing implies reading: a request key acts as an analyst would.
    "key:request": _PERSON,
    "key:manage": {
        **_PERSON,
        **_MANAGER,
        "request": ALL_403,  # requesting and downloading need the request scope
        "download": _row(403, 404, 403, 403, 403),
    },
    # Officers revoke any grant and withdraw any version (not a dataset: that is its owner's decision).
    "officer": {**_STAFF_SEEING_ALL, "revoke": _row(200, 200, 200, 409, 409), "version_withdraw": ALL_200},
    "auditor": _STAFF_SEEING_ALL,
    # Security officers see requests and grants of confidential tier only; these are restricted.
    "security_officer": {
        **_STAFF_SEEING_ALL,
        "approve": ALL_404,
        "reject": ALL_404,
        "revoke": ALL_404,
        "download": ALL_404,
        "receipts": ALL_404,
    },
    "anonymous": dict.fromkeys(ACTIONS, ALL_401),
}
ACTORS = list(EXPECTED)
_MEMBER_PEOPLE = ["member_admin", "analyst", "data_steward", "key:request"]

# Confidential data: a grant allows no raw download (403 no_raw_download while it is active), and security
# officers see every request and grant of it: they decide only steward-approved requests (none is here:
# 409), revoke and download nothing (403), and read the receipts.
EXPECTED_BY_TIER: dict[str, dict[str, dict[str, dict[str, int]]]] = {
    "restricted": EXPECTED,
    "confidential": {
        **EXPECTED,
        **{actor: {**EXPECTED[actor], "download": _row(403, 404, 403, 409, 409)} for actor in _MEMBER_PEOPLE},
        "security_officer": {
            **EXPECTED["security_officer"],
            "approve": ALL_409,
            "reject": ALL_409,
            "revoke": ALL_403,
            "download": ALL_403,
            "receipts": ALL_200,
        },
    },
}


@dataclass
class World:
    dataset: Dataset
    request: AccessRequest
    grant: Grant
    actor_member: Member


def _analyst(label: str, member: Member | None = None):
    return UserFactory(
        username=f"{label}-analyst",
        member=member or MemberFactory(legal_name=f"{label} Co."),
        member_role="analyst",
    )


def _granted(requester, dataset: Dataset, *deciders) -> AccessRequest:
    """A request of `requester` approved by each of `deciders` in turn (steward, then security officer)."""
    request = request_access(requester, dataset)
    for decider in deciders:
        request, _ = services.access_request_approve(actor=decider, request=request, reason="Fine.")
    return AccessRequest.objects.get(pk=request.pk)


def _build(situation: str, member: Member, data_steward, tier: str, security_officer) -> World:
    def deciders(steward) -> list:
        return [steward, security_officer] if tier == "confidential" else [steward]

    if situation == "own":
        dataset = published(data_steward, tier=tier)
        pending = request_access(_analyst("x"), dataset)
        granted = _granted(_analyst("y"), dataset, *deciders(data_steward))
        return World(dataset, pending, granted.grant, member)
    owner_steward = UserFactory(
        username="o-steward", member=MemberFactory(legal_name="O Co."), member_role="data_steward"
    )
    dataset = published(owner_steward, tier=tier)
    if situation == "none":
        pending = request_access(_analyst("t-pending"), dataset)
        granted = _granted(_analyst("t"), dataset, *deciders(owner_steward))
        return World(dataset, pending, granted.grant, member)
    request = _granted(_analyst("m-requester", member), dataset, *deciders(owner_steward))
    grant = request.grant
    if situation == "expired":
        now = timezone.now()
        Grant.objects.filter(pk=grant.pk).update(
            valid_from=now - timedelta(days=31), valid_until=now - timedelta(seconds=1)
        )
        assert services.grant_expire_due() == 1
    elif situation == "revoked":
        services.grant_revoke(actor=owner_steward, grant=grant, reason="Contract ended.")
    return World(dataset, request, Grant.objects.get(pk=grant.pk), member)


def _client(actor: str, request: Any, member_admin) -> APIClient:
    client = APIClient()
    if actor.startswith("key:"):
        _, raw = make_api_key(admin=member_admin, scopes=[actor.split(":")[1]], name=actor)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    elif actor != "anonymous":
        client.force_login(request.getfixturevalue(actor))
    return client


def _do(client: APIClient, action: str, world: World) -> tuple[int, Any]:
    dataset, reason = world.dataset, {"reason": "Because."}
    if action == "list":
        response = client.get("/api/v1/datasets/", {"page_size": 100})
        if response.status_code == 200:
            listed = dataset.pk in [d["id"] for d in response.json()["results"]]
            return (200 if listed else 404), response
        return response.status_code, response
    if action == "view":
        response = client.get(f"/api/v1/datasets/{dataset.pk}/")
    elif action == "versions":
        response = client.get(f"/api/v1/datasets/{dataset.pk}/versions/")
    elif action == "policy_read":
        response = client.get(f"/api/v1/datasets/{dataset.pk}/policy/")
    elif action == "policy_set":
        policy = {"tier": dataset.policy.tier, "purposes": ["research"], "terms": dataset.policy.terms}
        response = client.put(f"/api/v1/datasets/{dataset.pk}/policy/", policy, format="json")
    elif action == "version_upload":
        upload = SimpleUploadedFile("v2.csv", b"sensor,value\nline,2\n", content_type="text/csv")
        response = client.post(
            f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
        )
    elif action == "version_withdraw":
        response = client.post(f"/api/v1/datasets/{dataset.pk}/versions/1/withdraw/", reason, format="json")
    elif action == "dataset_withdraw":
        response = client.post(f"/api/v1/datasets/{dataset.pk}/withdraw/", reason, format="json")
    elif action == "receipts":
        response = client.get(f"/api/v1/access-requests/{world.grant.request_id}/receipts/")
        if response.status_code == 200:  # the decision is among them, bound to the grant
            (granted,) = [r for r in response.json() if r["kind"] == "access.granted"]
            assert f'"grant":{world.grant.pk},'.encode() in base64.b64decode(granted["canonical"])
    elif action == "request":
        response = post_request(client, dataset)
    elif action in ("approve", "reject"):
        response = client.post(f"/api/v1/access-requests/{world.request.pk}/{action}/", reason, format="json")
    elif action == "revoke":
        response = client.post(f"/api/v1/grants/{world.grant.pk}/revoke/", reason, format="json")
    elif action == "download":
        response = client.post(f"/api/v1/grants/{world.grant.pk}/download/")
        if response.status_code == 200:
            b"".join(response.streaming_content)
    else:
        raise AssertionError(action)
    return response.status_code, response


def _held() -> set[tuple[int, int, str]]:
    """(member, dataset, codename) of every guardian permission held by a member's group."""
    return {
        (member_id, dataset_id, codename)
        for member_id, dataset_id, codename in DatasetGroupObjectPermission.objects.values_list(
            "group__member__pk", "content_object_id", "permission__codename"
        )
    }


def _owed() -> set[tuple[int, int, str]]:
    """What the active grants call for, worked out from the grants alone (not from the services)."""
    now, owed = timezone.now(), set()
    for grant in Grant.objects.all():
        if grant.state_at(now) == "active":
            owed.add((grant.grantee_id, grant.dataset_id, "use_dataset"))
            if grant.download_quota > 0:
                owed.add((grant.grantee_id, grant.dataset_id, "download_dataset"))
    return owed


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", ACTORS)
def test_permission_matrix(
    request, actor, action, situation, tier, member, member_admin, data_steward, security_officer
) -> None:
    world = _build(situation, member, data_steward, tier, security_officer)
    client = _client(actor, request, member_admin)
    # M's group holds the dataset's permissions exactly in the active situation (no download permission
    # on confidential data); every holder has a grant that is active now.
    m_holds = {c for m, d, c in _held() if m == member.pk and d == world.dataset.pk}
    active = {"use_dataset"} if tier == "confidential" else {"use_dataset", "download_dataset"}
    assert m_holds == (active if situation == "active" else set())
    assert _held() == _owed()
    entries = LedgerEntry.objects.count()

    status, response = _do(client, action, world)

    assert status == EXPECTED_BY_TIER[tier][actor][action][situation], (status, response.content)
    assert _held() == _owed()
    if status >= 400:
        assert LedgerEntry.objects.count() == entries


def test_the_table_covers_every_role_action_and_situation() -> None:
    assert len(ACTORS) == 10 and len(ACTIONS) == 14
    for tier in TIERS:
        assert set(EXPECTED_BY_TIER[tier]) == set(ACTORS), tier
        for actor in ACTORS:
            assert set(EXPECTED_BY_TIER[tier][actor]) == set(ACTIONS), (tier, actor)
            for action in ACTIONS:
                assert set(EXPECTED_BY_TIER[tier][actor][action]) == set(SITUATIONS), (tier, actor, action)


# --- The permission store beyond the matrix ---------------------------------------------------------------


def _perms_of(member: Member, dataset: Dataset) -> set[str]:
    return {c for m, d, c in _held() if m == member.pk and d == dataset.pk}


def test_revoking_one_of_two_grants_keeps_the_permissions_of_the_other(member, data_steward) -> None:
    owner_steward = UserFactory(member=MemberFactory(), member_role="data_steward")
    dataset = published(owner_steward, tier="restricted")
    requester = _analyst("m", member)
    first = _granted(requester, dataset, owner_steward).grant
    # A member holds one live grant per dataset now; two at once are grants from before that rule, made
    # here by pushing the first out of its window while the second is granted, then back.
    window = first.valid_until
    Grant.objects.filter(pk=first.pk).update(valid_until=timezone.now())
    second = _granted(requester, dataset, owner_steward).grant
    Grant.objects.filter(pk=first.pk).update(valid_until=window)
    assert _perms_of(member, dataset) == {"use_dataset", "download_dataset"}

    services.grant_revoke(actor=owner_steward, grant=first, reason="Replaced.")
    assert _perms_of(member, dataset) == {"use_dataset", "download_dataset"}
    services.grant_revoke(actor=owner_steward, grant=second, reason="Ended.")
    assert _perms_of(member, dataset) == set()
    assert _held() == _owed() == set()


def test_confidential_grant_gives_use_but_not_download(member, security_officer) -> None:
    owner_steward = UserFactory(member=MemberFactory(), member_role="data_steward")
    dataset = published(owner_steward, tier="confidential")
    request = request_access(_analyst("m", member), dataset)
    services.access_request_approve(actor=owner_steward, request=request, reason="Fine.")
    assert _perms_of(member, dataset) == set()  # steward-approved is not yet a grant
    services.access_request_approve(actor=security_officer, request=request, reason="Checked.")
    assert _perms_of(member, dataset) == {"use_dataset"}


def test_download_needs_the_permission_as_well_as_the_grant(client_for, member) -> None:
    from guardian.shortcuts import remove_perm

    owner_steward = UserFactory(member=MemberFactory(), member_role="data_steward")
    dataset = published(owner_steward, tier="restricted")
    requester = _analyst("m", member)
    grant = _granted(requester, dataset, owner_steward).grant
    # Out of step on purpose (as if a grant were written around the services): the engine alone says yes.
    remove_perm("download_dataset", member.group, dataset)
    entries = LedgerEntry.objects.count()
    response = client_for(requester).post(f"/api/v1/grants/{grant.pk}/download/")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "download_permission_not_held"
    assert LedgerEntry.objects.count() == entries
    assert Grant.objects.get(pk=grant.pk).downloads_remaining == grant.download_quota


def test_expiry_removes_the_permissions_once(member) -> None:
    owner_steward = UserFactory(member=MemberFactory(), member_role="data_steward")
    dataset = published(owner_steward, tier="open")
    request = request_access(_analyst("m", member), dataset)  # open tier: granted at once
    assert _perms_of(member, dataset) == {"use_dataset", "download_dataset"}
    later = timezone.now() + timedelta(days=400)
    assert services.grant_expire_due(now=later) == 1
    assert _perms_of(member, dataset) == set()
    assert services.grant_expire_due(now=later) == 0
    assert request.grant.pk
