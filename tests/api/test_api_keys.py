"""API key lifecycle: shown once, stored hashed, used, last use recorded, revoked and expired keys refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from consortium.models import MemberAPIKey, User
from ledger.models import LedgerEntry

pytestmark = pytest.mark.django_db


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_created_key_is_shown_once_and_stored_hashed(client_for, member, member_admin) -> None:
    admin = client_for(member_admin)
    response = admin.post(
        "/api/v1/api-keys/", {"name": "ERP sync", "scopes": ["read", "request"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    raw = body["key"]
    prefix = body["prefix"]
    assert raw.startswith(prefix + ".")
    assert body["scopes"] == ["read", "request"]
    # Default expiry: 90 days.
    key = MemberAPIKey.objects.get(prefix=prefix)
    assert abs((key.expiry_date - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)
    # Never again: not in the list, not in the detail.
    listed = admin.get("/api/v1/api-keys/").content.decode()
    detail = admin.get(f"/api/v1/api-keys/{prefix}/").content.decode()
    assert raw not in listed and raw not in detail
    assert '"key"' not in listed and '"key"' not in detail
    # The database holds no raw key, in any column of any row.
    secret = raw.split(".", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM consortium_memberapikey")
        assert secret not in repr(cursor.fetchall())
    assert key.hashed_key and secret not in key.hashed_key
    # Its system user: in the member's group, no usable password.
    system = key.system_user
    assert system.username == f"apikey-{prefix}"
    assert (system.member, system.member_role, system.has_usable_password()) == (member, "system", False)
    assert system.groups.filter(pk=member.group_id).exists()
    assert LedgerEntry.objects.filter(kind="member.api_key_created", subject_id=prefix).exists()


def test_key_authenticates_and_records_last_use(key_client) -> None:
    client, key, _ = key_client(["read"])
    assert key.last_used_at is None
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["role"] == "system"
    assert response.json()["api_key"]["prefix"] == key.prefix
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize("scheme", ["api-key", "API-KEY", "aPi-KeY"])
def test_the_scheme_is_case_insensitive(key_client, scheme) -> None:
    # RFC 9110 (11.1): the authentication scheme is a case-insensitive token. `api-key` was refused.
    _, key, raw = key_client(["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {raw}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    assert response.json()["api_key"]["prefix"] == key.prefix


def test_another_scheme_is_not_a_key(key_client) -> None:
    _, _, raw = key_client(["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/me/").json()["code"] == "not_authenticated"


def test_wrong_secret_is_refused(key_client) -> None:
    _, _, raw = key_client(["read"])
    response = _key_client(raw[:-2] + ("aa" if not raw.endswith("aa") else "bb")).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_invalid"


def test_revoked_key_is_refused(client_for, member_admin, key_client) -> None:
    client, key, _ = key_client(["read"])
    assert client.get("/api/v1/me/").status_code == 200
    response = client_for(member_admin).post(f"/api/v1/api-keys/{key.prefix}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert response.json()["revoked_by"] == member_admin.username
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "api_key_revoked"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert User.objects.get(pk=key.system_user_id).is_active is False
    again = client_for(member_admin).post(f"/api/v1/api-keys/{key.prefix}/revoke/")
    assert again.status_code == 409
    assert again.json()["code"] == "already_revoked"


def test_expired_key_is_refused(key_client) -> None:
    client, key, _ = key_client(["read"])
    MemberAPIKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_key_of_suspended_member_is_refused(key_client, member) -> None:
    client, _, _ = key_client(["read"])
    member.status = "suspended"
    member.save()
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "member_not_active"


@pytest.mark.parametrize(
    ("scopes", "can_list_people", "capabilities"),
    [
        (["read"], False, {"member.view_own", "catalog.browse"}),
        (["request"], False, {"access.request"}),
        (["manage"], True, {"member.view_users", "member.manage_users", "dataset.manage"}),
    ],
)
def test_scopes_are_enforced(key_client, analyst, scopes, can_list_people, capabilities) -> None:
    client, _, _ = key_client(scopes)
    me = client.get("/api/v1/me/").json()
    assert capabilities <= set(me["capabilities"])
    assert "member.manage_api_keys" not in me["capabilities"]
    people = {u["username"] for u in client.get("/api/v1/users/").json()["results"]}
    assert ("own-analyst" in people) is can_list_people
    # No scope lets a key mint keys.
    assert (
        client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json").status_code == 403
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "scopes": []}, "invalid_scopes"),
        ({"name": "x", "scopes": ["admin"]}, "invalid_scopes"),
        ({"name": "x", "scopes": ["read", "admin"]}, "invalid_scopes"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "invalid_expiry"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2199-01-01T00:00:00Z"}, "invalid_expiry"),
        # The service's codes for the name (consortium.services.api_keys), as for a member's contact
        # details: the serializer refused a blank, missing or long one first, as validation_error.
        ({"name": "", "scopes": ["read"]}, "required"),
        ({"name": "   ", "scopes": ["read"]}, "required"),
        ({"scopes": ["read"]}, "required"),
        ({"name": "x" * 51, "scopes": ["read"]}, "invalid"),
        ({"name": ["x"], "scopes": ["read"]}, "validation_error"),  # not text at all
    ],
)
def test_bad_key_requests_change_nothing(client_for, member_admin, body, code) -> None:
    keys, users = MemberAPIKey.objects.count(), User.objects.count()
    response = client_for(member_admin).post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert (MemberAPIKey.objects.count(), User.objects.count()) == (keys, users)


@pytest.mark.parametrize("shape", ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])
def test_an_expiry_without_a_time_zone_is_refused(client_for, member_admin, shape) -> None:
    """As documented (invalid_expiry): DRF's DateTimeField took a time without a zone as one in the server's
    zone before the service could refuse it, and the key was made (201)."""
    naive = (timezone.now() + timedelta(days=30)).strftime(shape)
    keys = MemberAPIKey.objects.count()
    response = client_for(member_admin).post(
        "/api/v1/api-keys/", {"name": "x", "scopes": ["read"], "expires_at": naive}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_expiry"
    assert set(response.json()["errors"]) == {"expires_at"}
    assert MemberAPIKey.objects.count() == keys


def test_an_expiry_with_an_offset_is_the_instant_it_names(client_for, member_admin) -> None:
    expires_at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    given = expires_at.astimezone(timezone.get_fixed_timezone(8 * 60)).isoformat()
    response = client_for(member_admin).post(
        "/api/v1/api-keys/", {"name": "x", "scopes": ["read"], "expires_at": given}, format="json"
    )
    assert response.status_code == 201, response.content
    assert MemberAPIKey.objects.get(prefix=response.json()["prefix"]).expiry_date == expires_at


def test_suspended_member_admin_cannot_create_keys(client_for, member, member_admin) -> None:
    member.status = "suspended"
    member.save()
    response = client_for(member_admin).post(
        "/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json"
    )
    assert response.status_code == 403
