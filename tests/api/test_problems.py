"""One error shape everywhere: RFC 9457 problem details with a stable code; failed requests change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from consortium.models import Member, MemberStatusChange
from ledger.models import LedgerEntry
from tests.exchange.support import published
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

APPLICATION = {
    "legal_name": "Hangzhou Example Software Co., Ltd.",
    "credit_code": "91330100716105852F",
    "size_class": "medium",
    "sector": "I",
    "region": "Zhejiang",
    "contact_name": "Wang Fang",
    "contact_email": "wang.fang@example.cn",
}


def _counts() -> tuple[int, int, int, int]:
    return (
        Member.objects.count(),
        Group.objects.count(),
        MemberStatusChange.objects.count(),
        LedgerEntry.objects.count(),
    )


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:consortium-exchange:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def test_malformed_json(api_client) -> None:
    before = _counts()
    response = api_client.post(
        "/api/v1/members/", data='{"legal_name": "x",', content_type="application/json"
    )
    assert_problem(response, 400, "malformed_request")
    assert _counts() == before


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91330100716105852", "has 18 characters; this one has 17"),
        ("91330100716105852G", "first 17 characters require 'F'"),
        ("9133010071610585IF", "Character 17 ('I') is not allowed"),
    ],
)
def test_invalid_credit_code(api_client, code, message) -> None:
    before = _counts()
    body = assert_problem(
        api_client.post("/api/v1/members/", {**APPLICATION, "credit_code": code}, format="json"),
        400,
        "invalid_credit_code",
    )
    assert message in body["detail"]
    assert message in body["errors"]["credit_code"][0]
    assert _counts() == before


def test_duplicate_credit_code(api_client) -> None:
    MemberFactory(credit_code="91330100716105852F")
    before = _counts()
    body = assert_problem(
        api_client.post("/api/v1/members/", APPLICATION, format="json"), 400, "duplicate_credit_code"
    )
    assert "91330100716105852F" in body["detail"]
    assert _counts() == before


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("sector", "Z", "unknown_sector"),
        ("size_class", "huge", "unknown_size_class"),
        ("clusters", ["atlantis"], "unknown_cluster"),
        ("contact_email", "not-an-address", "invalid_email"),
    ],
)
def test_unknown_values(api_client, field, value, code) -> None:
    before = _counts()
    body = assert_problem(
        api_client.post("/api/v1/members/", {**APPLICATION, field: value}, format="json"), 400, code
    )
    assert body["errors"]
    assert _counts() == before


def test_missing_fields_are_listed(api_client) -> None:
    body = assert_problem(api_client.post("/api/v1/members/", {}, format="json"), 400, "required")
    assert {"legal_name", "credit_code", "sector", "contact_email"} <= set(body["errors"])


def test_not_found(client_for, officer) -> None:
    assert_problem(client_for(officer).get("/api/v1/members/999999/"), 404, "not_found")
    assert_problem(client_for(officer).get("/api/v1/no-such-endpoint/"), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_an_unknown_path_is_not_found_whatever_the_method(key_client, method) -> None:
    # Found by fuzzing: CSRF checks (on, as in a real client) answered these with Django's HTML 403 page.
    client, _, _ = key_client(["read"])
    client.handler.enforce_csrf_checks = True
    assert_problem(getattr(client, method)("/api/v1/users/not-an-id/", {}, format="json"), 404, "not_found")
    assert_problem(getattr(client, method)("/api/v1/no-such-endpoint/"), 404, "not_found")


def test_method_not_allowed(client_for, officer, member) -> None:
    before = _counts()
    assert_problem(client_for(officer).delete(f"/api/v1/members/{member.pk}/"), 405, "method_not_allowed")
    assert_problem(
        client_for(officer).put(f"/api/v1/users/{officer.pk}/", {}, format="json"), 405, "method_not_allowed"
    )
    assert _counts() == before


def test_unauthenticated(api_client) -> None:
    response = api_client.get("/api/v1/users/")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_conflict_carries_current_state(client_for, officer) -> None:
    member = MemberFactory(status="withdrawn")
    body = assert_problem(
        client_for(officer).post(f"/api/v1/members/{member.pk}/admit/", {}, format="json"),
        409,
        "illegal_transition",
    )
    assert body["current_state"] == "withdrawn"


def test_application_throttle(api_client, settings) -> None:
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "member_apply": "2/hour"}
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        for _ in range(2):
            api_client.post("/api/v1/members/", {}, format="json")
        assert_problem(api_client.post("/api/v1/members/", APPLICATION, format="json"), 429, "throttled")
    finally:
        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert not Member.objects.exists()


# --- Problem bodies whatever the request accepts --------------------------------------------------------


@pytest.mark.parametrize(
    "negotiation", [{"HTTP_ACCEPT": "text/html"}, {"HTTP_ACCEPT": "text/html,*/*;q=0.8"}, {"format": "api"}]
)
def test_a_refusal_is_a_problem_body_even_where_the_browsable_api_would_render(
    api_client, negotiation
) -> None:
    # Once the browsable API's HTML page (10 KB), labelled application/problem+json.
    query = "?format=api" if "format" in negotiation else ""
    headers = {key: value for key, value in negotiation.items() if key != "format"}
    response = api_client.get(f"/api/v1/grants/{query}", **headers)
    assert_problem(response, 401, "not_authenticated")


def test_a_service_refusal_is_a_problem_body_for_a_browser(client_for, analyst) -> None:
    response = client_for(analyst).post(
        "/api/v1/access-requests/", {"dataset": 999999}, format="json", HTTP_ACCEPT="text/html"
    )
    assert_problem(response, 400, "validation_error")
    response = client_for(analyst).post(
        "/api/v1/members/999999/admit/", {}, format="json", HTTP_ACCEPT="text/html"
    )
    assert response.status_code in {403, 404}
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"]


def test_an_unacceptable_accept_still_gets_a_problem_body(client_for, analyst) -> None:
    assert_problem(client_for(analyst).get("/api/v1/grants/", HTTP_ACCEPT="text/csv"), 406, "not_acceptable")


def test_the_browsable_api_stays_for_answers_that_succeed(client_for, analyst) -> None:
    response = client_for(analyst).get("/api/v1/grants/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


# --- a session's write without its CSRF token ------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "short", "x" * 64])
def test_a_session_write_without_a_valid_csrf_token_says_what_to_send(member_admin, token) -> None:
    # Once the generic permission_denied: a client could not tell it from a role that is not allowed.
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member_admin)
    client.get("/")  # a browser holds the csrftoken cookie from a portal page
    headers = {} if token is None else {"HTTP_X_CSRFTOKEN": token}
    body = assert_problem(
        client.post("/api/v1/api-keys/", {"name": "nocsrf", "scopes": ["read"]}, format="json", **headers),
        403,
        "csrf_failed",
    )
    assert "X-CSRFToken" in body["detail"] and "API key" in body["detail"]


def test_a_session_write_with_its_csrf_token_passes(member_admin) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member_admin)
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/api-keys/", {"name": "withcsrf", "scopes": ["read"]}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201, response.content


# --- a path without its trailing slash --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", ["/api/v1/access-requests", "/api/v1/members/1", "/api/v1/datasets"])
def test_a_path_without_its_trailing_slash_names_the_one_with_it(key_client, method, path) -> None:
    # Once a bare "No such API endpoint.": the catch-all /api/ route matches first, so APPEND_SLASH never
    # redirects (nor should it: a redirected POST loses its body).
    client, _, _ = key_client(["read"])
    response = (
        getattr(client, method)(f"{path}?page=2", {}, format="json")
        if method == "post"
        else (client.get(f"{path}?page=2"))
    )
    body = assert_problem(response, 404, "not_found")
    assert body["suggested_path"] == f"{path}/?page=2"
    assert f"{path}/" in body["detail"]
    assert not response.has_header("Location")


def test_a_path_with_no_route_with_a_slash_either_gets_no_suggestion(key_client) -> None:
    client, _, _ = key_client(["read"])
    body = assert_problem(client.get("/api/v1/no-such-endpoint"), 404, "not_found")
    assert body["detail"] == "No such API endpoint."
    assert "suggested_path" not in body


def test_an_unknown_format_names_only_a_path_that_serves_it_as_a_file(client_for, data_steward) -> None:
    """`suggested_path` is a GET action of that name answering with its own file (a statement's csv/),
    never a POST-only action or another resource that happens to sit at `<path><format>/`."""
    dataset = published(data_steward, tier="open")
    client = client_for(data_steward)
    for action in ("withdraw", "policy", "versions"):
        body = client.get(f"/api/v1/datasets/{dataset.pk}/", {"format": action}).json()
        assert body["code"] == "unknown_format" and "suggested_path" not in body, action
    # each format once, and the one given without ?format= named as the default
    schema = client.get("/api/schema/", {"format": "xml"}).json()
    assert schema["formats"] == ["yaml", "json"]
    assert "(without format: yaml)" in schema["detail"]
