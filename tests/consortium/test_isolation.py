"""Isolation between members: every role (and API key scope) x own member / other member, exact status codes.

404 means the actor may not even know the record exists; 403 that they may see it but not do this.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from consortium.models import MemberAPIKey, User
from tests.factories import UserFactory, make_api_key

pytestmark = pytest.mark.django_db

ACTIONS = [
    "member.read",
    "user.read",
    "user.create",
    "user.role",
    "user.deactivate",
    "key.read",
    "key.revoke",
]
# actor -> action -> (status on the own member's record, status on the other member's record)
_STEWARDLIKE = {
    "member.read": (200, 200),
    "user.read": (404, 404),
    # Refused as one who adds nobody to any member, before the body's member is looked at (it is visible).
    "user.create": (403, 403),
    "user.role": (404, 404),
    "user.deactivate": (404, 404),
    "key.read": (404, 404),
    "key.revoke": (404, 404),
}
_STAFF = {
    "member.read": (200, 200),
    "user.read": (404, 404),
    "user.create": (403, 403),
    "user.role": (404, 404),
    "user.deactivate": (404, 404),
    "key.read": (200, 200),
    "key.revoke": (403, 403),
}
EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    "member_admin": {
        "member.read": (200, 200),
        "user.read": (200, 404),
        "user.create": (201, 404),
        "user.role": (200, 404),
        "user.deactivate": (200, 404),
        "key.read": (200, 404),
        "key.revoke": (200, 404),
    },
    "data_steward": _STEWARDLIKE,
    "analyst": _STEWARDLIKE,
    "officer": {
        "member.read": (200, 200),
        "user.read": (200, 200),
        "user.create": (201, 201),
        "user.role": (200, 200),
        "user.deactivate": (200, 200),
        "key.read": (200, 200),
        "key.revoke": (403, 403),
    },
    "security_officer": _STAFF,
    "auditor": _STAFF,
    "key:read": _STEWARDLIKE,
    # Requesting or managing implies reading, so every key sees the member directory.
    "key:request": _STEWARDLIKE,
    # A key gives no role beyond its scopes: an analyst requests data, which `manage` alone may not.
    "key:manage": {
        "member.read": (200, 200),
        "user.read": (200, 404),
        "user.create": (403, 404),
        "user.role": (403, 404),
        "user.deactivate": (200, 404),
        "key.read": (404, 404),
        "key.revoke": (404, 404),
    },
    "key:request+manage": {
        "member.read": (200, 200),
        "user.read": (200, 404),
        "user.create": (201, 404),
        "user.role": (200, 404),
        "user.deactivate": (200, 404),
        "key.read": (404, 404),
        "key.revoke": (404, 404),
    },
}
KEY_CREATE = {actor: 201 if actor == "member_admin" else 403 for actor in EXPECTED}


@dataclass
class Side:
    member_id: int
    target: User
    key: MemberAPIKey


@pytest.fixture
def world(member, member_admin, other_member, other_admin):
    own = Side(member.pk, UserFactory(member=member, member_role="analyst", username="own-target"), None)
    own.key, _ = make_api_key(admin=member_admin, scopes=["read"], name="own key")
    other = Side(
        other_member.pk,
        UserFactory(member=other_member, member_role="analyst", username="other-target"),
        None,
    )
    other.key, _ = make_api_key(admin=other_admin, scopes=["read"], name="other key")
    return {"own": own, "other": other}


def _client(actor: str, request, member_admin) -> APIClient:
    client = APIClient()
    if actor.startswith("key:"):
        _, raw = make_api_key(admin=member_admin, scopes=actor.split(":")[1].split("+"), name=actor)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    else:
        client.force_login(request.getfixturevalue(actor))
    return client


def _do(client: APIClient, action: str, side: Side):
    target, key = side.target, side.key
    if action == "member.read":
        return client.get(f"/api/v1/members/{side.member_id}/")
    if action == "user.read":
        return client.get(f"/api/v1/users/{target.pk}/")
    if action == "user.create":
        body = {
            "member": side.member_id,
            "username": "newcomer",
            "email": "new@firm.example",
            "role": "analyst",
        }
        return client.post("/api/v1/users/", body, format="json")
    if action == "user.role":
        return client.patch(f"/api/v1/users/{target.pk}/", {"role": "data_steward"}, format="json")
    if action == "user.deactivate":
        return client.post(f"/api/v1/users/{target.pk}/deactivate/")
    if action == "key.read":
        return client.get(f"/api/v1/api-keys/{key.prefix}/")
    if action == "key.revoke":
        return client.post(f"/api/v1/api-keys/{key.prefix}/revoke/")
    raise AssertionError(action)


def _state(side: Side) -> tuple:
    side.target.refresh_from_db()
    side.key.refresh_from_db()
    return (User.objects.count(), side.target.member_role, side.target.is_active, side.key.revoked)


@pytest.mark.parametrize("whose", ["own", "other"])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", list(EXPECTED))
def test_isolation_matrix(world, actor, action, whose, request, member_admin) -> None:
    client = _client(actor, request, member_admin)
    side = world[whose]
    expected = EXPECTED[actor][action][0 if whose == "own" else 1]
    before = _state(side)
    response = _do(client, action, side)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
        assert _state(side) == before, "a refused request changed something"
    if expected == 404:
        # The body must not reveal whether the record exists.
        assert side.target.username not in response.content.decode()


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_key_creation_only_by_member_admin(world, actor, request, member_admin) -> None:
    client = _client(actor, request, member_admin)
    keys = MemberAPIKey.objects.count()
    response = client.post("/api/v1/api-keys/", {"name": "erp", "scopes": ["read"]}, format="json")
    assert response.status_code == KEY_CREATE[actor], response.content
    assert MemberAPIKey.objects.count() == keys + (1 if KEY_CREATE[actor] == 201 else 0)


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_lists_never_show_another_members_people_or_keys(world, actor, request, member_admin) -> None:
    client = _client(actor, request, member_admin)
    users = client.get("/api/v1/users/?page_size=100").json()["results"]
    usernames = {u["username"] for u in users}
    if actor == "officer":
        assert {"own-target", "other-target"} <= usernames
    else:
        assert "other-target" not in usernames
        assert "other-admin" not in usernames
    keys = client.get("/api/v1/api-keys/?page_size=100").json()["results"]
    names = {k["name"] for k in keys}
    if actor in {"officer", "security_officer", "auditor"}:
        assert {"own key", "other key"} <= names
    elif actor == "member_admin":
        assert "own key" in names
        assert "other key" not in names
    else:
        assert names == set()
    assert all("key" not in k for k in keys)


def test_applications_are_visible_only_to_staff(world, request) -> None:
    from tests.factories import MemberFactory

    applied = MemberFactory(status="applied")
    for actor, code in [("officer", 200), ("auditor", 200), ("security_officer", 200), ("member_admin", 404)]:
        client = APIClient()
        client.force_login(request.getfixturevalue(actor))
        assert client.get(f"/api/v1/members/{applied.pk}/").status_code == code, actor


def test_member_admin_cannot_deactivate_or_demote_the_last_admin(client_for, member_admin) -> None:
    client = client_for(member_admin)
    response = client.post(f"/api/v1/users/{member_admin.pk}/deactivate/")
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"
    response = client.patch(f"/api/v1/users/{member_admin.pk}/", {"role": "analyst"}, format="json")
    assert response.status_code == 409
    member_admin.refresh_from_db()
    assert (member_admin.is_active, member_admin.member_role) == (True, "member_admin")


def test_second_admin_lets_the_first_step_down(client_for, member, member_admin) -> None:
    UserFactory(member=member, member_role="member_admin", username="second-admin")
    response = client_for(member_admin).patch(
        f"/api/v1/users/{member_admin.pk}/", {"role": "analyst"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["role"] == "analyst"


def test_partner_key_may_not_create_member_admins(key_client) -> None:
    client, _, _ = key_client(["manage"])
    body = {"username": "sneaky", "email": "s@firm.example", "role": "member_admin"}
    assert client.post("/api/v1/users/", body, format="json").status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


def test_created_user_joins_the_member_group(client_for, member, member_admin) -> None:
    body = {
        "username": "newbie",
        "email": "newbie@firm.example",
        "role": "data_steward",
        "password": "a-Long-pass-99",
    }
    response = client_for(member_admin).post("/api/v1/users/", body, format="json")
    assert response.status_code == 201
    user = User.objects.get(username="newbie")
    assert user.member == member
    assert user.groups.filter(pk=member.group_id).exists()
    assert user.check_password("a-Long-pass-99")
