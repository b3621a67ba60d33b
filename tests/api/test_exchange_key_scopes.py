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
from tests.api.test_problems import assert_problem
from tests.exchange.support import published, request_access

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
    body = {
        "dataset": dataset.pk,
        "purpose": "research",
        "justification": "x",
        "duration_days": 30,
        "accepted_terms_version": 1,
    }
    response = client.post("/api/v1/access-requests/", body, format="json")
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
