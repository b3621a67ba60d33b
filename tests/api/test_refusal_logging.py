"""A body too large (413) is logged as the client's mistake, at WARNING like every other 4xx: it was an ERROR
with a traceback on django.security.RequestDataTooBig, from Django where it answers (a portal form) and from
the API's problem handler, which logs it as Django would."""

from __future__ import annotations

import logging

import pytest

from tests.api.test_problems import assert_problem

pytestmark = pytest.mark.django_db

LIMIT = 1000


def _too_large(caplog) -> list[logging.LogRecord]:
    records = [record for record in caplog.records if record.name == "django.security.RequestDataTooBig"]
    assert len(records) == 1, records
    return records


def _no_errors(caplog) -> None:
    assert [record.name for record in caplog.records if record.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"dataset": 1, "justification": "%s"}' % ("x" * 2 * LIMIT), "application/json"),
        ("dataset=1&justification=" + "x" * 2 * LIMIT, "application/x-www-form-urlencoded"),
    ],
)
def test_an_api_body_too_large_is_logged_as_a_warning(
    client_for, analyst, settings, caplog, data, content_type
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    with caplog.at_level(logging.DEBUG):
        response = client_for(analyst).post("/api/v1/access-requests/", data=data, content_type=content_type)
    assert_problem(response, 413, "payload_too_large")
    (record,) = _too_large(caplog)
    assert record.levelname == "WARNING" and record.exc_info is None
    _no_errors(caplog)


def test_a_portal_form_too_large_is_logged_as_a_warning(client, settings, caplog) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    with caplog.at_level(logging.DEBUG):
        response = client.post("/login/", {"username": "x" * 2 * LIMIT, "password": "p"})
    assert response.status_code == 413
    (record,) = _too_large(caplog)
    assert record.levelname == "WARNING" and record.exc_info is None
    _no_errors(caplog)


def test_an_operator_who_logs_only_errors_no_longer_sees_it(client_for, analyst, settings, caplog) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    with caplog.at_level(logging.ERROR):
        client_for(analyst).post(
            "/api/v1/access-requests/", {"justification": "x" * 2 * LIMIT}, format="json"
        )
    assert caplog.records == []
