"""A query string with more parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS is refused in its own words, on
the API and the portal, with DEBUG off and on; and a bad request the portal refuses gets a page of its own,
not Django's bare "Bad Request (400)"."""

from __future__ import annotations

import html

import pytest

from tests.api.test_problems import assert_problem

pytestmark = pytest.mark.django_db

TOO_MANY = "&".join(f"p{index}=1" for index in range(20))


@pytest.fixture
def limit(settings) -> int:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    return 10


@pytest.mark.parametrize("debug", [False, True])
def test_an_api_query_with_too_many_parameters_says_it_is_the_query(
    client_for, analyst, limit, settings, debug
) -> None:
    settings.DEBUG = debug
    body = assert_problem(client_for(analyst).get(f"/api/v1/datasets/?{TOO_MANY}"), 400, "too_many_fields")
    assert body["title"] == "The query string has too many parameters"
    assert body["detail"] == "The query string has more than 10 parameters."
    assert body["limit"] == 10


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_page_asked_with_too_many_parameters_says_so(client, limit, settings, debug, method) -> None:
    # With DEBUG on, Django's own error page read the query again and failed: the server answered
    # "A server error occurred".
    settings.DEBUG = debug
    response = getattr(client, method)(f"/login/?{TOO_MANY}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = html.unescape(response.content.decode())
    assert "The address has more than 10 query parameters" in page
    assert response["Content-Security-Policy"] and response["X-Frame-Options"] == "DENY"


def test_a_form_body_with_too_many_fields_is_still_called_a_form(client_for, member_admin, limit) -> None:
    response = client_for(member_admin).post(
        "/api/v1/users/", data=TOO_MANY, content_type="application/x-www-form-urlencoded"
    )
    body = assert_problem(response, 400, "too_many_fields")
    assert body["title"] == "The form has too many fields"


def test_a_refused_query_is_logged_as_a_security_event(client, limit, caplog) -> None:
    with caplog.at_level("ERROR", logger="django.security"):
        assert client.get(f"/login/?{TOO_MANY}").status_code == 400
    assert [r.name for r in caplog.records if r.name.startswith("django.security")] == [
        "django.security.TooManyFieldsSent"
    ]


def test_any_other_bad_request_gets_the_portals_page(client) -> None:
    # A Host header not in ALLOWED_HOSTS: Django's answer was a bare "Bad Request (400)".
    response = client.get("/login/", HTTP_HOST="unknown.example")
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Bad request" in page and "Nothing was changed." in page
