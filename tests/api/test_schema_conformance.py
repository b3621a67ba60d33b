"""Answers that fuzzing the API against its own OpenAPI schema found undocumented: each status and body below
is now what the schema says, checked against the schema the server serves."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from exchange import policies
from exchange.models import Grade
from ledger.canonical import MAX_SAFE_INTEGER
from tests.api.test_problems import APPLICATION, assert_problem
from tests.exchange.support import REQUEST_TERMS, published, register

pytestmark = pytest.mark.django_db

_UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def assert_documented(openapi: dict[str, Any], response: Any, method: str, path: str) -> None:
    """`response` to `method path` (a path template of the schema) has a documented status, media type and
    body."""
    documented = openapi["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path}: {status} is not documented ({sorted(documented)})"
    media_type = response["Content-Type"].split(";")[0]
    content = documented[status].get("content", {})
    assert media_type in content, f"{method.upper()} {path} {status}: {media_type} not in {sorted(content)}"
    schema = {**content[media_type]["schema"], "components": openapi["components"]}
    OAS30ReadValidator(schema, format_checker=oas30_format_checker).validate(response.json())


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in openapi["paths"].items() for method, op in ops.items()]


def _public(operation: dict[str, Any]) -> bool:
    """Whether anyone may call the operation: drf-spectacular marks AllowAny with an empty security entry."""
    return {} in operation.get("security", [])


def test_every_authenticated_operation_documents_its_problem_responses(openapi) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in _operations(openapi):
        responses = operation["responses"]
        if not _public(operation):
            assert {"401", "403", "404", "429"} <= set(responses), (method, path)
            if method in _UNSAFE:
                assert {"400", "404", "409"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith("4"):
                assert response["content"] == {"application/problem+json": {"schema": problem}}, (
                    path,
                    status,
                )


# --- public operations ------------------------------------------------------------------------------------


def test_public_operations_document_only_the_refusals_they_can_give(openapi) -> None:
    """An operation anyone may call refuses nobody for want of credentials or a role: no 403 (but a session's
    missing CSRF token, on a POST) and no 404 for what the caller may not see. A bad API key is still
    refused (401) wherever keys are read; health reads none."""
    public = {
        (method, path): set(operation["responses"])
        for method, path, operation in _operations(openapi)
        if _public(operation)
    }
    # 406 everywhere: an Accept header none of the renderers meets (tests/api/test_not_acceptable.py).
    assert public == {
        ("get", "/health/"): {"200", "406", "503"},
        ("get", "/api/v1/health/"): {"200", "406", "503"},
        ("get", "/api/v1/clusters/"): {"200", "400", "401", "404", "406", "429"},  # 404: a page past the last
        ("post", "/api/v1/members/"): {"201", "400", "401", "403", "406", "409", "413", "415", "429"},
    }
    for method, path, operation in _operations(openapi):
        if _public(operation) and "401" in operation["responses"]:
            assert "API key" in operation["responses"]["401"]["description"], (method, path)
            assert "No credentials" not in operation["responses"]["401"]["description"], (method, path)


def test_a_public_operation_refuses_a_bad_key_as_documented(openapi, api_client) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key nokey.notasecret")
    for method, path in (("get", "/api/v1/clusters/"), ("post", "/api/v1/members/")):
        response = (
            api_client.post(path, APPLICATION, format="json") if method == "post" else api_client.get(path)
        )
        assert response.status_code == 401
        assert_documented(openapi, response, method, path)


def test_an_application_from_a_session_without_its_csrf_token_is_refused_as_documented(
    openapi, analyst
) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(analyst)
    response = client.post("/api/v1/members/", APPLICATION, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert_documented(openapi, response, "post", "/api/v1/members/")


def test_an_upload_documents_its_size_limit(openapi) -> None:
    assert "413" in openapi["paths"]["/api/v1/datasets/{id}/versions/"]["post"]["responses"]


def test_a_body_over_the_limit_is_refused_as_documented(openapi, client_for, analyst, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for(analyst).post(
        "/api/v1/access-requests/", {"dataset": 1, "justification": "x" * 2000}, format="json"
    )
    assert response.status_code == 413
    assert_documented(openapi, response, "post", "/api/v1/access-requests/")


def test_health_documents_degraded(openapi) -> None:
    assert "503" in openapi["paths"]["/api/v1/health/"]["get"]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "url", "who"),
    [
        ("get", "/api/v1/users/", "/api/v1/users/", "anonymous"),
        ("get", "/api/v1/members/{id}/", "/api/v1/members/999999/", "officer"),
        ("get", "/api/v1/members/", "/api/v1/members/?page=99", "officer"),
        ("post", "/api/v1/members/", "/api/v1/members/", "anonymous"),
        ("post", "/api/v1/users/", "/api/v1/users/", "analyst"),
        ("get", "/api/v1/access-requests/", "/api/v1/access-requests/?dataset=0", "analyst"),
        ("get", "/api/v1/credit/totals/", "/api/v1/credit/totals/", "analyst"),
    ],
)
def test_problem_answers_are_documented(
    openapi, client_for, officer, analyst, method, path, url, who
) -> None:
    user = {"anonymous": None, "officer": officer, "analyst": analyst}[who]
    client = client_for(user)
    response = client.post(url, {}, format="json") if method == "post" else client.get(url)
    assert response.status_code >= 400
    assert_documented(openapi, response, method, path)


def test_a_conflict_is_documented(openapi, client_for, officer) -> None:
    from tests.factories import MemberFactory

    member = MemberFactory(status="withdrawn")
    response = client_for(officer).post(f"/api/v1/members/{member.pk}/admit/", {"reason": "r"}, format="json")
    assert response.status_code == 409
    assert_documented(openapi, response, "post", "/api/v1/members/{id}/admit/")


def test_a_refusal_with_extension_members_is_documented(
    openapi, client_for, data_steward, other_analyst
) -> None:
    """The Problem component types the extension members: `reasons` of an access decision, a grant's times."""
    from datetime import timedelta

    from django.utils import timezone

    from exchange.models import Grant
    from tests.exchange.support import published

    dataset = published(data_steward, tier="restricted", download_quota=1)
    body = {"dataset": dataset.pk, "justification": "j", "duration_days": 30, "accepted_terms_version": 1}
    refused = client_for(other_analyst).post(
        "/api/v1/access-requests/", {**body, "purpose": "no-such-purpose", "duration_days": 0}, format="json"
    )
    assert refused.status_code == 400 and len(refused.json()["reasons"]) == 2
    assert_documented(openapi, refused, "post", "/api/v1/access-requests/")
    request_id = (
        client_for(other_analyst)
        .post("/api/v1/access-requests/", {**body, "purpose": "research"}, format="json")
        .json()["request"]["id"]
    )
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    grant = Grant.objects.get(request_id=request_id)
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=timezone.now() - timedelta(days=40), valid_until=timezone.now() - timedelta(days=1)
    )
    expired = client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/")
    assert expired.status_code == 409 and "valid_until" in expired.json()
    assert_documented(openapi, expired, "post", "/api/v1/grants/{id}/download/")


def test_an_id_filter_documents_its_bounds(openapi) -> None:
    (dataset,) = [
        p for p in openapi["paths"]["/api/v1/grants/"]["get"]["parameters"] if p["name"] == "dataset"
    ]
    assert dataset["schema"]["minimum"] == 1


# --- success bodies the schema described wrongly -----------------------------------------------------------


def test_an_api_keys_system_user_has_no_email(openapi, key_client) -> None:
    client, _, _ = key_client(["read"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == ""
    assert_documented(openapi, response, "get", "/api/v1/me/")


def test_a_request_not_granted_has_a_null_grant(openapi, data_steward, other_analyst, client_for) -> None:
    from tests.exchange.support import published, request_access

    request = request_access(other_analyst, published(data_steward, tier="restricted"))
    response = client_for(other_analyst).get("/api/v1/access-requests/")
    assert [row["grant"] for row in response.json()["results"] if row["id"] == request.pk] == [None]
    assert_documented(openapi, response, "get", "/api/v1/access-requests/")
    detail = client_for(other_analyst).get(f"/api/v1/access-requests/{request.pk}/")
    assert_documented(openapi, detail, "get", "/api/v1/access-requests/{id}/")


def test_a_dataset_without_a_policy_has_a_null_tier(openapi, data_steward, client_for) -> None:
    from tests.exchange.support import register

    dataset = register(data_steward)
    response = client_for(data_steward).get(f"/api/v1/datasets/{dataset.pk}/")
    assert response.json()["tier"] is None
    assert_documented(openapi, response, "get", "/api/v1/datasets/{id}/")


def test_an_application_is_documented(openapi, api_client) -> None:
    response = api_client.post("/api/v1/members/", APPLICATION, format="json")
    assert response.status_code == 201
    assert_documented(openapi, response, "post", "/api/v1/members/")


def test_a_members_first_step_has_no_from_status(openapi, client_for, officer, api_client) -> None:
    member_id = api_client.post("/api/v1/members/", APPLICATION, format="json").json()["id"]
    response = client_for(officer).get(f"/api/v1/members/{member_id}/history/")
    assert response.json()[0]["from_status"] == ""
    assert_documented(openapi, response, "get", "/api/v1/members/{id}/history/")


def test_every_string_path_parameter_shows_the_pattern_its_route_takes(openapi) -> None:
    """A path parameter declared by hand replaces the one drf-spectacular reads off the route's regex: the
    epochs and held mints showed any string, so a client (or a fuzzer) built from the schema mostly asked
    for paths with no route."""
    import re

    patterns = {}
    for method, path, operation in _operations(openapi):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"]["type"] == "string":
                assert "pattern" in parameter["schema"], (method, path, parameter["name"])
                patterns[(path, parameter["name"])] = parameter["schema"]["pattern"]
    epoch = patterns[("/api/v1/credit/statements/{epoch}/csv/", "epoch")]
    held_mint = patterns[("/api/v1/credit/held-mints/{id}/resolve/", "id")]
    assert patterns[("/api/v1/credit/leaderboard/{epoch}/", "epoch")] == epoch
    assert [bool(re.match(epoch, x)) for x in ("2026-11", "2026-1", "2026-11:5")] == [True, False, False]
    assert [bool(re.match(held_mint, x)) for x in ("2026-11:5", "2026-11", "5")] == [True, False, False]


def test_a_transition_that_needs_a_reason_documents_it_as_required(openapi, client_for, officer) -> None:
    """The schema showed every transition's reason as optional, with a default: declining, suspending,
    reinstating and withdrawing a member, rejecting a request, withdrawing a dataset or a version and
    revoking a grant without one is 400 reason_required, as the schema now says; the others need none."""
    from tests.factories import MemberFactory

    required = {}
    for _method, path, operation in _operations(openapi):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        schema = openapi["components"]["schemas"][body["schema"]["$ref"].split("/")[-1]] if body else {}
        if "reason" in schema.get("properties", {}):
            required[path.removeprefix("/api/v1/")] = "reason" in schema.get("required", [])
    assert {path for path, needed in required.items() if needed} == {
        "members/{id}/decline/",
        "members/{id}/suspend/",
        "members/{id}/reinstate/",
        "members/{id}/withdraw/",
        "access-requests/{id}/reject/",
        "datasets/{id}/withdraw/",
        "datasets/{id}/versions/{number}/withdraw/",
        "grants/{id}/revoke/",
        "credit/adjustments/",  # these two: the service's reason_required, as for the others
        "credit/held-mints/{id}/resolve/",
    }
    assert {path for path, needed in required.items() if not needed} == {
        "members/{id}/admit/",
        "access-requests/{id}/approve/",
        "access-requests/{id}/withdraw/",
    }
    client = client_for(officer)
    applied = MemberFactory(status="applied")
    refused = client.post(f"/api/v1/members/{applied.pk}/decline/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "reason_required"
    assert_documented(openapi, refused, "post", "/api/v1/members/{id}/decline/")
    admitted = client.post(f"/api/v1/members/{applied.pk}/admit/", {}, format="json")
    assert admitted.status_code == 200
    assert_documented(openapi, admitted, "post", "/api/v1/members/{id}/admit/")


# --- bounds the services set ------------------------------------------------------------------------------

# Body integers that a service accepts in a narrower range than their field reads, refusing the rest with a
# code of its own: the range, by schema component and field.
SERVICE_RANGES = {
    ("DatasetRegisterRequest", "grade"): (min(Grade.values), max(Grade.values)),
    ("PolicySetRequest", "max_duration_days"): (policies.MIN_DURATION_DAYS, policies.MAX_DURATION_DAYS),
    ("PolicySetRequest", "download_quota"): (0, policies.MAX_DOWNLOAD_QUOTA),
    ("PolicySetRequest", "price_credits"): (0, policies.MAX_PRICE_CREDITS),
    ("AccessRequestSubmitRequest", "duration_days"): (policies.MIN_DURATION_DAYS, policies.MAX_DURATION_DAYS),
    ("AdjustmentProposeRequest", "amount_mcr"): (-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),  # bad_amount
}
# Bodies the services accept, but for the field under test.
_DATASET = {
    "title": "Derived",
    "description": "d",
    "sector": "C",
    "data_domain": "production",
    "licence": "CC-BY-4.0",
    "contact_name": "Z",
    "contact_email": "z@own.example",
}
_POLICY = {"tier": "restricted", "purposes": ["research"], "terms": "T"}


@pytest.mark.parametrize(("component", "field"), sorted(SERVICE_RANGES))
def test_a_body_integer_documents_the_range_its_service_accepts(openapi, component, field) -> None:
    """The schema showed the field's own bounds: -2**63 to 2**63 - 1, up to 36500 days, 2**31 - 1 credits."""
    schema = openapi["components"]["schemas"][component]["properties"][field]
    assert (schema["minimum"], schema["maximum"]) == SERVICE_RANGES[component, field]


@pytest.mark.parametrize(
    ("component", "field", "end", "code"),
    [
        ("DatasetRegisterRequest", "grade", "below", "unknown_grade"),
        ("DatasetRegisterRequest", "grade", "above", "unknown_grade"),
        ("PolicySetRequest", "max_duration_days", "below", "duration_invalid"),
        ("PolicySetRequest", "max_duration_days", "above", "duration_over_grade_limit"),
        ("PolicySetRequest", "download_quota", "below", "quota_required"),  # restricted; confidential's: 0
        ("PolicySetRequest", "download_quota", "above", "quota_too_large"),
        ("PolicySetRequest", "price_credits", "below", "negative_price"),
        ("PolicySetRequest", "price_credits", "above", "price_out_of_range"),
        ("AccessRequestSubmitRequest", "duration_days", "below", "duration_invalid"),
        ("AccessRequestSubmitRequest", "duration_days", "above", "duration_over_max"),
    ],
)
def test_a_value_just_outside_that_range_is_the_services_refusal(
    openapi, client_for, data_steward, other_analyst, component, field, end, code
) -> None:
    """The field does not refuse it first: the answer keeps the service's code, as documented."""
    lowest, highest = SERVICE_RANGES[component, field]
    value = lowest - 1 if end == "below" else highest + 1
    if component == "DatasetRegisterRequest":
        method, path, url = "post", "/api/v1/datasets/", "/api/v1/datasets/"
        client, body = client_for(data_steward), {**_DATASET, field: value}
    elif component == "PolicySetRequest":
        dataset = register(data_steward, grade=1)  # the grade of the longest grants
        method, path, url = "put", "/api/v1/datasets/{id}/policy/", f"/api/v1/datasets/{dataset.pk}/policy/"
        client, body = client_for(data_steward), {**_POLICY, field: value}
    else:
        dataset = published(data_steward, tier="open")
        method, path, url = "post", "/api/v1/access-requests/", "/api/v1/access-requests/"
        client, body = client_for(other_analyst), {"dataset": dataset.pk, **REQUEST_TERMS, field: value}
    response = getattr(client, method)(url, body, format="json")
    assert_problem(response, 400, code)
    assert_documented(openapi, response, method, path)


def test_the_ends_of_those_ranges_are_accepted(client_for, data_steward) -> None:
    client = client_for(data_steward)
    for grade in SERVICE_RANGES["DatasetRegisterRequest", "grade"]:
        assert (
            client.post("/api/v1/datasets/", {**_DATASET, "grade": grade}, format="json").status_code == 201
        )
    highest = {
        field: high
        for (component, field), (_, high) in SERVICE_RANGES.items()
        if component == "PolicySetRequest"
    }
    dataset = register(data_steward, grade=1)
    response = client.put(f"/api/v1/datasets/{dataset.pk}/policy/", {**_POLICY, **highest}, format="json")
    assert response.status_code == 200, response.content
