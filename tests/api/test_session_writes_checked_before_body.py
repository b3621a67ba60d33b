"""A portal session's API write is refused for who it is before its body is read, as an API key's is.

Django's CSRF check reads `request.POST` for a form field token before it looks at the X-CSRFToken header,
and on DRF's Request that parsed the whole body: a session that may not act got the body's refusal (400
malformed_request, 415) instead of its 403 or 404, and an operation that takes no body answered 415, which
its schema does not document (found by schema fuzzing with a session).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api.test_problems import assert_problem
from tests.exchange.support import published

pytestmark = pytest.mark.django_db

BAD_BODIES = [("{not json", "application/json"), ("plain words", "text/plain")]


def _session(user) -> tuple[APIClient, dict[str, str]]:
    """A session client that enforces CSRF, and the header that carries its token."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # a browser holds the csrftoken cookie from a portal page
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_a_session_that_may_not_act_is_refused_whatever_its_body(
    data_steward, other_steward, body, content_type
) -> None:
    dataset = published(data_steward, tier="open")
    client, token = _session(other_steward)
    path = f"/api/v1/datasets/{dataset.pk}/withdraw/"
    response = client.post(path, body, content_type=content_type, **token)
    assert_problem(response, 403, "permission_denied")


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_a_session_names_what_it_may_not_see_whatever_its_body(analyst, body, content_type) -> None:
    client, token = _session(analyst)
    response = client.post("/api/v1/users/999999/deactivate/", body, content_type=content_type, **token)
    assert_problem(response, 404, "not_found")


def test_an_operation_without_a_body_ignores_one_sent_in_another_media_type(member_admin, analyst) -> None:
    client, token = _session(member_admin)
    response = client.post(f"/api/v1/users/{analyst.pk}/deactivate/", "x", content_type="text/plain", **token)
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False


def test_a_session_writes_with_a_body_as_before(member_admin) -> None:
    client, token = _session(member_admin)
    malformed = client.post("/api/v1/api-keys/", "{not json", content_type="application/json", **token)
    assert_problem(malformed, 400, "malformed_request")
    made = client.post("/api/v1/api-keys/", {"name": "k", "scopes": ["read"]}, format="json", **token)
    assert made.status_code == 201, made.content
