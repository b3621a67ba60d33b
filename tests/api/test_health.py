"""The health endpoint reports the database and the broker: eager in the embedded default, real otherwise."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/", "/api/v1/health/"])
def test_health_reports_database_and_broker(api_client, path) -> None:
    response = api_client.get(path)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    if settings.CELERY_BROKER_URL:  # CI's second pass: the real Redis must answer
        assert body["broker"]["mode"] == "broker" and body["broker"]["ok"] is True
    else:
        assert body["broker"] == {"ok": True, "mode": "eager"}


def test_health_is_503_when_the_broker_is_unreachable(api_client, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = api_client.get("/health/")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
