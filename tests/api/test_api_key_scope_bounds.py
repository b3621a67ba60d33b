"""An API key never obtains powers beyond its scopes through the people it manages.

The reported hole: a key with only the `manage` scope (people, datasets, decisions; no `request`) created an
analyst with a password it chose, logged in as that analyst in the portal, and requested and downloaded
data. A key now gives nobody a password, and gives no role whose powers its own scopes do not cover.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from consortium.models import MemberAPIKey, User
from exchange.models import AccessRequest, Dataset, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-pass-99"
ALL_SCOPES = ["read", "request", "manage"]


def _portal_login(username: str, password: str) -> Client:
    client = Client()
    client.post(reverse("portal:login"), {"username": username, "password": password})
    return client


def _writes() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        AccessRequest.objects.count(),
        Grant.objects.count(),
        LedgerEntry.objects.count(),
    )


# --- The reported path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["analyst", "data_steward"])
def test_manage_key_cannot_make_a_login_that_requests_and_downloads(key_client, other_steward, role) -> None:
    dataset = published(other_steward, tier="open")
    client, _, _ = key_client(["manage"])
    before = _writes()
    body = {"username": "proxy", "email": "proxy@own.example", "role": role, "password": PASSWORD}
    response = client.post("/api/v1/users/", body, format="json")
    assert response.status_code == 403, response.content
    assert_problem(response, 403, "role_beyond_key_scopes")
    assert "request" in response.json()["detail"]
    assert not User.objects.filter(username="proxy").exists()

    # What the key would have done next: log in as the person, request the open dataset, download it.
    portal = _portal_login("proxy", PASSWORD)
    assert "_auth_user_id" not in portal.session
    form = {
        "purpose": "research",
        "justification": "Benchmark.",
        "duration_days": 30,
        "accept_terms": "on",
        "terms_version": 1,
    }
    response = portal.post(reverse("portal:dataset-detail", args=[dataset.pk]), form)
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    assert _writes() == before


def test_no_key_gives_a_person_a_password(key_client, other_steward) -> None:
    published(other_steward, tier="open")
    # A key that may request data itself may add an analyst, but never one it can log in as.
    client, _, _ = key_client(ALL_SCOPES)
    body = {"username": "proxy", "email": "proxy@own.example", "role": "analyst", "password": PASSWORD}
    before = _writes()
    response = client.post("/api/v1/users/", body, format="json")
    assert_problem(response, 400, "password_not_allowed")
    assert list(response.json()["errors"]) == ["password"]
    assert _writes() == before

    del body["password"]
    response = client.post("/api/v1/users/", body, format="json")
    assert response.status_code == 201, response.content
    person = User.objects.get(username="proxy")
    assert (person.member_role, person.has_usable_password()) == ("analyst", False)
    assert "_auth_user_id" not in _portal_login("proxy", PASSWORD).session
    assert "_auth_user_id" not in _portal_login("proxy", "").session


def test_explicit_null_password_is_no_password(key_client) -> None:
    client, _, _ = key_client(ALL_SCOPES)
    body = {"username": "proxy", "email": "proxy@own.example", "role": "analyst", "password": None}
    assert client.post("/api/v1/users/", body, format="json").status_code == 201
    assert not User.objects.get(username="proxy").has_usable_password()


def test_member_admin_session_still_sets_an_initial_password(client_for, member_admin) -> None:
    body = {"username": "newbie", "email": "n@own.example", "role": "analyst", "password": PASSWORD}
    assert client_for(member_admin).post("/api/v1/users/", body, format="json").status_code == 201
    assert "_auth_user_id" in _portal_login("newbie", PASSWORD).session


# --- Related paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "role", "allowed"),
    [
        (["manage"], "analyst", False),
        (["manage"], "data_steward", False),
        (["read", "manage"], "analyst", False),
        (["request", "manage"], "analyst", True),
        (["request", "manage"], "data_steward", True),
        (ALL_SCOPES, "member_admin", False),
    ],
)
def test_a_key_grants_only_roles_within_its_scopes(key_client, scopes, role, allowed) -> None:
    client, _, _ = key_client(scopes)
    body = {"username": "newbie", "email": "n@own.example", "role": role}
    response = client.post("/api/v1/users/", body, format="json")
    assert response.status_code == (201 if allowed else 403), response.content
    assert User.objects.filter(username="newbie").exists() is allowed


@pytest.mark.parametrize(
    ("scopes", "start", "role", "allowed"),
    [
        (["manage"], "analyst", "data_steward", False),
        (["manage"], "data_steward", "analyst", False),
        (["manage"], "analyst", "member_admin", False),
        (ALL_SCOPES, "analyst", "member_admin", False),
        (ALL_SCOPES, "data_steward", "member_admin", False),
        (["request", "manage"], "analyst", "data_steward", True),
    ],
)
def test_a_key_raises_nobody_beyond_its_scopes(key_client, member, scopes, start, role, allowed) -> None:
    person = UserFactory(username="person", member=member, member_role=start)
    client, _, _ = key_client(scopes)
    response = client.patch(f"/api/v1/users/{person.pk}/", {"role": role}, format="json")
    assert response.status_code == (200 if allowed else 403), response.content
    if not allowed:
        assert_problem(response, 403, "role_beyond_key_scopes")
    person.refresh_from_db()
    assert person.member_role == (role if allowed else start)


def test_a_key_cannot_change_a_password_or_reactivate(key_client, member, analyst) -> None:
    gone = UserFactory(username="gone", member=member, member_role="analyst", is_active=False)
    client, _, _ = key_client(ALL_SCOPES)
    body = {"role": "analyst", "password": PASSWORD, "is_active": True}
    for person in (analyst, gone):
        response = client.patch(f"/api/v1/users/{person.pk}/", body, format="json")
        # Refused, not silently ignored: the client must not believe the password or activity changed.
        assert_problem(response, 400, "validation_error")
        assert set(response.json()["errors"]) == {"password", "is_active"}
        person.refresh_from_db()
        assert not person.check_password(PASSWORD)
    assert gone.is_active is False
    # Nor by adding the deactivated person again.
    again = {"username": "gone", "email": "g@own.example", "role": "analyst"}
    assert_problem(client.post("/api/v1/users/", again, format="json"), 400, "duplicate_username")
    assert User.objects.get(pk=gone.pk).is_active is False
    assert "_auth_user_id" not in _portal_login("gone", "demo-pass-2026").session


@pytest.mark.parametrize("scopes", [["read"], ["request"], ["manage"], ALL_SCOPES])
def test_no_key_creates_a_key(key_client, scopes) -> None:
    client, _, _ = key_client(scopes)
    before = MemberAPIKey.objects.count()
    response = client.post("/api/v1/api-keys/", {"name": "wider", "scopes": ALL_SCOPES}, format="json")
    assert response.status_code == 403
    assert MemberAPIKey.objects.count() == before


# --- A read key writes nothing ----------------------------------------------------------------------------


def _write_operations() -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"post", "put", "patch", "delete"}
    }


# Applying for membership is open to anyone, with or without credentials: it is no power of a key.
PUBLIC_WRITES = {("POST", "/api/v1/members/")}


@dataclass
class ReadKeyWrites:
    """A read-only key of the own member, and every write operation of the API (but the public one) as the
    path to try it on, on real objects the key's member may see."""

    client: APIClient
    key: MemberAPIKey
    paths: dict[tuple[str, str], str]
    grant: Grant  # the key's member is its grantee: a key with the request scope downloads under it
    unrequested: Dataset  # another member's open dataset the own member has not requested
    parent: int  # another member, to name as a parent


@pytest.fixture
def read_key_writes(key_client, member, data_steward, analyst, other_steward, other_analyst) -> ReadKeyWrites:
    own = published(data_steward, tier="restricted")
    theirs = published(other_steward, tier="open")
    grant = request_access(analyst, theirs).grant
    mine = request_access(analyst, published(other_steward, tier="restricted"))  # the member's own request
    incoming = request_access(other_analyst, own)  # a request to the member's dataset
    unrequested = published(other_steward, tier="open")
    client, key, _ = key_client(["read"])
    paths = {
        ("POST", "/api/v1/access-requests/"): "/api/v1/access-requests/",
        ("POST", "/api/v1/access-requests/{id}/approve/"): f"/api/v1/access-requests/{incoming.pk}/approve/",
        ("POST", "/api/v1/access-requests/{id}/reject/"): f"/api/v1/access-requests/{incoming.pk}/reject/",
        ("POST", "/api/v1/access-requests/{id}/withdraw/"): f"/api/v1/access-requests/{mine.pk}/withdraw/",
        ("POST", "/api/v1/api-keys/"): "/api/v1/api-keys/",
        ("POST", "/api/v1/api-keys/{prefix}/revoke/"): f"/api/v1/api-keys/{key.prefix}/revoke/",
        ("POST", "/api/v1/credit/adjustments/"): "/api/v1/credit/adjustments/",
        ("POST", "/api/v1/credit/adjustments/{id}/approve/"): "/api/v1/credit/adjustments/1/approve/",
        ("POST", "/api/v1/credit/adjustments/{id}/withdraw/"): "/api/v1/credit/adjustments/1/withdraw/",
        ("POST", "/api/v1/credit/affiliation-claims/{id}/accept/"): (
            "/api/v1/credit/affiliation-claims/1/accept/"
        ),
        ("POST", "/api/v1/credit/affiliation-claims/{id}/decline/"): (
            "/api/v1/credit/affiliation-claims/1/decline/"
        ),
        ("POST", "/api/v1/credit/affiliations/"): "/api/v1/credit/affiliations/",
        ("POST", "/api/v1/credit/affiliations/declare/"): "/api/v1/credit/affiliations/declare/",
        ("POST", "/api/v1/credit/held-mints/{id}/resolve/"): "/api/v1/credit/held-mints/1/resolve/",
        ("POST", "/api/v1/datasets/"): "/api/v1/datasets/",
        ("PUT", "/api/v1/datasets/{id}/policy/"): f"/api/v1/datasets/{own.pk}/policy/",
        ("POST", "/api/v1/datasets/{id}/versions/"): f"/api/v1/datasets/{own.pk}/versions/",
        ("POST", "/api/v1/datasets/{id}/versions/{number}/withdraw/"): (
            f"/api/v1/datasets/{own.pk}/versions/1/withdraw/"
        ),
        ("POST", "/api/v1/datasets/{id}/withdraw/"): f"/api/v1/datasets/{own.pk}/withdraw/",
        ("POST", "/api/v1/grants/{id}/download/"): f"/api/v1/grants/{grant.pk}/download/",
        ("POST", "/api/v1/grants/{id}/revoke/"): f"/api/v1/grants/{grant.pk}/revoke/",
        ("PATCH", "/api/v1/members/{id}/"): f"/api/v1/members/{member.pk}/",
        ("POST", "/api/v1/members/{id}/admit/"): f"/api/v1/members/{member.pk}/admit/",
        ("POST", "/api/v1/members/{id}/decline/"): f"/api/v1/members/{member.pk}/decline/",
        ("POST", "/api/v1/members/{id}/reinstate/"): f"/api/v1/members/{member.pk}/reinstate/",
        ("POST", "/api/v1/members/{id}/suspend/"): f"/api/v1/members/{member.pk}/suspend/",
        ("POST", "/api/v1/members/{id}/withdraw/"): f"/api/v1/members/{member.pk}/withdraw/",
        ("POST", "/api/v1/users/"): "/api/v1/users/",
        ("PATCH", "/api/v1/users/{id}/"): f"/api/v1/users/{analyst.pk}/",
        ("POST", "/api/v1/users/{id}/deactivate/"): f"/api/v1/users/{analyst.pk}/deactivate/",
    }
    assert set(paths) == _write_operations() - PUBLIC_WRITES, "a new write operation: add it here"
    return ReadKeyWrites(client, key, paths, grant, unrequested, theirs.owner_id)


def test_a_read_key_changes_nothing_anywhere(read_key_writes, key_client) -> None:
    """Every write operation of the API, tried with a read-only key on real objects its member may see."""
    writes = read_key_writes
    bodies: dict[tuple[str, str], dict] = {
        ("POST", "/api/v1/access-requests/"): {
            "dataset": writes.unrequested.pk,
            "purpose": "research",
            "justification": "J",
            "duration_days": 30,
            "accepted_terms_version": 1,
        },
        ("POST", "/api/v1/access-requests/{id}/reject/"): {"reason": "No."},
        ("POST", "/api/v1/api-keys/"): {"name": "wider", "scopes": ALL_SCOPES},
        ("POST", "/api/v1/credit/affiliations/"): {"member": writes.key.member_id, "parent": writes.parent},
        ("POST", "/api/v1/credit/affiliations/declare/"): {"parent": writes.parent},
        ("POST", "/api/v1/datasets/"): {
            "title": "T",
            "description": "D",
            "keywords": ["k"],
            "sector": "C",
            "data_domain": "production",
            "licence": "CC-BY-4.0",
            "contact_name": "Z",
            "contact_email": "z@own.example",
            "grade": 1,
        },
        ("PUT", "/api/v1/datasets/{id}/policy/"): {"tier": "open", "purposes": ["research"], "terms": "T"},
        ("POST", "/api/v1/datasets/{id}/versions/"): {
            "file": SimpleUploadedFile("v2.csv", b"a,b\n", content_type="text/csv")
        },
        ("POST", "/api/v1/datasets/{id}/versions/{number}/withdraw/"): {"reason": "Wrong."},
        ("POST", "/api/v1/datasets/{id}/withdraw/"): {"reason": "Old."},
        ("POST", "/api/v1/grants/{id}/revoke/"): {"reason": "No."},
        ("PATCH", "/api/v1/members/{id}/"): {"contact_email": "key@own.example"},
        ("POST", "/api/v1/members/{id}/decline/"): {"reason": "R"},
        ("POST", "/api/v1/members/{id}/reinstate/"): {"reason": "R"},
        ("POST", "/api/v1/members/{id}/suspend/"): {"reason": "R"},
        ("POST", "/api/v1/members/{id}/withdraw/"): {"reason": "R"},
        ("POST", "/api/v1/users/"): {"username": "x", "email": "x@own.example", "role": "analyst"},
        ("PATCH", "/api/v1/users/{id}/"): {"role": "data_steward"},
    }
    assert set(bodies) <= set(writes.paths), "a body for no operation: its operation is sent {}"
    entries = LedgerEntry.objects.count()
    for (method, template), path in writes.paths.items():
        body = bodies.get((method, template), {})
        kind = "multipart" if "file" in body else "json"
        response = getattr(writes.client, method.lower())(path, body, format=kind)
        assert response.status_code in (403, 404), (method, path, response.status_code, response.content)
    assert LedgerEntry.objects.count() == entries
    writes.key.refresh_from_db()
    assert not writes.key.revoked
    # The control: the same grant downloads with a key that has the request scope.
    request_key, _, _ = key_client(["request"])
    assert request_key.post(f"/api/v1/grants/{writes.grant.pk}/download/").status_code == 200


# --- Refused before its body is read ----------------------------------------------------------------------

# What every write operation answers a read-only key, whatever the body: the scope the key lacks where that
# is all that is missing, the role's refusal where no scope would do, not found where the key may not see the
# object. Never 400: a caller that may not act is not told how to fix a body it may not send.
READ_KEY_REFUSALS = {
    ("POST", "/api/v1/access-requests/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/access-requests/{id}/approve/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/access-requests/{id}/reject/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/access-requests/{id}/withdraw/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/api-keys/"): (403, "permission_denied"),
    ("POST", "/api/v1/api-keys/{prefix}/revoke/"): (404, "not_found"),
    ("POST", "/api/v1/credit/adjustments/"): (404, "not_found"),
    ("POST", "/api/v1/credit/adjustments/{id}/approve/"): (404, "not_found"),
    ("POST", "/api/v1/credit/adjustments/{id}/withdraw/"): (404, "not_found"),
    ("POST", "/api/v1/credit/affiliation-claims/{id}/accept/"): (404, "not_found"),
    ("POST", "/api/v1/credit/affiliation-claims/{id}/decline/"): (404, "not_found"),
    ("POST", "/api/v1/credit/affiliations/"): (403, "permission_denied"),
    ("POST", "/api/v1/credit/affiliations/declare/"): (403, "permission_denied"),
    ("POST", "/api/v1/credit/held-mints/{id}/resolve/"): (404, "not_found"),
    ("POST", "/api/v1/datasets/"): (403, "insufficient_scope"),
    ("PUT", "/api/v1/datasets/{id}/policy/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/datasets/{id}/versions/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/datasets/{id}/versions/{number}/withdraw/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/datasets/{id}/withdraw/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/grants/{id}/download/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/grants/{id}/revoke/"): (403, "permission_denied"),  # another member's dataset
    ("PATCH", "/api/v1/members/{id}/"): (403, "insufficient_scope"),
    ("POST", "/api/v1/members/{id}/admit/"): (403, "permission_denied"),
    ("POST", "/api/v1/members/{id}/decline/"): (403, "permission_denied"),
    ("POST", "/api/v1/members/{id}/reinstate/"): (403, "permission_denied"),
    ("POST", "/api/v1/members/{id}/suspend/"): (403, "permission_denied"),
    ("POST", "/api/v1/members/{id}/withdraw/"): (403, "permission_denied"),
    ("POST", "/api/v1/users/"): (403, "insufficient_scope"),
    ("PATCH", "/api/v1/users/{id}/"): (404, "not_found"),  # a key without the manage scope sees no people
    ("POST", "/api/v1/users/{id}/deactivate/"): (404, "not_found"),
}
# Wrong for every operation that reads a body: a reason that is no text, every other field missing.
BAD_BODY = {"reason": ["not", "text"]}


def test_a_read_key_is_refused_before_its_body_is_checked(read_key_writes) -> None:
    writes = read_key_writes
    assert set(READ_KEY_REFUSALS) == set(writes.paths)
    entries = LedgerEntry.objects.count()
    for operation, path in writes.paths.items():
        # A version that is no number, for the download (its one input, in the query string).
        response = getattr(writes.client, operation[0].lower())(f"{path}?version=x", BAD_BODY, format="json")
        status, code = READ_KEY_REFUSALS[operation]
        assert (response.status_code, response.json().get("code")) == (status, code), (
            operation,
            response.content,
        )
        problem = assert_problem(response, status, code)  # the one problem shape, whatever refused it
        if code == "insufficient_scope":
            assert problem["key_scopes"] == ["read"]
    assert LedgerEntry.objects.count() == entries


# --- A key refused for want of the manage scope is told so ------------------------------------------------

NEWCOMER = {"username": "newbie", "email": "n@own.example", "role": "analyst"}
ROLE_WORDS = "Only the member's admin may manage its people."


@pytest.mark.parametrize("person", [NEWCOMER, {}, BAD_BODY], ids=["complete", "empty", "bad"])
@pytest.mark.parametrize("scopes", [["read"], ["request"], ["read", "request"]])
def test_a_key_without_the_manage_scope_that_adds_a_person_is_told_it_needs_it(
    key_client, scopes, person
) -> None:
    # Once "Only the member's admin may manage its people." (permission_denied): it blamed a role the
    # partner system has no way to hold, when a key with the manage scope may add people. And once 400 for
    # a body missing a field, before the scope was looked at.
    client, _, _ = key_client(scopes)
    before = _writes()
    response = client.post("/api/v1/users/", person, format="json")
    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == "manage"
    assert body["key_scopes"] == sorted(scopes)
    assert "lacks the 'manage' scope" in body["detail"]
    assert _writes() == before


def test_only_the_missing_scope_is_named(client_for, key_client, analyst) -> None:
    """The key's scope where it is all that is missing; the old refusal where a role is, or where no scope
    would help."""
    client, key, _ = key_client(["request"])
    manager, managing_key, _ = key_client(["manage"])
    before = _writes()
    response = client.post("/api/v1/users/", NEWCOMER, format="json")
    assert assert_problem(response, 403, "insufficient_scope")["required_scope"] == "manage"

    # A person without the role: the role's words, as before.
    response = client_for(analyst).post("/api/v1/users/", NEWCOMER, format="json")
    assert assert_problem(response, 403, "permission_denied")["detail"] == ROLE_WORDS
    # The one person a key without the manage scope sees is its own system user, which no key manages
    # (a key with the manage scope is told "This account is not managed here."): no scope is named.
    own = key.system_user_id
    response = client.patch(f"/api/v1/users/{own}/", {"role": "analyst"}, format="json")
    assert assert_problem(response, 403, "permission_denied")["detail"] == ROLE_WORDS
    response = client.post(f"/api/v1/users/{own}/deactivate/")
    assert assert_problem(response, 403, "permission_denied")["detail"] == ROLE_WORDS
    response = manager.post(f"/api/v1/users/{managing_key.system_user_id}/deactivate/")
    assert assert_problem(response, 403, "permission_denied")["detail"] == "This account is not managed here."
    # No scope lets a key manage keys.
    response = client.post("/api/v1/api-keys/", {"name": "wider", "scopes": ["read"]}, format="json")
    assert_problem(response, 403, "permission_denied")
    assert _writes() == before
