"""A partner system's key refused for want of a scope is told so: `insufficient_scope` and the scope it needs.

The partner walkthrough's refusals blamed what the partner had: a read-only key of an active member was told
"Only people of an active member may request access.", the grantee's own read-only key "Only the grantee
member's people may download under this grant.", a request-scope key "Only a data steward of an active
member may register datasets.". consortium.roles.require tells the key's scopes apart from the role; a
person's session keeps the role's words.
"""

from __future__ import annotations

import pytest

from exchange.models import AccessRequest, Dataset, Grant
from ledger.models import LedgerEntry
from tests.api.test_api_key_scope_bounds import BAD_BODY
from tests.api.test_problems import assert_problem
from tests.exchange.support import post_request, published, request_access

pytestmark = pytest.mark.django_db

DATASET = {
    "title": "T",
    "description": "d",
    "keywords": [],
    "sector": "C",
    "data_domain": "production",
    "licence": "CC-BY-4.0",
    "contact_name": "a",
    "contact_email": "a@b.cn",
    "grade": 1,
}


def _counts() -> tuple[int, int, int, int]:
    return (
        Dataset.objects.count(),
        AccessRequest.objects.count(),
        Grant.objects.count(),
        LedgerEntry.objects.count(),
    )


def _assert_scope_refusal(response, scope: str, held: list[str]) -> None:
    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == scope
    assert body["key_scopes"] == held
    assert f"lacks the '{scope}' scope" in body["detail"]
    assert "member" not in body["detail"].split(".")[0]  # blames the key, not a membership or role


def test_a_read_key_that_requests_access_is_told_it_needs_the_request_scope(
    key_client, other_steward
) -> None:
    dataset = published(other_steward, tier="open")
    client, _, _ = key_client(["read"])
    before = _counts()
    response = post_request(client, dataset)
    _assert_scope_refusal(response, "request", ["read"])
    assert _counts() == before


def test_the_grantees_read_key_that_downloads_is_told_it_needs_the_request_scope(
    key_client, analyst, other_steward
) -> None:
    grant = Grant.objects.get(request=request_access(analyst, published(other_steward, tier="open")))
    client, _, _ = key_client(["read"])
    before = _counts()
    response = client.post(f"/api/v1/grants/{grant.pk}/download/")
    _assert_scope_refusal(response, "request", ["read"])
    grant.refresh_from_db()
    assert grant.downloads_remaining == grant.download_quota
    assert _counts() == before


def test_a_request_key_that_registers_a_dataset_is_told_it_needs_the_manage_scope(key_client) -> None:
    client, _, _ = key_client(["request"])
    before = _counts()
    response = client.post("/api/v1/datasets/", DATASET, format="json")
    _assert_scope_refusal(response, "manage", ["request"])
    assert _counts() == before


def test_the_owners_request_key_that_decides_is_told_it_needs_the_manage_scope(
    key_client, data_steward, other_analyst
) -> None:
    access_request = request_access(other_analyst, published(data_steward, tier="restricted"))
    client, _, _ = key_client(["read", "request"])
    response = client.post(f"/api/v1/access-requests/{access_request.pk}/approve/", {"reason": "ok"})
    _assert_scope_refusal(response, "manage", ["read", "request"])
    access_request.refresh_from_db()
    assert access_request.state == "pending"


def test_a_key_with_the_scope_is_not_refused(key_client, analyst, other_steward) -> None:
    grant = Grant.objects.get(request=request_access(analyst, published(other_steward, tier="open")))
    client, _, _ = key_client(["request"])
    assert client.post(f"/api/v1/grants/{grant.pk}/download/").status_code == 200
    assert client.post("/api/v1/datasets/", DATASET, format="json").status_code == 403


# A person's session lacks a role, not a scope: the refusal keeps the role's words.
def test_a_persons_refusal_keeps_the_role_words(client_for, analyst) -> None:
    response = client_for(analyst).post("/api/v1/datasets/", DATASET, format="json")
    problem = assert_problem(response, 403, "permission_denied")
    assert problem["detail"] == "Only a data steward of an active member may register datasets."
    assert "required_scope" not in problem


def test_a_staff_session_keeps_the_role_words(client_for, auditor, analyst, other_steward) -> None:
    grant = Grant.objects.get(request=request_access(analyst, published(other_steward, tier="open")))
    response = client_for(auditor).post(f"/api/v1/grants/{grant.pk}/download/")
    problem = assert_problem(response, 403, "permission_denied")
    assert problem["detail"] == "Only the grantee member's people may download under this grant."


def test_another_members_key_is_not_told_a_scope_would_help(key_client, data_steward, other_analyst) -> None:
    """The owner's read key on a grant of another member: no scope lets it download there."""
    grant = Grant.objects.get(request=request_access(other_analyst, published(data_steward, tier="open")))
    client, _, _ = key_client(["read"])
    response = client.post(f"/api/v1/grants/{grant.pk}/download/")
    assert response.json()["code"] in {"permission_denied", "not_found"}


# --- Told before the body is checked ----------------------------------------------------------------------


@pytest.fixture
def manage_actions(data_steward, other_analyst) -> dict[str, tuple[str, str]]:
    """The own member's actions that need the manage scope, each as (method, path), on real objects."""
    own = published(data_steward, tier="open")
    incoming = request_access(other_analyst, published(data_steward, tier="restricted"))
    grant = Grant.objects.get(request=request_access(other_analyst, own))
    return {
        "register": ("post", "/api/v1/datasets/"),
        "set policy": ("put", f"/api/v1/datasets/{own.pk}/policy/"),
        "add version": ("post", f"/api/v1/datasets/{own.pk}/versions/"),
        "withdraw version": ("post", f"/api/v1/datasets/{own.pk}/versions/1/withdraw/"),
        "withdraw dataset": ("post", f"/api/v1/datasets/{own.pk}/withdraw/"),
        "approve": ("post", f"/api/v1/access-requests/{incoming.pk}/approve/"),
        "reject": ("post", f"/api/v1/access-requests/{incoming.pk}/reject/"),
        "revoke": ("post", f"/api/v1/grants/{grant.pk}/revoke/"),
    }


def test_a_key_without_the_manage_scope_is_told_so_before_its_body_is_checked(
    key_client, manage_actions
) -> None:
    """Once 400 for the body first: the partner fixed it, to be refused for the scope after all."""
    client, _, _ = key_client(["read", "request"])
    manager, _, _ = key_client(["manage"])
    before = _counts()
    for name, (method, path) in manage_actions.items():
        response = getattr(client, method)(path, BAD_BODY, format="json")
        assert response.status_code == 403, (name, response.content)
        _assert_scope_refusal(response, "manage", ["read", "request"])
        # The control: the body is one a key that may act is told to fix.
        response = getattr(manager, method)(path, BAD_BODY, format="json")
        assert response.status_code == 400, (name, response.content)
    assert _counts() == before


def test_a_person_without_the_role_is_told_so_before_the_body_is_checked(client_for, analyst) -> None:
    response = client_for(analyst).post("/api/v1/datasets/", BAD_BODY, format="json")
    problem = assert_problem(response, 403, "permission_denied")
    assert problem["detail"] == "Only a data steward of an active member may register datasets."


def test_the_browsable_api_offers_a_form_only_to_a_key_that_may_use_it(key_client) -> None:
    # The refusal reaches DRF's renderer as its own PermissionDenied would: no form, rather than an error.
    for scopes, offered in ((["read"], False), (["manage"], True)):
        client, _, _ = key_client(scopes)
        response = client.get("/api/v1/datasets/?format=api")
        assert response.status_code == 200
        assert ('method="POST"' in response.content.decode()) is offered
